/**
 * Attacks on the webrtc master (issue 15, rows 1–3), each an exported function taking the
 * master's base URL (`ws://host:port`, base path `/netkit`) and an AbortSignal, returning what it
 * saw. The red-team tests run them against a master in its own process; a later bench can run
 * them at full scale.
 *
 * The attackers speak the binary signalling protocol (webrtc/_protocol.ts). A peer "that never
 * reads" is a raw TCP socket that does the WebSocket handshake and then stops reading: Deno's
 * built-in `WebSocket` always reads.
 *
 * @module
 */

import {
  decodePacket,
  encodeCandidate,
  encodeSdp,
  encodeUserData,
  PacketType,
} from "../../../webrtc/_protocol.ts";
import { sleep } from "../../_tools/sleep.ts";

const encoder = new TextEncoder();

/** A WebSocket over a raw TCP connection that reads only when asked to. */
export class RawSocket {
  readonly conn: Deno.TcpConn;
  #leftover: Uint8Array;

  private constructor(conn: Deno.TcpConn, leftover: Uint8Array) {
    this.conn = conn;
    this.#leftover = leftover;
  }

  /** Connects and completes the handshake; afterwards nothing is read until `closeCode()`. */
  static async open(url: string): Promise<RawSocket> {
    const u = new URL(url);
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    try {
      await writeAll(
        conn,
        encoder.encode(
          `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
            `Sec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      let head: Uint8Array = new Uint8Array(0);
      const buffer = new Uint8Array(4096);
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error("Closed during the handshake");
        head = concat(head, buffer.subarray(0, n));
        const end = indexOfHeadEnd(head);
        if (end >= 0) {
          const text = new TextDecoder().decode(head.subarray(0, end));
          if (!text.startsWith("HTTP/1.1 101")) {
            throw new Error(`Upgrade refused: ${text.split("\r\n")[0]}`);
          }
          return new RawSocket(conn, head.slice(end + 4));
        }
      }
    } catch (error) {
      conn.close();
      throw error;
    }
  }

  /** Sends one binary message (masked with a zero key, which leaves the payload as is). */
  send(payload: Uint8Array): Promise<void> {
    const length = payload.length;
    const headerSize = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const frame = new Uint8Array(headerSize + 4 + length);
    frame[0] = 0x82;
    const view = new DataView(frame.buffer);
    if (length < 126) frame[1] = 0x80 | length;
    else if (length < 65536) {
      frame[1] = 0x80 | 126;
      view.setUint16(2, length);
    } else {
      frame[1] = 0x80 | 127;
      view.setBigUint64(2, BigInt(length));
    }
    frame.set(payload, headerSize + 4);
    return writeAll(this.conn, frame);
  }

  /**
   * Reads (and discards) what the server sent until its close frame; resolves with the close
   * code, 1006 on EOF without one, or null when `ms` passed first.
   */
  async closeCode(ms: number): Promise<number | null> {
    const timer = setTimeout(() => {
      try {
        this.conn.close();
      } catch { /* closed */ }
    }, ms);
    let pending: Uint8Array = this.#leftover;
    const buffer = new Uint8Array(256 * 1024);
    let timedOut = true;
    try {
      for (;;) {
        // Skip whole frames in `pending`.
        for (;;) {
          if (pending.length < 2) break;
          const opcode = pending[0] & 0x0f;
          let length = pending[1] & 0x7f;
          let at = 2;
          if (length === 126) {
            if (pending.length < 4) break;
            length = (pending[2] << 8) | pending[3];
            at = 4;
          } else if (length === 127) {
            if (pending.length < 10) break;
            length = Number(
              new DataView(pending.buffer, pending.byteOffset).getBigUint64(2),
            );
            at = 10;
          }
          if (pending.length < at + length) break;
          if (opcode === 8) {
            timedOut = false;
            return length >= 2 ? (pending[at] << 8) | pending[at + 1] : 1005;
          }
          pending = pending.subarray(at + length);
        }
        let n: number | null;
        try {
          n = await this.conn.read(buffer);
        } catch (error) {
          // Reset (the server dropped the connection) or our own timeout.
          if (error instanceof Deno.errors.ConnectionReset) {
            timedOut = false;
            return 1006;
          }
          return null;
        }
        if (n === null) {
          timedOut = false;
          return 1006;
        }
        pending = pending.length ? concat(pending, buffer.subarray(0, n)) : buffer.slice(0, n);
      }
    } finally {
      clearTimeout(timer);
      if (!timedOut) this.close();
    }
  }

  /** Drops the TCP connection. */
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/** A reading WebSocket peer (Deno's built-in client) with its packets and close code. */
export class Peer {
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  /** Called for every packet received. */
  onPacket: (bytes: Uint8Array) => void = () => {};

  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.socket.binaryType = "arraybuffer";
    const opened = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<number>();
    this.opened = opened.promise;
    this.opened.catch(() => {});
    this.closed = closed.promise;
    this.socket.onopen = () => opened.resolve();
    this.socket.onerror = () => {};
    this.socket.onclose = (e) => {
      opened.reject(new Error(`Closed before open (${e.code})`));
      closed.resolve(e.code);
    };
    this.socket.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) this.onPacket(new Uint8Array(e.data));
    };
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(bytes: Uint8Array): void {
    if (this.open) this.socket.send(bytes);
  }

  /** Waits while more than `mark` bytes are buffered (the master is not reading fast enough). */
  async drain(mark = 1 << 20, signal?: AbortSignal): Promise<void> {
    while (this.open && this.socket.bufferedAmount > mark && !signal?.aborted) await sleep(2);
  }

  /** Closes and waits for the close event (bounded). */
  async close(): Promise<void> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    await within(this.closed, 2000);
  }
}

/** `promise`'s value, or undefined once `ms` passed first (the timer never outlives the call). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) =>
        timer = setTimeout(() => resolve(undefined), Math.max(0, ms))
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function abortable(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** userData JSON of about `size` bytes. */
export function userDataOf(size: number, tag = "x"): string {
  const json = JSON.stringify({ tag, pad: "" });
  return JSON.stringify({ tag, pad: "p".repeat(Math.max(0, size - json.length)) });
}

/** Counts of what a close-code collection saw: code → how many. */
export type CodeCounts = Record<string, number>;

function countCodes(codes: Array<number | null>): CodeCounts {
  const out: CodeCounts = {};
  for (const code of codes) out[String(code)] = (out[String(code)] ?? 0) + 1;
  return out;
}

// ------------------------------------------------------------------------------------ row 1

/** Options of {@linkcode userDataFanOut}. */
export interface UserDataFanOutOptions {
  /** Clients that never read. @default {100} */
  clients?: number;
  /** Slaves sending updates. @default {1} */
  slaves?: number;
  /** Updates per second per slave; `Infinity` sends as fast as the master takes them. @default {Infinity} */
  updatesPerSecond?: number;
  /** Bytes of each userData update. @default {60000} */
  userDataSize?: number;
  /** Stop after this many bytes of updates (all slaves together). @default {63_000_000} */
  totalBytes?: number;
  /**
   * Milliseconds to wait, once the attack ended, for close codes the master has yet to send: the
   * non-reading clients', and a flooding slave's.
   * @default {1000}
   */
  drainMs?: number;
  /**
   * Milliseconds the non-reading clients go on not reading after the slaves stopped, so that a
   * send to them that had just stalled still reaches the master's `sendTimeout` (reading the
   * close codes unblocks it).
   * @default {0}
   */
  settleMs?: number;
}

/** What {@linkcode userDataFanOut} saw. */
export interface UserDataFanOutStats {
  clients: number;
  updatesSent: number;
  bytesSent: number;
  /** The slaves' close codes (null: still open when the attack ended, a flooding one `drainMs` after). */
  slaveCloses: CodeCounts;
  /** Close codes the non-reading clients found (null: none within `drainMs`). */
  clientCloses: CodeCounts;
}

/**
 * Row 1: slaves send userData updates (as fast as the master takes them, or at a set rate) while
 * `clients` clients never read what the master sends them.
 */
export async function userDataFanOut(
  url: string,
  signal: AbortSignal,
  options: UserDataFanOutOptions = {},
): Promise<UserDataFanOutStats> {
  const {
    clients = 100,
    slaves = 1,
    updatesPerSecond = Infinity,
    userDataSize = 60_000,
    totalBytes = 63_000_000,
    drainMs = 1000,
    settleMs = 0,
  } = options;
  // The non-reading clients open a few at a time and all of them, however long a loaded machine
  // takes: one at a time, 100 of them could use up the attack before any update was sent.
  const sinks: RawSocket[] = [];
  for (let i = 0; i < clients; i += 10) {
    const group = Array.from(
      { length: Math.min(clients, i + 10) - i },
      () => RawSocket.open(`${url}/netkit/clients`),
    );
    sinks.push(...await Promise.all(group));
  }
  let updatesSent = 0;
  let bytesSent = 0;
  const slaveCodes: Array<number | null> = [];
  await Promise.all(Array.from({ length: slaves }, async (_, n) => {
    const slave = new Peer(`${url}/netkit/slaves`);
    let code: number | null = null;
    slave.closed.then((c) => code = c);
    try {
      await slave.opened;
      slave.send(encodeUserData(PacketType.REGISTER, userDataOf(100, `flood${n}`)));
      let mine = 0;
      const interval = 1000 / updatesPerSecond;
      let due = performance.now();
      while (!signal.aborted && slave.open && bytesSent < totalBytes) {
        const update = encodeUserData(
          PacketType.UPDATE_USER_DATA,
          userDataOf(userDataSize, `u${n}.${mine}`),
        );
        slave.send(update);
        mine++;
        updatesSent++;
        bytesSent += update.length;
        await slave.drain(1 << 20, signal);
        if (Number.isFinite(updatesPerSecond)) {
          // On schedule, catching up at most one update: a sender that fell behind (late
          // timers on a loaded machine) must not burst past the rate it keeps to.
          due = Math.max(due + interval, performance.now() - interval);
          await within(abortable(signal), due - performance.now());
        } else if (mine % 16 === 0) await sleep(0);
      }
      await Promise.race([abortable(signal), slave.closed]);
      // A flooding slave still open at the end has updates the master has not read yet: wait
      // (bounded) for the close it has coming rather than report it open.
      if (!Number.isFinite(updatesPerSecond) && slave.open) await within(slave.closed, drainMs);
    } catch {
      // the slave was refused
    }
    slaveCodes.push(code);
    await slave.close();
  }));
  await sleep(settleMs);
  const codes = await Promise.all(sinks.map((s) => s.closeCode(drainMs)));
  for (const s of sinks) s.close();
  return {
    clients: sinks.length,
    updatesSent,
    bytesSent,
    slaveCloses: countCodes(slaveCodes),
    clientCloses: countCodes(codes),
  };
}

// ------------------------------------------------------------------------------------ row 2

/** Options of {@linkcode candidateFlood}. */
export interface CandidateFloodOptions {
  /** Stop after this many bytes of candidates. @default {310_000_000} */
  totalBytes?: number;
  /** Bytes of each candidate line. @default {900} */
  candidateSize?: number;
  /**
   * Milliseconds to wait, once the attack ended, for close codes the master has yet to send: the
   * flooding client's, and the non-reading slave's.
   * @default {1000}
   */
  drainMs?: number;
}

/** What {@linkcode candidateFlood} saw. */
export interface CandidateFloodStats {
  candidatesSent: number;
  bytesSent: number;
  /** The flooding client's close code (null: still open `drainMs` after the attack ended). */
  clientClose: number | null;
  /** The close code the non-reading slave found (null: none within `drainMs`). */
  slaveClose: number | null;
}

/**
 * Row 2: a slave registers and then never reads; one client sends it one offer and then ICE
 * candidates as fast as the master takes them.
 */
export async function candidateFlood(
  url: string,
  signal: AbortSignal,
  options: CandidateFloodOptions = {},
): Promise<CandidateFloodStats> {
  const { totalBytes = 310_000_000, candidateSize = 900, drainMs = 1000 } = options;
  const sink = await RawSocket.open(`${url}/netkit/slaves`);
  await sink.send(encodeUserData(PacketType.REGISTER, userDataOf(50, "sink")));
  const client = new Peer(`${url}/netkit/clients`);
  let clientClose: number | null = null;
  client.closed.then((code) => clientClose = code);
  let candidatesSent = 0;
  let bytesSent = 0;
  try {
    // Find the sink in the list.
    const sinkId = Promise.withResolvers<number>();
    client.onPacket = (bytes) => {
      if (bytes[0] !== PacketType.ADD_SLAVES) return;
      const packet = decodePacket(bytes);
      if (packet.type !== 1) return;
      for (const s of packet.slaves) if (s.userData.includes('"sink"')) sinkId.resolve(s.id);
    };
    await client.opened;
    const id = await within(sinkId.promise, 5000) ?? -1;
    if (id < 0) throw new Error("The sink slave was never listed");
    client.send(encodeSdp(PacketType.OFFER_TO_SLAVE, id, "v=0 offer"));
    const line = "candidate:" + "c".repeat(candidateSize);
    while (!signal.aborted && client.open && bytesSent < totalBytes) {
      const packet = encodeCandidate(PacketType.ICE_CANDIDATE_TO_SLAVE, id, {
        candidate: line,
        sdpMid: "0",
        sdpMLineIndex: 0,
      });
      client.send(packet);
      candidatesSent++;
      bytesSent += packet.length;
      await client.drain(1 << 20, signal);
      if (candidatesSent % 64 === 0) await sleep(0);
    }
    await Promise.race([abortable(signal), client.closed]);
    // Still open: the master has candidates it has not read yet; wait (bounded) for the close
    // it has coming rather than close the client first.
    if (client.open) await within(client.closed, drainMs);
  } catch {
    // refused
  }
  await client.close();
  const slaveClose = await sink.closeCode(drainMs);
  sink.close();
  return { candidatesSent, bytesSent, clientClose, slaveClose };
}

// ------------------------------------------------------------------------------------ row 3

/** Options of {@linkcode slaveListBloat}. */
export interface SlaveListBloatOptions {
  /** Slaves to register. @default {1024} */
  slaves?: number;
  /** Bytes of each slave's userData. @default {65000} */
  userDataSize?: number;
  /**
   * Milliseconds every slave may take to open and hand its registration to the socket; a slave
   * not open by then counts as failed ("not open within registerTimeout").
   * @default {60000}
   */
  registerTimeout?: number;
  /**
   * Milliseconds, from the fresh client's open, until every open slave has its outcome: listed
   * to that client, or closed by the master. Slaves still without one are `pending`.
   * @default {40000}
   */
  listTimeout?: number;
}

/** What {@linkcode slaveListBloat} saw. */
export interface SlaveListBloatStats {
  /** Slaves that opened. */
  opened: number;
  /** Slaves that did not open, by reason (how their socket ended, or the deadline). */
  failed: Record<string, number>;
  /** Close codes of the open slaves the master closed before the attack released them. */
  slaveCloses: CodeCounts;
  /** Open slaves a fresh client found in its list (each counted once). */
  listed: number;
  /** Open slaves neither listed nor closed by the master when `listTimeout` ran out. */
  pending: number;
  /** ADD_SLAVES packets the list came in. */
  pieces: number;
  /** Largest ADD_SLAVES packet, in bytes. */
  largestPiece: number;
  /** Milliseconds from the fresh client's open until every open slave had its outcome (null: not all did). */
  listMs: number | null;
  /** Milliseconds it took to open every slave and send its registration. */
  registerMs: number;
  /** The fresh client's close code when the master closed it before the end (null: it was not). */
  clientClose: number | null;
}

/**
 * Row 3: `slaves` slaves register with `userDataSize` bytes of userData each, then a fresh client
 * connects and receives the list. The attack waits for each open slave's definite outcome — the
 * fresh client lists it, or the master closes it (the list budget refuses it with 1008) — within
 * `listTimeout`, so a slow (loaded) master is waited for rather than counted early; then it holds
 * the slaves open until `signal` aborts (at once if it already has).
 */
export async function slaveListBloat(
  url: string,
  signal: AbortSignal,
  options: SlaveListBloatOptions = {},
): Promise<SlaveListBloatStats> {
  const { slaves = 1024, userDataSize = 65_000, registerTimeout = 60_000, listTimeout = 40_000 } =
    options;
  const started = performance.now();
  const registering = AbortSignal.timeout(registerTimeout);
  const failed: Record<string, number> = {};
  const fail = (reason: string) => failed[reason] = (failed[reason] ?? 0) + 1;
  /** The open slaves by tag, with the close code the master sent (until released). */
  const open = new Map<string, { peer: Peer; closedBy: number | null }>();
  const peers: Peer[] = [];
  let released = false;
  const outcome = Promise.withResolvers<void>();
  let undecided = 0;
  let registered = false;
  const listedTags = new Set<string>();
  const decided = () => {
    if (--undecided === 0 && registered) outcome.resolve();
  };
  const batch = 32;
  for (let i = 0; i < slaves; i += batch) {
    if (registering.aborted) {
      for (let j = i; j < Math.min(slaves, i + batch); j++) fail("not open within registerTimeout");
      continue;
    }
    await Promise.all(Array.from({ length: Math.min(slaves, i + batch) - i }, async (_, k) => {
      const tag = `s${i + k}`;
      const peer = new Peer(`${url}/netkit/slaves`);
      peers.push(peer);
      try {
        const opened = await within(
          peer.opened.then(() => true),
          registerTimeout - (performance.now() - started),
        );
        if (!opened) {
          fail("not open within registerTimeout");
          return;
        }
      } catch (error) {
        fail((error as Error).message);
        return;
      }
      const slave = { peer, closedBy: null as number | null };
      open.set(tag, slave);
      undecided++;
      peer.closed.then((code) => {
        if (released) return;
        slave.closedBy = code;
        if (!listedTags.has(tag)) decided();
      });
      peer.send(encodeUserData(PacketType.REGISTER, userDataOf(userDataSize, tag)));
      await peer.drain(0, registering);
    }));
  }
  const registerMs = performance.now() - started;
  registered = true;
  // A fresh client: the slaves the master accepted are in its first pieces, or (registrations
  // the master had not read yet) announced to it later.
  const client = new Peer(`${url}/netkit/clients`);
  let pieces = 0;
  let largestPiece = 0;
  let listMs: number | null = null;
  let clientOpened = 0;
  let clientClose: number | null = null;
  client.closed.then((code) => {
    if (!released) clientClose = code;
  });
  client.onPacket = (bytes) => {
    if (bytes[0] !== PacketType.ADD_SLAVES) return;
    pieces++;
    largestPiece = Math.max(largestPiece, bytes.length);
    const packet = decodePacket(bytes);
    if (packet.type !== 1) return;
    for (const { userData } of packet.slaves) {
      const tag = (JSON.parse(userData) as { tag: string }).tag;
      const slave = open.get(tag);
      if (!slave || listedTags.has(tag)) continue;
      listedTags.add(tag);
      if (slave.closedBy === null) decided();
    }
  };
  if (undecided === 0) outcome.resolve();
  try {
    await client.opened;
    clientOpened = performance.now();
    // A client the master closed lists nothing more: stop there rather than at the deadline.
    await within(Promise.race([outcome.promise, client.closed]), listTimeout);
    if (undecided === 0) listMs = performance.now() - clientOpened;
  } catch { /* closed before it opened: `clientClose` says how */ }
  const pending = undecided;
  await abortable(signal);
  released = true;
  await client.close();
  await Promise.all(peers.map((p) => p.close()));
  const closes = [...open.values()].flatMap((s) => s.closedBy === null ? [] : [s.closedBy]);
  return {
    opened: open.size,
    failed,
    slaveCloses: countCodes(closes),
    listed: listedTags.size,
    pending,
    pieces,
    largestPiece,
    listMs,
    registerMs,
    clientClose,
  };
}

// ------------------------------------------------------------------------------------ probes

/** A probe: a fresh client connects and receives its first slave-list packet. */
export async function listProbe(url: string, signal: AbortSignal): Promise<void> {
  const peer = new Peer(`${url}/netkit/clients`);
  const got = Promise.withResolvers<void>();
  peer.onPacket = (bytes) => {
    if (bytes[0] === PacketType.ADD_SLAVES) got.resolve();
  };
  try {
    await Promise.race([
      got.promise,
      peer.closed.then((code) => Promise.reject(new Error(`closed ${code}`))),
      abortable(signal).then(() => Promise.reject(signal.reason)),
    ]);
  } finally {
    await peer.close();
  }
}

/** A slave that answers every offer at once; its userData holds `"legit"`. */
export class AnsweringSlave implements AsyncDisposable {
  readonly peer: Peer;

  constructor(url: string) {
    this.peer = new Peer(`${url}/netkit/slaves`);
    this.peer.opened.then(() =>
      this.peer.send(encodeUserData(PacketType.REGISTER, JSON.stringify({ tag: "legit" })))
    );
    this.peer.onPacket = (bytes) => {
      if (bytes[0] !== PacketType.OFFER_FROM_CLIENT) return;
      const id = new DataView(bytes.buffer, bytes.byteOffset).getUint32(1);
      this.peer.send(encodeSdp(PacketType.ANSWER_TO_CLIENT, id, "v=0 answer"));
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.peer.close();
  }
}

/** A probe: a fresh client offers to the `"legit"` slave and receives its answer. */
export async function answerProbe(url: string, signal: AbortSignal): Promise<void> {
  const peer = new Peer(`${url}/netkit/clients`);
  const got = Promise.withResolvers<void>();
  peer.onPacket = (bytes) => {
    if (bytes[0] === PacketType.ADD_SLAVES) {
      const packet = decodePacket(bytes);
      if (packet.type !== 1) return;
      const legit = packet.slaves.find((s) => s.userData.includes('"legit"'));
      if (legit) peer.send(encodeSdp(PacketType.OFFER_TO_SLAVE, legit.id, "v=0 offer"));
    } else if (bytes[0] === PacketType.ANSWER_FROM_SLAVE) got.resolve();
  };
  try {
    await Promise.race([
      got.promise,
      peer.closed.then((code) => Promise.reject(new Error(`closed ${code}`))),
      abortable(signal).then(() => Promise.reject(signal.reason)),
    ]);
  } finally {
    await peer.close();
  }
}
