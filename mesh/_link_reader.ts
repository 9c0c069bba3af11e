/**
 * Reading one established link: frames are read one after the other
 * (pausing while the inbox is full), dispatched to the member table, the
 * state, the requests and the inbox through injected hooks, and when the
 * link ends a peer fault is reported and the peer told why. No sockets of
 * its own: the link is handed in.
 *
 * @module
 */

import type { MeshStateEntry } from "./state.ts";
import type { MeshPeer } from "./peer.ts";
import { dispatchFrame, type FrameHandler } from "./_dispatch.ts";
import { peerFault } from "./_link.ts";
import type { ReplyChannel } from "./_requests.ts";
import {
  type DecodedReply,
  encodeTime,
  KIND_PONG,
  MEMBERS_PER_FRAME,
  type WireMember,
} from "./_protocol.ts";

/** What the reader needs of a link. */
export interface ReadableLink extends ReplyChannel {
  /** The next frame, or `null` at the end. */
  read(): Promise<Uint8Array | null>;
  /** When the last frame arrived. */
  readonly lastHeard: number;
  /** Smoothed round-trip time (NaN until the first PONG). */
  rtt: number;
  /** The peer announced a graceful leave. */
  leaving: boolean;
  /** Code and message of a CLOSE frame the peer sent. */
  remoteClose?: string;
  /** The error the link failed with, if it did. */
  readonly failure: unknown;
  /** Closes the link telling the peer `error`'s code. */
  closeWith(error: Error & { code: string }): Promise<void>;
}

/** What the reader needs of a member. */
export interface ReadingMember<L> {
  readonly id: string;
  link?: L;
  peer?: MeshPeer;
  lastHeard: number;
  suspect: boolean;
}

/** Where the frames of a link go. */
export interface LinkReaderHooks<L extends ReadableLink, M extends ReadingMember<L>> {
  /** The largest STATE frame accepted. */
  readonly stateFrameLimit: number;
  /** The clock (for RTTs). */
  now(): number;
  /** Whether the inbox is full (reading pauses). */
  inboxFull(): boolean;
  /** Resolves once the inbox has room again. */
  inboxDrained(): Promise<void>;
  /** An application message. */
  deliver(member: M, type: string, content: unknown): void;
  /** A request to answer. */
  answer(link: L, member: M, requestId: number, type: string, enc: number, body: Uint8Array): void;
  /** A reply to one of our requests. */
  settle(member: M, reply: DecodedReply): void;
  /** A piece of a member list; `last` when it ends the list. */
  members(member: M, link: L, entries: WireMember[], last: boolean): void;
  /** Replicated state entries. */
  state(entries: MeshStateEntry[]): void;
  /** The link is closed for the peer's fault (report it as `connectionerror`). */
  fault(error: Error & { code: string }, member: M, link: L): void;
  /** Keeps a task alive until the mesh closes. */
  track(task: Promise<unknown>): void;
  /** The link has ended (`error` is why, if it failed). */
  ended(member: M, link: L, error: unknown): void;
}

/** Reads `link` of `member` until it ends. */
export async function readLink<L extends ReadableLink, M extends ReadingMember<L>>(
  member: M,
  link: L,
  hooks: LinkReaderHooks<L, M>,
): Promise<void> {
  const handler: FrameHandler = {
    message: (type, content) => hooks.deliver(member, type, content),
    request: (id, type, enc, body) => hooks.answer(link, member, id, type, enc, body),
    reply: (reply) => hooks.settle(member, reply),
    ping: (time) => link.post(encodeTime(KIND_PONG, time)),
    pong: (time) => {
      const rtt = hooks.now() - time;
      if (rtt >= 0) link.rtt = Number.isNaN(link.rtt) ? rtt : link.rtt * 0.8 + rtt * 0.2;
    },
    // A list comes in pieces of MEMBERS_PER_FRAME; a shorter one ends it.
    members: (entries) => hooks.members(member, link, entries, entries.length < MEMBERS_PER_FRAME),
    state: (entries) => hooks.state(entries),
    leave: () => link.leaving = true,
    close: (reason) => {
      link.remoteClose = `${String(reason?.code)}: ${String(reason?.message)}`;
      link.leaving = false;
    },
  };
  let error: unknown;
  try {
    while (true) {
      while (hooks.inboxFull()) await hooks.inboxDrained();
      const frame = await link.read();
      if (frame === null) break;
      member.lastHeard = link.lastHeard;
      if (member.suspect) member.suspect = false;
      dispatchFrame(frame, handler, hooks.stateFrameLimit);
      if (link.leaving) break;
    }
  } catch (e) {
    error = e;
  }
  error ??= link.failure;
  const fault = peerFault(error);
  if (fault && link.open) {
    // Only this link closes; the peer is told why.
    hooks.fault(fault, member, link);
    hooks.track(link.closeWith(fault));
  } else if (fault?.code === "ERR_SLOW_PEER") {
    hooks.fault(fault, member, link);
  }
  hooks.ended(member, link, error);
}
