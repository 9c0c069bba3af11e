/**
 * framed/ throughput next to raw `Deno.connect` writes of the same bytes.
 *
 * Sending: the same frames go to the same raw byte-counting sink (a worker
 * on its own thread, see {@linkcode byteSink}), once written by hand with
 * `conn.write` and once through `FramedConnection.send`.
 * Receiving: the same frames are written raw and read either by a
 * hand-written `conn.read` loop that parses headers and copies each payload
 * out, or as messages from `FramedConnection.readable`.
 *
 * "64 B ×1000 per batch": 1000 `send()` calls, then the last one awaited
 * (sends settle in order), against raw writes of 1000 frames per write —
 * once framed by hand from the payloads in the loop, once pre-built (the
 * socket's ceiling, with no per-message work at all).
 *
 * Run: `deno task bench framed`.
 *
 * Method (the machine is shared and noisy, so one round is never trusted):
 * every round opens a fresh connection (outside the timing) and times one
 * whole job, from the first write until the sink has counted the last byte
 * (or, receiving, until the last message is read). Each case first runs
 * {@linkcode WARMUP} untimed rounds of each side (JIT, buffer growth,
 * socket buffers), then timed rounds of each side, interleaved as pairs
 * whose order alternates (raw then framed, framed then raw, ...) so drift
 * in the machine's load hits both sides alike: as many pairs as fit in
 * {@linkcode CASE_BUDGET_MS} (judged by the last warm-up pair), at least
 * {@linkcode MIN_ROUNDS} and at most {@linkcode MAX_ROUNDS}. A side's figure
 * is the median of its rounds (a stray GC pause or a busy neighbour spoils
 * one round, not the figure); the % column is the ratio of the two medians.
 * Rounds last tens of milliseconds (the batched send case sends 400 000
 * messages per round), long enough for the clock and the socket's start-up
 * not to matter. `--quick` runs fewer rounds.
 *
 * @module
 */

import { connect, listen } from "../framed/mod.ts";
import { figure, quick } from "./_report.ts";

const HOST = "127.0.0.1";
/** Untimed rounds of each side before the timed ones. */
const WARMUP = quick ? 1 : 3;
/** Fewest timed rounds of each side; the median counts. */
const MIN_ROUNDS = quick ? 5 : 15;
/** Most timed rounds of each side (cheap cases get more, up to this). */
const MAX_ROUNDS = quick ? 9 : 41;
/** About how long the timed rounds of one case may take together. */
const CASE_BUDGET_MS = quick ? 500 : 2000;

function frame(payload: Uint8Array): Uint8Array {
  const header = payload.length < 255 ? 1 : 5;
  const out = new Uint8Array(header + payload.length);
  if (header === 1) out[0] = payload.length;
  else {
    out[0] = 0xff;
    new DataView(out.buffer).setUint32(1, payload.length);
  }
  out.set(payload, header);
  return out;
}

/**
 * A raw TCP server that counts bytes; `expect(n)` resolves when n more bytes
 * arrived. It runs in a worker (`_byte_sink.ts`), on its own thread: on the
 * sender's thread its reads would take turns with the sender's writes in one
 * event loop, and how they interleave (how much the socket buffers hold when
 * the sink gets to read, so how much kernel work each byte costs) decided
 * the figure more than the sender did. Measured in this file's batched case
 * with the sink on the sender's thread: the hand loop itself dropped to
 * 0.73-0.82x of its own rate when one `await undefined` was added before its
 * `conn.write` (and to 0.96x when the sink merely dropped a `.catch`); with
 * the sink in a worker the same variant ran at 1.00-1.04x.
 */
async function byteSink() {
  const worker = new Worker(new URL("./_byte_sink.ts", import.meta.url).href, { type: "module" });
  const port = await new Promise<number>((resolve) => {
    worker.onmessage = (event) => resolve(event.data.port);
  });
  let done: (() => void) | null = null;
  worker.onmessage = () => {
    const resolve = done;
    done = null;
    resolve?.();
  };
  // Every byte sent is expected: the sink is told the running total, so
  // bytes that reach it before this message does still count.
  let total = 0;
  return {
    port,
    expect(bytes: number): Promise<void> {
      total += bytes;
      return new Promise((resolve) => {
        done = resolve;
        worker.postMessage({ until: total });
      });
    },
    close() {
      worker.postMessage({ close: true });
    },
  };
}

interface Case {
  name: string;
  bytes: number;
  messages: number;
  raw: () => Promise<number>;
  framed: () => Promise<number>;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Warms both runs up, then times them in interleaved pairs whose order
 * alternates; returns the median time of each (see the method above).
 */
async function medianOf(
  raw: () => Promise<number>,
  framed: () => Promise<number>,
): Promise<[number, number, number]> {
  let pairMs = 0;
  for (let i = 0; i < WARMUP; i++) {
    const start = performance.now();
    await raw();
    await framed();
    pairMs = performance.now() - start;
  }
  const fit = Math.floor(CASE_BUDGET_MS / pairMs) | 1; // odd: one middle round
  const rounds = Math.min(MAX_ROUNDS, Math.max(MIN_ROUNDS, fit));
  const rawMs: number[] = [];
  const framedMs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      rawMs.push(await raw());
      framedMs.push(await framed());
    } else {
      framedMs.push(await framed());
      rawMs.push(await raw());
    }
  }
  return [median(rawMs), median(framedMs), rounds];
}

function sendCases(sink: Awaited<ReturnType<typeof byteSink>>): Case[] {
  const small = new Uint8Array(64).fill(7);
  const smallFrame = frame(small);
  const large = new Uint8Array(64 * 1024).fill(9);
  const largeFrame = frame(large);
  const batch = 1000;
  const batchFrames = new Uint8Array(smallFrame.length * batch);
  for (let i = 0; i < batch; i++) batchFrames.set(smallFrame, i * smallFrame.length);

  async function timed(
    bytes: number,
    body: (write: (b: Uint8Array) => Promise<void>) => Promise<void>,
    mode: "raw" | "framed",
  ): Promise<number> {
    if (mode === "raw") {
      const conn = await Deno.connect({ hostname: HOST, port: sink.port });
      conn.setNoDelay(true);
      const arrived = sink.expect(bytes);
      const start = performance.now();
      await body(async (b) => {
        let off = 0;
        while (off < b.length) off += await conn.write(off ? b.subarray(off) : b);
      });
      await arrived;
      const ms = performance.now() - start;
      conn.close();
      return ms;
    }
    throw new Error("unreachable");
  }

  async function framedRun(
    bytes: number,
    body: (c: Awaited<ReturnType<typeof open>>) => Promise<void>,
  ) {
    const client = await open();
    const arrived = sink.expect(bytes);
    const start = performance.now();
    await body(client);
    await arrived;
    const ms = performance.now() - start;
    await client.close();
    return ms;
  }
  const open = () => connect({ hostname: HOST, port: sink.port, sendType: "bytes" });

  const oneN = 10_000;
  const batchedN = 400_000;
  const largeN = 1_500;
  // Framed batches: `batch` sends without awaiting, then await the last
  // (sends settle in order).
  const sendBatches = () =>
    framedRun(batchedN * smallFrame.length, async (c) => {
      for (let i = 0; i < batchedN; i += batch) {
        let last!: Promise<void>;
        for (let j = 0; j < batch; j++) last = c.send(small);
        await last;
      }
    });
  return [
    {
      name: "64 B, one per send (awaited)",
      bytes: oneN * smallFrame.length,
      messages: oneN,
      raw: () =>
        timed(oneN * smallFrame.length, async (write) => {
          for (let i = 0; i < oneN; i++) await write(smallFrame);
        }, "raw"),
      framed: () =>
        framedRun(oneN * smallFrame.length, async (c) => {
          for (let i = 0; i < oneN; i++) await c.send(small);
        }),
    },
    {
      name: `64 B ×${batch} per batch vs raw framed by hand`,
      bytes: batchedN * smallFrame.length,
      messages: batchedN,
      raw: () => {
        const payloads = Array.from({ length: batch }, () => small);
        const buffer = new Uint8Array(batch * smallFrame.length);
        return timed(batchedN * smallFrame.length, async (write) => {
          for (let i = 0; i < batchedN; i += batch) {
            let used = 0;
            for (const payload of payloads) {
              buffer[used++] = payload.length;
              buffer.set(payload, used);
              used += payload.length;
            }
            await write(buffer);
          }
        }, "raw");
      },
      framed: sendBatches,
    },
    {
      name: `64 B ×${batch} per batch vs raw pre-framed`,
      bytes: batchedN * smallFrame.length,
      messages: batchedN,
      raw: () =>
        timed(batchedN * smallFrame.length, async (write) => {
          for (let i = 0; i < batchedN; i += batch) await write(batchFrames);
        }, "raw"),
      framed: sendBatches,
    },
    {
      name: "64 KiB, one per send (awaited)",
      bytes: largeN * largeFrame.length,
      messages: largeN,
      raw: () =>
        timed(largeN * largeFrame.length, async (write) => {
          for (let i = 0; i < largeN; i++) await write(largeFrame);
        }, "raw"),
      framed: () =>
        framedRun(largeN * largeFrame.length, async (c) => {
          for (let i = 0; i < largeN; i++) await c.send(large);
        }),
    },
    {
      name: "64 KiB, pipelined (16 in flight)",
      bytes: largeN * largeFrame.length,
      messages: largeN,
      raw: () =>
        timed(largeN * largeFrame.length, async (write) => {
          for (let i = 0; i < largeN; i++) await write(largeFrame);
        }, "raw"),
      framed: () =>
        framedRun(largeN * largeFrame.length, async (c) => {
          const window: Promise<void>[] = [];
          for (let i = 0; i < largeN; i++) {
            window.push(c.send(large));
            if (window.length === 16) await window.shift();
          }
          await Promise.all(window);
        }),
    },
  ];
}

/** Receiving: raw frames in, counted as bytes (raw) or read as messages (framed). */
function receiveCase(payloadSize: number, count: number) {
  const payload = new Uint8Array(payloadSize).fill(3);
  const one = frame(payload);
  const perWrite = Math.max(1, Math.floor((256 * 1024) / one.length));
  const chunk = new Uint8Array(one.length * perWrite);
  for (let i = 0; i < perWrite; i++) chunk.set(one, i * one.length);
  const writes = Math.ceil(count / perWrite);
  const total = writes * perWrite;

  async function feed(port: number) {
    const conn = await Deno.connect({ hostname: HOST, port });
    for (let i = 0; i < writes; i++) {
      let off = 0;
      while (off < chunk.length) off += await conn.write(off ? chunk.subarray(off) : chunk);
    }
    return conn;
  }

  // A hand-written reader: parse headers, copy each payload out (what the
  // framed reader hands its consumer), no streams.
  const raw = async () => {
    const listener = Deno.listen({ hostname: HOST, port: 0 });
    const accepted = listener.accept();
    const feeding = feed(listener.addr.port);
    const conn = await accepted;
    const start = performance.now();
    let buf = new Uint8Array(256 * 1024);
    let end = 0;
    let messages = 0;
    let sink = 0;
    while (messages < total) {
      if (end === buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = await conn.read(buf.subarray(end));
      if (n === null) break;
      end += n;
      let pos = 0;
      while (pos < end) {
        let length = buf[pos];
        let header = 1;
        if (length === 0xff) {
          if (end - pos < 5) break;
          length = new DataView(buf.buffer, pos + 1, 4).getUint32(0);
          header = 5;
        }
        if (end - pos < header + length) break;
        sink += buf.slice(pos + header, pos + header + length).length;
        pos += header + length;
        messages++;
      }
      buf.copyWithin(0, pos, end);
      end -= pos;
    }
    const ms = performance.now() - start;
    if (sink < 0) console.log(sink);
    (await feeding).close();
    conn.close();
    listener.close();
    return ms;
  };
  const framed = async () => {
    const server = listen({ hostname: HOST, port: 0, sendType: "bytes" });
    const it = server[Symbol.asyncIterator]();
    const feeding = feed(server.addr.port);
    const { value: conn } = await it.next();
    const start = performance.now();
    const reader = conn!.readable.getReader();
    let got = 0;
    while (got < total) {
      const { done } = await reader.read();
      if (done) break;
      got++;
    }
    const ms = performance.now() - start;
    reader.releaseLock();
    (await feeding).close();
    await server.close();
    return ms;
  };
  return { messages: total, bytes: total * one.length, raw, framed };
}

function report(
  name: string,
  messages: number,
  bytes: number,
  rawMs: number,
  framedMs: number,
  rounds: number,
) {
  const big = bytes / messages >= 1024;
  const value = (ms: number) => big ? bytes / ms / 1000 : messages / ms * 1000;
  const [direction, unit] = [sendingPhase ? "send" : "receive", big ? "MB/s" : "msg/s"];
  const peers = { "raw Deno.connect": value(rawMs) };
  figure({
    scenario: `${direction}: ${name}`,
    unit,
    better: "higher",
    ours: value(framedMs),
    peers,
  });
  const rate = (ms: number) =>
    `${(messages / ms / 1000).toFixed(2).padStart(7)} M msg/s ${
      (bytes / ms / 1000).toFixed(0).padStart(6)
    } MB/s`;
  console.log(
    `${name.padEnd(46)} raw ${rate(rawMs)} | framed ${rate(framedMs)} | ${
      (rawMs / framedMs * 100).toFixed(0).padStart(4)
    } % (${rounds} rounds)`,
  );
}

console.log(
  `framed/ vs raw Deno.connect (median of ${MIN_ROUNDS}-${MAX_ROUNDS} interleaved rounds after ${WARMUP} warm-up; % = framed rate / raw rate)`,
);
console.log("-- sending (both into the same raw byte-counting sink, a worker thread)");
let sendingPhase = true;
const sink = await byteSink();
for (const c of sendCases(sink)) {
  const [rawMs, framedMs, rounds] = await medianOf(c.raw, c.framed);
  report(c.name, c.messages, c.bytes, rawMs, framedMs, rounds);
}
sink.close();
sendingPhase = false;
console.log(
  "-- receiving (same frames written raw; raw = hand-written parser copying each payload, framed = readable)",
);
for (const [size, count, name] of [[64, 100_000, "64 B"], [64 * 1024, 1500, "64 KiB"]] as const) {
  const c = receiveCase(size, count);
  const [rawMs, framedMs, rounds] = await medianOf(c.raw, c.framed);
  report(`${name} messages`, c.messages, c.bytes, rawMs, framedMs, rounds);
}
