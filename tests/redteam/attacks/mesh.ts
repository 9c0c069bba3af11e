/**
 * Attacks on a mesh member (issue 15, rows 7–10), each an exported function
 * so the red-team tests and a later bench can run them. The attackers speak
 * the mesh protocol of `mesh/_protocol.ts` over raw `framed/` connections
 * (no secret: in a mesh without one, anybody can), except
 * {@linkcode replicateLargeState}, which uses only the public API.
 *
 * @module
 */

import { connect, type FramedConnection } from "../../../framed/mod.ts";
import { joinMesh, type MeshAddress } from "../../../mesh/mod.ts";
import { fragment } from "../../../mesh/_fragment.ts";
import { stateFrames } from "../../../mesh/_state_sync.ts";
import {
  encodeHelloFrame,
  encodeMembersFrame,
  encodeProofFrame,
  forEachFrame,
  KIND_BATCH,
  KIND_CLOSE,
  KIND_HELLO,
  KIND_PING,
  KIND_PONG,
  KIND_READY,
  KIND_REJECT,
  MEMBER_LIVE,
  PROOF_SIZE,
  PROTOCOL_VERSION,
  type WireMember,
} from "../../../mesh/_protocol.ts";

type Conn = FramedConnection<Uint8Array, Uint8Array>;

/** What an attack saw. */
export interface MeshAttackResult {
  /** Codes of the REJECT / CLOSE frames the target sent the attacker. */
  codes: string[];
  /** Connections the attacker opened. */
  connections: number;
  /** Bytes the attacker managed to write. */
  bytesSent: number;
}

const decoder = new TextDecoder();

function randomId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

function codeOf(frame: Uint8Array): string {
  try {
    return String(JSON.parse(decoder.decode(frame.subarray(1))).code);
  } catch {
    return "?";
  }
}

function dial(target: MeshAddress): Promise<Conn> {
  return connect({
    hostname: target.hostname,
    port: target.port,
    framing: "length",
    sendType: "bytes",
    receiveType: "bytes",
    maxMessageSize: 64 * 1024 * 1024,
    reconnect: false,
    connectTimeout: 2000,
  });
}

function hello(id: string, name: string): Uint8Array {
  return encodeHelloFrame({
    v: PROTOCOL_VERSION,
    id,
    name,
    host: "127.0.0.1",
    port: 1,
    nonce: "00",
    auth: false,
  });
}

/** A raw, handshaken connection to a mesh member that answers pings and collects codes. */
export interface RawMember {
  readonly id: string;
  readonly conn: Conn;
  /** Codes of REJECT / CLOSE frames received so far. */
  readonly codes: string[];
  /** Resolves when the target closed the connection (or it failed). */
  readonly ended: Promise<void>;
  close(): Promise<void>;
}

/** Completes a mesh handshake without a secret and keeps the connection alive. */
export async function rawMember(target: MeshAddress, name = `raw-${randomId()}`): Promise<
  RawMember
> {
  const conn = await dial(target);
  const id = randomId();
  const reader = conn.readable.getReader();
  const codes: string[] = [];
  try {
    await conn.send(hello(id, name));
    const ack = await reader.read();
    if (ack.done || ack.value[0] === KIND_REJECT) {
      throw new Error(`Handshake refused: ${ack.done ? "closed" : codeOf(ack.value)}`);
    }
    // Without a secret the proof is not checked: zeros will do.
    await conn.send(encodeProofFrame(new Uint8Array(PROOF_SIZE)));
    const ready = await reader.read();
    if (ready.done || ready.value[0] !== KIND_READY) {
      throw new Error(`Handshake refused: ${ready.done ? "closed" : codeOf(ready.value)}`);
    }
  } catch (error) {
    reader.releaseLock();
    await conn.close();
    throw error;
  }
  const onFrame = (frame: Uint8Array) => {
    if (frame[0] === KIND_PING) {
      const pong = frame.slice();
      pong[0] = KIND_PONG;
      conn.send(pong).catch(() => {});
    } else if (frame[0] === KIND_CLOSE || frame[0] === KIND_REJECT) codes.push(codeOf(frame));
  };
  const ended = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        if (value[0] === KIND_BATCH) forEachFrame(value, onFrame);
        else onFrame(value);
      }
    } catch {
      // The target dropped us.
    }
  })();
  return {
    id,
    conn,
    codes,
    ended,
    close: async () => {
      await conn.close();
      await ended;
    },
  };
}

function waitOrAbort(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Row 7 (public API only): joins a member through `seeds` and waits until
 * its replicated state holds `keys` keys of `valueBytes` characters each;
 * resolves to the milliseconds that took. The member leaves afterwards.
 */
export async function replicateLargeState(
  seeds: MeshAddress[],
  { keys, valueBytes, timeoutMs = 5000 }: { keys: number; valueBytes: number; timeoutMs?: number },
): Promise<number> {
  const started = performance.now();
  const mesh = await joinMesh({
    name: `state-${randomId().slice(0, 8)}`,
    seeds,
    timeout: timeoutMs,
  });
  try {
    const complete = () => {
      let count = 0;
      for (const [, value] of mesh.state.entries()) {
        if (typeof value === "string" && value.length === valueBytes) count++;
      }
      return count >= keys;
    };
    while (!complete()) {
      if (performance.now() - started > timeoutMs) {
        throw new Error(`State incomplete after ${timeoutMs} ms (${mesh.state.size} keys)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return performance.now() - started;
  } finally {
    await mesh.leave();
  }
}

/**
 * Row 8: one member gossips `count` invented members at addresses nobody
 * listens on, again every `intervalMs` with fresh ids, until `signal` aborts.
 */
export async function gossipFakeMembers(
  target: MeshAddress,
  { count, intervalMs = 250, signal }: { count: number; intervalMs?: number; signal?: AbortSignal },
): Promise<MeshAttackResult> {
  const member = await rawMember(target);
  let bytesSent = 0;
  let port = 1;
  try {
    while (!signal?.aborted) {
      const list: WireMember[] = [];
      for (let i = 0; i < count; i++) {
        // Ports below 1024 on loopback: nobody listens there in the tests.
        port = port >= 1000 ? 2 : port + 1;
        list.push({
          id: randomId(),
          name: `fake-${randomId().slice(0, 12)}`,
          host: "127.0.0.1",
          port,
          beat: 1,
          state: MEMBER_LIVE,
        });
      }
      try {
        // In pieces well under any frame limit, as a member would send them.
        for (let i = 0; i < list.length; i += 256) {
          const frame = encodeMembersFrame(list.slice(i, i + 256));
          await member.conn.send(frame);
          bytesSent += frame.length;
        }
      } catch {
        break;
      }
      await Promise.race([waitOrAbort(intervalMs, signal), member.ended]);
      if (member.codes.length > 0) break;
    }
    await Promise.race([member.ended, waitOrAbort(500)]);
    return { codes: [...member.codes], connections: 1, bytesSent };
  } finally {
    await member.close();
  }
}

/**
 * Row 9: one member writes `keys` state keys of `valueBytes` characters each
 * into the target's replicated state, one STATE frame per key.
 */
export async function floodState(
  target: MeshAddress,
  { keys, valueBytes, signal }: { keys: number; valueBytes: number; signal?: AbortSignal },
): Promise<MeshAttackResult> {
  const member = await rawMember(target);
  const value = "x".repeat(valueBytes);
  let bytesSent = 0;
  try {
    for (let i = 0; i < keys && !signal?.aborted; i++) {
      const [frame] = stateFrames([[`flood-${i}`, i + 1, member.id, 0, value]], false);
      try {
        // In FRAGMENT pieces, as a member sends any frame over 64 KiB.
        for (const piece of fragment(frame)) await member.conn.send(piece);
      } catch {
        break;
      }
      bytesSent += frame.length;
      if (member.codes.length > 0) break;
    }
    await Promise.race([member.ended, waitOrAbort(1000, signal)]);
    return { codes: [...member.codes], connections: 1, bytesSent };
  } finally {
    await member.close();
  }
}

/**
 * Row 10 (before authentication): `bigHellos` connections each announce a
 * HELLO frame of `bigHelloBytes` and send all but its last byte; then
 * `pendingHellos` connections send a valid HELLO each and never finish the
 * handshake. Everything is held until `signal` aborts.
 */
export async function handshakeFlood(
  target: MeshAddress,
  { bigHellos, bigHelloBytes, pendingHellos, signal }: {
    bigHellos: number;
    bigHelloBytes: number;
    pendingHellos: number;
    signal?: AbortSignal;
  },
): Promise<MeshAttackResult> {
  const raw: Deno.Conn[] = [];
  const framed: Conn[] = [];
  const tasks: Promise<void>[] = [];
  const codes: string[] = [];
  let bytesSent = 0;
  const chunk = new Uint8Array(1024 * 1024).fill(0x20);
  try {
    for (let i = 0; i < bigHellos && !signal?.aborted; i++) {
      const conn = await Deno.connect({ hostname: target.hostname, port: target.port });
      raw.push(conn);
      tasks.push((async () => {
        const header = new Uint8Array(6);
        header[0] = 0xff;
        new DataView(header.buffer).setInt32(1, bigHelloBytes);
        header[5] = KIND_HELLO;
        try {
          bytesSent += await conn.write(header);
          let left = bigHelloBytes - 2;
          while (left > 0 && !signal?.aborted) {
            const piece = chunk.subarray(0, Math.min(left, chunk.length));
            let written = 0;
            while (written < piece.length) written += await conn.write(piece.subarray(written));
            left -= piece.length;
            bytesSent += piece.length;
          }
        } catch {
          // The target hung up: what we want.
        }
      })());
    }
    for (let i = 0; i < pendingHellos && !signal?.aborted; i++) {
      let conn: Conn;
      try {
        conn = await dial(target);
      } catch {
        continue;
      }
      framed.push(conn);
      tasks.push((async () => {
        const reader = conn.readable.getReader();
        try {
          await conn.send(hello(randomId(), `pending-${randomId().slice(0, 12)}`));
          while (true) {
            const { value, done } = await reader.read();
            if (done) return;
            if (value[0] === KIND_REJECT) codes.push(codeOf(value));
          }
        } catch {
          // dropped
        }
      })());
    }
    await waitOrAbort(60_000, signal);
    return { codes, connections: raw.length + framed.length, bytesSent };
  } finally {
    for (const conn of raw) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await Promise.all(framed.map((conn) => conn.close()));
    await Promise.allSettled(tasks);
  }
}
