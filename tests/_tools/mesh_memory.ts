/**
 * An in-memory duplex pair of frame streams for the mesh unit tests: what
 * one end sends, the other reads; aborting one end's writable closes both
 * directions. No sockets. Also a small member table on a fake clock.
 *
 * @module
 */
import type { HandshakeConnection } from "../../mesh/_handshake.ts";
import { type MemberLink, Membership } from "../../mesh/_membership.ts";

/** One end of an in-memory duplex pair of frame streams. */
export interface MemoryEnd extends HandshakeConnection {
  aborted: boolean;
}

/** Two connected ends: the first is the dialer (its peer is 10.0.0.2), the second the acceptor. */
export function duplexPair(): [MemoryEnd, MemoryEnd] {
  const make = (
    inbound: ReadableStream<Uint8Array>,
    outbound: WritableStreamDefaultWriter<Uint8Array>,
    hostname: string,
  ): MemoryEnd => {
    const closed = Promise.withResolvers<void>();
    const end: MemoryEnd = {
      aborted: false,
      readable: inbound,
      writable: new WritableStream({
        abort: () => {
          end.aborted = true;
          outbound.close().catch(() => {});
          inbound.cancel().catch(() => {});
          closed.resolve();
        },
      }),
      closed: closed.promise,
      remoteAddr: { transport: "tcp", hostname, port: 1 },
      send: (frame) => outbound.write(frame.slice()),
    };
    return end;
  };
  const ab = new TransformStream<Uint8Array, Uint8Array>();
  const ba = new TransformStream<Uint8Array, Uint8Array>();
  return [
    make(ba.readable, ab.writable.getWriter(), "10.0.0.2"),
    make(ab.readable, ba.writable.getWriter(), "10.0.0.1"),
  ];
}

/**
 * A member table of member "m" ("me" at 127.0.0.1:4000) on the clock `now`,
 * allowing every address, with small gossip bounds and no-op callbacks.
 */
export function memberTable<L extends MemberLink>(now: () => number): Membership<L> {
  return new Membership<L>({
    self: { id: "m", name: "me", host: "127.0.0.1", port: 4000 },
    maxMembers: 16,
    maxUnverifiedMembers: 8,
    maxUnreachableMembers: 2,
    allowAddress: () => true,
    now,
    onSourceCutOff: () => {},
    onLeft: () => {},
  });
}
