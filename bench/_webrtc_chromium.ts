/**
 * Part of the webrtc bench: connection set-up in a real headless Chromium. The page times
 * `createDataChannel()` → `open` through our master (`/netkit/client.js` → master → slave), and
 * the same for a raw `RTCPeerConnection` signalled by hand over a WebSocket to a node-datachannel
 * peer in this process (the reference: the least any signalling layer can cost).
 *
 * @module
 */

import ndc from "node-datachannel";
import { serveMaster } from "../webrtc/mod.ts";
import { connectSlave } from "../webrtc/slave.ts";

export const CHROMIUM = "/usr/bin/chromium";

/** Whether Chromium is installed. */
export function haveChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/** Set-up times in ms, in order, of one side. */
export interface ChromiumSetups {
  /** Raw `RTCPeerConnection` ↔ node-datachannel, signalled by hand. */
  raw: number[];
  /** Ours: `slave.createDataChannel()` on a fresh connection, through the master. */
  ours: number[];
  /** Ours: a further channel on the connected peer connection (no new negotiation). */
  second: number[];
}

const PAGE = (masterPort: number, runs: number) =>
  `<!doctype html>
<meta charset="utf-8"><title>netkit webrtc set-up bench</title>
<script type="module">
const report = new WebSocket("ws://" + location.host + "/report");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const RUNS = ${runs};
const PAUSE = 100;

async function raw() {
  const sig = new WebSocket("ws://" + location.host + "/raw");
  await new Promise((r) => (sig.onopen = r));
  const pcs = new Map();
  sig.onmessage = (e) => {
    const m = JSON.parse(e.data);
    const pc = pcs.get(m.id);
    if (!pc) return;
    if (m.type === "answer") pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
    else if (m.type === "candidate") {
      pc.addIceCandidate({ candidate: m.candidate, sdpMid: m.mid }).catch(() => {});
    }
  };
  const out = [];
  for (let id = 0; id < RUNS; id++) {
    const t0 = performance.now();
    const pc = new RTCPeerConnection({ iceServers: [] });
    pcs.set(id, pc);
    const dc = pc.createDataChannel("bench");
    const open = new Promise((r) => (dc.onopen = r));
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) {
        sig.send(JSON.stringify({ id, type: "candidate", candidate: e.candidate.candidate, mid: e.candidate.sdpMid }));
      }
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    sig.send(JSON.stringify({ id, type: "offer", sdp: offer.sdp }));
    await open;
    out.push(performance.now() - t0);
    pc.close();
    pcs.delete(id);
    sig.send(JSON.stringify({ id, type: "close" }));
    await sleep(PAUSE);
  }
  sig.close();
  return out;
}

async function ours() {
  const mod = await import("http://127.0.0.1:${masterPort}/netkit/client.js");
  const master = await mod.connectMaster("ws://127.0.0.1:${masterPort}");
  while (master.slaves.length === 0) await sleep(10);
  const slave = master.slaves[0];
  const first = [], second = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await slave.createDataChannel("bench");
    first.push(performance.now() - t0);
    const t1 = performance.now();
    await slave.createDataChannel("more", { ordered: false, maxRetransmits: 0 });
    second.push(performance.now() - t1);
    slave.close();
    await sleep(PAUSE);
  }
  master.close();
  return { ours: first, second };
}

report.onmessage = async (e) => {
  try {
    const r = await raw();
    const o = await ours();
    report.send(JSON.stringify({ ok: true, raw: r, ...o }));
  } catch (error) {
    report.send(JSON.stringify({ ok: false, error: String(error && error.stack || error) }));
  }
};
report.onopen = () => report.send(JSON.stringify({ hello: true }));
</script>`;

/** The reference answerer: one node-datachannel peer per page offer. */
function rawSignalling(socket: WebSocket, loopback: boolean): void {
  const pcs = new Map<number, ndc.PeerConnection>();
  const send = (o: unknown) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(o));
  };
  socket.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === "offer") {
      const pc = new ndc.PeerConnection(`ref-${m.id}`, {
        iceServers: [],
        ...(loopback ? { bindAddress: "127.0.0.1" } : {}),
      });
      pcs.set(m.id, pc);
      pc.onLocalDescription((sdp, type) => send({ id: m.id, type, sdp }));
      pc.onLocalCandidate((candidate, mid) =>
        send({ id: m.id, type: "candidate", candidate, mid })
      );
      pc.onDataChannel(() => {});
      try {
        pc.setRemoteDescription(m.sdp, "offer");
      } catch { /* the page times out on this set-up */ }
    } else if (m.type === "candidate") {
      const address = String(m.candidate).split(" ")[4] ?? "";
      // Bound to loopback, as our slave: other addresses cannot be reached.
      if (loopback && !/^127\.|^::1$/.test(address)) return;
      try {
        pcs.get(m.id)?.addRemoteCandidate(m.candidate, m.mid ?? "0");
      } catch { /* unusable candidate */ }
    } else if (m.type === "close") {
      const pc = pcs.get(m.id);
      pcs.delete(m.id);
      setTimeout(() => pc?.close(), 0);
    }
  };
  socket.onclose = () => {
    for (const pc of pcs.values()) setTimeout(() => pc.close(), 0);
    pcs.clear();
  };
}

/**
 * Launches headless Chromium on a page that runs `runs` set-ups of each kind, and returns the
 * times. Rejects after `timeoutMs`.
 *
 * `loopback`: the slave and the reference peer bind to 127.0.0.1 (as the tests do). Chromium
 * then has no candidate they can reach (it offers none on loopback), so the pair forms from a
 * peer-reflexive address and libjuice waits ~50 ms more for ICE. Otherwise both bind every
 * interface, as a deployed slave does (the traffic still stays on this host).
 */
export async function chromiumSetups(
  runs: number,
  loopback: boolean,
  timeoutMs = 120_000,
): Promise<ChromiumSetups> {
  const profile = await Deno.makeTempDir({ prefix: "netkit-bench-chromium-" });
  const master = serveMaster({ hostname: "127.0.0.1", port: 0, allowedOrigins: "*" });
  const url = `ws://127.0.0.1:${master.addr.port}`;
  const slave = await connectSlave(url, {
    userData: { name: "bench" },
    ...(loopback ? { bindAddress: "127.0.0.1" } : {}),
  });
  (async () => {
    for await (const _ of slave) { /* channels are only opened */ }
  })();
  const result = Promise.withResolvers<ChromiumSetups>();
  const pages = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/report") {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.hello) socket.send("{}");
        else if (m.ok) result.resolve({ raw: m.raw, ours: m.ours, second: m.second });
        else result.reject(new Error(`Page failed: ${m.error}`));
      };
      return response;
    }
    if (pathname === "/raw") {
      const { socket, response } = Deno.upgradeWebSocket(request);
      rawSignalling(socket, loopback);
      return response;
    }
    return new Response(PAGE(master.addr.port, runs), {
      headers: { "content-type": "text/html" },
    });
  });
  const chromium = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-default-apps",
      "--disable-extensions",
      `--user-data-dir=${profile}`,
      // Host candidates as plain addresses (libjuice cannot resolve mDNS names), on loopback.
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      "--allow-loopback-in-peer-connection",
      `http://127.0.0.1:${pages.addr.port}/`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(
    () => result.reject(new Error(`Chromium set-ups did not finish in ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    return await result.promise;
  } finally {
    clearTimeout(timer);
    chromium.kill("SIGTERM");
    await chromium.status;
    await slave.close();
    await master.close();
    await pages.shutdown();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 21);
  const r = await chromiumSetups(runs, !Deno.args.includes("--any"));
  const q = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
  for (const [k, xs] of Object.entries(r)) {
    console.log(
      `${k.padEnd(7)} p50 ${q(xs, 0.5).toFixed(1)} p95 ${q(xs, 0.95).toFixed(1)}  [${
        xs.map((x: number) => x.toFixed(0)).join(" ")
      }]`,
    );
  }
  Deno.exit(0);
}
