/**
 * webrtc bench: data-channel throughput (1 KiB and 16 KiB reliable, 1 KiB unreliable), echo round
 * trip and connection set-up, ours (master + slave + client through node-datachannel's polyfill)
 * side by side with raw node-datachannel peers signalled by hand, in one run, over loopback.
 * Then set-up in headless Chromium (bench/_webrtc_chromium.ts): our browser client through the
 * master beside a raw `RTCPeerConnection` page ↔ node-datachannel, p50 and p95.
 *
 * Run: `deno task bench webrtc`.
 *
 * @module
 */

import ndc from "node-datachannel";
import { RTCPeerConnection } from "node-datachannel/polyfill";
import { serveMaster } from "../webrtc/mod.ts";
import { connectSlave, type DataChannel as SlaveChannel } from "../webrtc/slave.ts";
import {
  connectMaster,
  type DataChannel,
  type RTCPeerConnectionConstructor,
} from "../webrtc/client.ts";
import { figure, quantile, quick } from "./_report.ts";
import { chromiumSetups, haveChromium } from "./_webrtc_chromium.ts";
import { sleep } from "../tests/_tools/sleep.ts";

const HWM = 1 << 20;
const SETUP_RUNS = quick ? 11 : 21;
/** Throughput rounds per side (interleaved; the best counts: the machine is shared and noisy). */
const ROUNDS = 2;
const PINGS = quick ? 200 : 500;
const RELIABLE_1K = quick ? 5_000 : 20_000;
const RELIABLE_16K = quick ? 1_000 : 3_000;
const UNRELIABLE_1K = quick ? 5_000 : 20_000;
/** Set-ups in Chromium per side (at least 20 for a p95 worth the name). */
const CHROMIUM_RUNS = 21;

/** Whether `promise` settled within `ms` (a loaded machine must not hang the bench). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
const p50 = (xs: number[]) => quantile(xs, 0.5);

/** The operations a measurement needs from one channel pair, for either implementation. */
interface Pair {
  send(data: Uint8Array | string): void;
  buffered(): number;
  waitLow(): Promise<void>;
  onReceive(fn: (data: Uint8Array | string) => void): void;
  /** Makes the receiving side echo. */
  echo(): void;
  close(): void;
}

// ---------------------------------------------------------------- raw node-datachannel

function rawPeers() {
  const a = new ndc.PeerConnection("bench-a", { iceServers: [], bindAddress: "127.0.0.1" });
  const b = new ndc.PeerConnection("bench-b", { iceServers: [], bindAddress: "127.0.0.1" });
  // An exception thrown inside a native callback aborts the process ("terminate called after
  // throwing Napi::Error"), e.g. a late candidate for a peer already closed: swallow them.
  const safe = (fn: () => void) => {
    try {
      fn();
    } catch { /* the other side is closing */ }
  };
  a.onLocalDescription((sdp, type) => safe(() => b.setRemoteDescription(sdp, type)));
  b.onLocalDescription((sdp, type) => safe(() => a.setRemoteDescription(sdp, type)));
  a.onLocalCandidate((c, mid) => safe(() => b.addRemoteCandidate(c, mid)));
  b.onLocalCandidate((c, mid) => safe(() => a.addRemoteCandidate(c, mid)));
  return { a, b };
}

async function rawPair(unordered = false, attempt = 1): Promise<Pair & { setupMs: number }> {
  const started = performance.now();
  const { a, b } = rawPeers();
  const remote = Promise.withResolvers<ndc.DataChannel>();
  b.onDataChannel((dc) => remote.resolve(dc));
  const dc = a.createDataChannel("bench", unordered ? { unordered: true, maxRetransmits: 0 } : {});
  const opened = Promise.withResolvers<void>();
  dc.onOpen(() => opened.resolve());
  if (!await within(Promise.all([opened.promise, remote.promise]), 10_000)) {
    // libdatachannel sometimes fails a set-up (more often under load): start over.
    if (attempt >= 3) throw new Error("Raw node-datachannel pair did not open in 3 attempts");
    console.log(`  (a raw pair did not open in 10 s; attempt ${attempt + 1})`);
    setTimeout(() => {
      a.close();
      b.close();
    }, 0);
    return rawPair(unordered, attempt + 1);
  }
  const setupMs = performance.now() - started;
  const rx = await remote.promise;
  dc.setBufferedAmountLowThreshold(HWM / 4);
  let low: (() => void) | null = null;
  dc.onBufferedAmountLow(() => low?.());
  return {
    setupMs,
    send: (data) => typeof data === "string" ? dc.sendMessage(data) : dc.sendMessageBinary(data),
    buffered: () => dc.bufferedAmount(),
    waitLow: () => new Promise<void>((r) => (low = r)),
    onReceive: (fn) => dc.onMessage((m) => fn(m as Uint8Array | string)),
    echo: () =>
      rx.onMessage((m) =>
        typeof m === "string" ? rx.sendMessage(m) : rx.sendMessageBinary(m as Uint8Array)
      ),
    close: () => {
      dc.close();
      setTimeout(() => {
        a.close();
        b.close();
      }, 0);
    },
  };
}

// ---------------------------------------------------------------- ours

const master = serveMaster({ hostname: "127.0.0.1", port: 0, maxOffersPerSecond: 1000 });
const url = `ws://127.0.0.1:${master.addr.port}`;
const slave = await connectSlave(url, { userData: { name: "bench" }, bindAddress: "127.0.0.1" });
let nextRemote = Promise.withResolvers<SlaveChannel>();
(async () => {
  for await (const conn of slave) {
    conn.addEventListener("datachannel", (e) => nextRemote.resolve((e as CustomEvent).detail));
  }
})();
const client = await connectMaster(url, {
  RTCPeerConnection: RTCPeerConnection as unknown as RTCPeerConnectionConstructor,
  rtcConfiguration: { bindAddress: "127.0.0.1" },
});
while (client.slaves.length === 0) await sleep(5);
const target = client.slaves[0];

async function ourPair(unordered = false): Promise<Pair> {
  nextRemote = Promise.withResolvers<SlaveChannel>();
  const channel: DataChannel = await target.createDataChannel(
    "bench",
    unordered ? { ordered: false, maxRetransmits: 0, highWaterMark: HWM } : { highWaterMark: HWM },
  );
  if (!await within(nextRemote.promise, 10_000)) {
    throw new Error("The slave never saw the client's channel");
  }
  const rx = await nextRemote.promise;
  return {
    send: (data) => channel.send(data),
    buffered: () => channel.bufferedAmount,
    waitLow: () => channel.drain(),
    onReceive: (fn) => channel.addEventListener("message", (e) => fn((e as MessageEvent).data)),
    echo: () => rx.addEventListener("message", (e) => rx.send((e as MessageEvent).data)),
    close: () => channel.close(),
  };
}

// ---------------------------------------------------------------- measurements

async function throughput(pair: Pair, size: number, count: number, reliable: boolean) {
  const payload = new Uint8Array(size).fill(1);
  let received = 0;
  let last = 0;
  const done = Promise.withResolvers<void>();
  pair.echo();
  pair.onReceive(() => {
    received++;
    last = performance.now();
    if (received === count) done.resolve();
  });
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    // A channel that stops draining (its connection died) ends the run instead of hanging it.
    if (pair.buffered() > HWM && !await within(pair.waitLow(), 10_000)) break;
    pair.send(payload);
  }
  if (!await within(done.promise, reliable ? 30_000 : 500) && reliable) {
    console.log(`  (only ${received} of ${count} echoes came back within 30 s)`);
  }
  const seconds = ((received === count ? last : last || performance.now()) - started) / 1000;
  return { msgs: received / seconds, mbps: received * size / seconds / 1e6, received };
}

async function rtt(pair: Pair): Promise<number> {
  pair.echo();
  let resolve = () => {};
  pair.onReceive(() => resolve());
  const samples: number[] = [];
  for (let i = 0; i < PINGS; i++) {
    const t = performance.now();
    const back = new Promise<void>((r) => (resolve = r));
    pair.send("ping");
    if (!await within(back, 2000)) continue;
    samples.push(performance.now() - t);
  }
  return p50(samples);
}

/** Set-ups that took a DTLS retransmit (libdatachannel's first retransmit comes after 1 s). */
const slowSetups = { raw: 0, ours: 0 };

async function rawSetup(): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < SETUP_RUNS; i++) {
    const pair = await rawPair();
    samples.push(pair.setupMs);
    if (pair.setupMs > 900) slowSetups.raw++;
    pair.close();
    await sleep(50);
  }
  return samples;
}

async function ourSetup(): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < SETUP_RUNS; i++) {
    const t = performance.now();
    await target.connect();
    samples.push(performance.now() - t);
    if (samples.at(-1)! > 900) slowSetups.ours++;
    target.close();
    while (slave.connections.size) await sleep(1);
    // Deno's built-in WebSocket client has no TCP_NODELAY: a packet sent within ~40 ms of the
    // previous one waits for its ACK (Nagle + delayed ACK). Browsers set TCP_NODELAY.
    await sleep(50);
  }
  return samples;
}

type Row = { metric: string; raw: number; ours: number; unit: string; higherIsBetter: boolean };
const rows: Row[] = [];
function record(
  metric: string,
  raw: number,
  ours: number,
  unit: string,
  higherIsBetter: boolean,
  peer = "raw node-datachannel",
  note?: string,
) {
  rows.push({ metric, raw, ours, unit, higherIsBetter });
  figure({
    scenario: metric,
    unit,
    better: higherIsBetter ? "higher" : "lower",
    ours,
    peers: { [peer]: raw },
    note,
  });
  const ratio = higherIsBetter ? ours / raw : raw / ours;
  console.log(
    `  ${metric.padEnd(28)} raw ${raw.toFixed(2).padStart(10)} ${unit.padEnd(7)} ours ${
      ours.toFixed(2).padStart(10)
    } ${unit.padEnd(7)} ours/raw ${(ratio * 100).toFixed(0)} %`,
  );
}

try {
  console.log("webrtc bench (loopback; p50 where noted; ratio: 100 % = as good as raw)");
  {
    const raw = await rawSetup();
    const ours = await ourSetup();
    record("set-up p50 (Deno client)", p50(raw), p50(ours), "ms", false);
    const slow =
      `set-ups that waited for a 1 s DTLS retransmit: raw ${slowSetups.raw}/${SETUP_RUNS}, ours ${slowSetups.ours}/${SETUP_RUNS}`;
    const note = `${SETUP_RUNS} fresh connections each; ${slow} (raw peers leave the DTLS ` +
      "roles to libdatachannel, whose first ClientHello is often lost; our client claims the " +
      "DTLS client role).";
    record(
      "set-up p95 (Deno client)",
      quantile(raw, 0.95),
      quantile(ours, 0.95),
      "ms",
      false,
      undefined,
      note,
    );
    console.log(`  (${slow})`);
  }
  if (haveChromium()) {
    const peer = "raw RTCPeerConnection page";
    // --quick: only the deployed configuration.
    for (const loopback of quick ? [false] : [true, false]) {
      const where = loopback ? "slave on 127.0.0.1" : "slave on all interfaces";
      console.log(`  … headless Chromium, ${where}: ${CHROMIUM_RUNS} set-ups each, raw and ours`);
      const c = await chromiumSetups(CHROMIUM_RUNS, loopback);
      record(`set-up p50 (Chromium, ${where})`, p50(c.raw), p50(c.ours), "ms", false, peer);
      const second = `a further channel on the open connection: p50 ${
        p50(c.second).toFixed(2)
      } ms (no renegotiation)`;
      const note = `headless Chromium, createDataChannel() → open on ${CHROMIUM_RUNS} fresh ` +
        `connections each side; ${second}.` + (loopback
          ? " Bound to loopback, the slave cannot reach Chromium's host candidates and the " +
            "pair forms from a peer-reflexive address: libjuice reaches ICE connected ~50 ms " +
            "later, in the reference too."
          : "");
      record(
        `set-up p95 (Chromium, ${where})`,
        quantile(c.raw, 0.95),
        quantile(c.ours, 0.95),
        "ms",
        false,
        peer,
        note,
      );
      console.log(`  (Chromium: createDataChannel() → open; ${second})`);
    }
  } else console.log("  (no /usr/bin/chromium: browser set-up skipped)");
  {
    const raw = await rawPair();
    const rawRtt = await rtt(raw);
    raw.close();
    const ours = await ourPair();
    const ourRtt = await rtt(ours);
    ours.close();
    record("echo RTT p50", rawRtt, ourRtt, "ms", false);
  }
  const best = async (
    make: () => Promise<Pair>,
    size: number,
    count: number,
    reliable: boolean,
  ) => {
    let top = { msgs: 0, mbps: 0, received: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const pair = await make();
      const result = await throughput(pair, size, count, reliable);
      pair.close();
      if (result.msgs > top.msgs) top = result;
      await sleep(100);
    }
    return top;
  };
  {
    const r = await best(() => rawPair(), 1024, RELIABLE_1K, true);
    const o = await best(() => ourPair(), 1024, RELIABLE_1K, true);
    record("reliable 1 KiB echo", r.msgs, o.msgs, "msg/s", true);
  }
  {
    const r = await best(() => rawPair(), 16384, RELIABLE_16K, true);
    const o = await best(() => ourPair(), 16384, RELIABLE_16K, true);
    record("reliable 16 KiB echo", r.mbps, o.mbps, "MB/s", true);
  }
  {
    const r = await best(() => rawPair(true), 1024, UNRELIABLE_1K, false);
    const o = await best(() => ourPair(true), 1024, UNRELIABLE_1K, false);
    record("unreliable 1 KiB echo", r.msgs, o.msgs, "msg/s", true);
  }
  console.log(
    "  (throughput counts messages echoed back to the sender: each crosses the link twice)",
  );
} finally {
  client.close();
  await slave.close();
  await master.close();
  await sleep(100);
}
// node-datachannel's cleanup() segfaults here after this many peer connections, and without it
// the addon's threads keep the process alive: every number is printed, so exit at once.
Deno.exit(0);
