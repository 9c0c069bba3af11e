/**
 * Issue 15's red-team table, measured: every attack of tests/redteam/attacks/
 * against our server (its own process, RSS sampled, a well-behaved client
 * probing it every 100 ms), and, where npm `ws` has the same surface (the
 * websocket rows and the HTTP head of row 14), the same attack against `ws`
 * under Node. Raw-TCP framed, mesh, enet and webrtc-protocol rows have no
 * `ws` equivalent.
 *
 * Per system: peak RSS, the share of probes answered within 1 s, and how the
 * offenders ended (close codes, error codes, connections the server closed).
 *
 * ```sh
 * deno run -A --unstable-net bench/redteam.ts            # every row, 6 s each (~3.5 min)
 * deno run -A --unstable-net bench/redteam.ts --quick    # 2 s each
 * deno run -A --unstable-net bench/redteam.ts 4 6 12     # some rows
 * deno run -A --unstable-net bench/redteam.ts --before e91abd7   # and an older commit (~6.5 min)
 * ```
 *
 * Not a `*_bench.ts`, so `deno task bench` leaves it out: it takes minutes
 * and needs more than that task's `--allow-net`.
 *
 * `--before <rev>` checks `<rev>` out into a temporary git worktree, copies
 * the red-team server scripts into it and runs every row against that code
 * too, in three more columns (the before and after table of issue 15; the
 * commit before the hardening merges is e91abd7). The attackers stay today's
 * (they speak the wire, not the API), except mesh's, which are copied into
 * the old tree to speak its protocol version. A row whose server script does
 * not run on the old code says so. Options a row scales down (timeouts) are
 * passed to the old code too, where it has them.
 *
 * `-A` because the enet flood binds 127.x.y.z source addresses. Everything
 * stays on loopback, every attack is bounded in time, and a server past
 * 2 GiB RSS is stopped (shown as `>2048 MiB, stopped`) to spare the machine.
 *
 * @module
 */

import {
  probeDuring,
  type ProbeResult,
  type ServerProcess,
  startServer,
} from "../tests/redteam/_harness.ts";
import * as ws from "../tests/redteam/attacks/websocket.ts";
import * as framed from "../tests/redteam/attacks/framed.ts";
import * as webrtc from "../tests/redteam/attacks/webrtc.ts";
import * as meshToday from "../tests/redteam/attacks/mesh.ts";
import * as enet from "../tests/redteam/attacks/enet.ts";
import { closedReports, probeOf, targetOf } from "../tests/redteam/framed_probe.ts";
import * as meshCommonToday from "../tests/redteam/mesh_common.ts";
import { peerErrors } from "../tests/redteam/_webrtc.ts";
import { startWs } from "./_redteam_ws.ts";
import { sleep } from "../tests/_tools/sleep.ts";

/**
 * The mesh attackers and probes: today's, or with `--before` copies inside the
 * old tree, so that they speak its protocol version.
 */
let mesh: typeof meshToday = meshToday;
let meshCommon: typeof meshCommonToday = meshCommonToday;

// ------------------------------------------------------------------------------ command line

const args = [...Deno.args];
const quick = args.includes("--quick");
const beforeAt = args.indexOf("--before");
const beforeRev = beforeAt >= 0 ? args[beforeAt + 1] : undefined;
if (beforeAt >= 0 && !beforeRev) throw new TypeError("--before needs a git revision");
const wantedRows = new Set(
  args.filter((a, i) => /^\d+$/.test(a) && (beforeAt < 0 || i !== beforeAt + 1)).map(Number),
);
/** How long each attack runs. */
const MS = quick ? 2_000 : 6_000;
/** Our websocket servers' `handshakeTimeout` in row 14 (default 10 s), scaled to the attack's length. */
const HEAD_TIMEOUT = quick ? 1_000 : 2_000;
/** The webrtc master's head timeout in row 14c: `serveHttp()`'s default, not configurable. */
const MASTER_HEAD_TIMEOUT = 10_000;
/** A server past this RSS is stopped. */
const RSS_GUARD = 2 * 2 ** 30;

const repo = new URL("..", import.meta.url);
/** Where the server scripts (and so the module code they import) come from. */
let root: URL = repo;

// ------------------------------------------------------------------------------ one measurement

/** What one system did under one attack. */
interface Cell {
  rssMiB: number;
  probes: ProbeResult;
  alive: boolean;
  stopped: boolean;
  outcome: string;
  seconds: number;
}

interface Probe {
  probe: (signal: AbortSignal) => Promise<void>;
  [Symbol.asyncDispose]?: () => PromiseLike<void>;
}

interface Run<S, R> {
  start: () => Promise<S & ServerProcess>;
  probe: (server: S & ServerProcess) => Promise<Probe> | Probe;
  attack: (server: S & ServerProcess, signal: AbortSignal) => Promise<R>;
  outcome: (server: S & ServerProcess, result: R | undefined, probes: ProbeResult) => string;
  /** How long the attack runs, when {@linkcode MS} is too short to see the outcome. */
  ms?: number;
  /** Milliseconds of attack before the probes start (a backlog first). */
  probeDelayMs?: number;
}

async function measure<S, R>(run: Run<S, R>): Promise<Cell> {
  const started = performance.now();
  await using server = await run.start();
  let stopped = false;
  const guard = setInterval(() => {
    if (!stopped && server.rss() > RSS_GUARD) {
      stopped = true;
      void server[Symbol.asyncDispose]();
    }
  }, 100);
  const stop = new AbortController();
  const ms = run.ms ?? MS;
  const timer = setTimeout(() => stop.abort(), ms);
  const giveUp = new AbortController();
  let lateAttack = false;
  let result: R | undefined;
  let probes: ProbeResult = { sent: 0, answered: 0, share: 0 };
  try {
    const attacking = run.attack(server, stop.signal).catch((error) => {
      console.error(`  attack failed: ${error?.message ?? error}`);
      return undefined;
    });
    const probing = (async () => {
      await sleep(run.probeDelayMs ?? 0, stop.signal);
      let prober: Probe;
      try {
        prober = await run.probe(server);
      } catch (error) {
        console.error(`  probe client failed: ${(error as Error)?.message ?? error}`);
        await sleep(1e9, stop.signal);
        return { sent: 1, answered: 0, share: 0 };
      }
      try {
        return await probeDuring(prober.probe, stop.signal);
      } finally {
        await prober[Symbol.asyncDispose]?.();
      }
    })();
    // An attacker that does not notice the end (a dead server) is left behind after 15 s.
    const late = sleep(ms + 15_000, giveUp.signal).then(() => {
      lateAttack = !giveUp.signal.aborted;
      return undefined;
    });
    [result, probes] = await Promise.all([
      Promise.race([attacking, late]),
      Promise.race([probing, late.then(() => probes)]),
    ]);
  } finally {
    clearTimeout(timer);
    stop.abort();
    giveUp.abort();
    clearInterval(guard);
  }
  const rss = server.maxRss;
  // The server's last reports (read as the red-team tests read them): a native socket closed
  // for not reading is reported only once its peer has left.
  await sleep(300);
  return {
    rssMiB: Math.round(rss / 2 ** 20),
    probes,
    alive: server.alive(),
    stopped,
    outcome: (lateAttack ? "attacker still busy 15 s after the end (its own results lost); " : "") +
      run.outcome(server, result, probes),
    seconds: (performance.now() - started) / 1000,
  };
}

// ------------------------------------------------------------------------------ outcome helpers

function tally(items: Iterable<string>): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return [...counts].map(([k, n]) => n === 1 ? k : `${k}×${n}`).join(", ") || "none";
}

function jsonLines(server: ServerProcess): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of server.lines) {
    try {
      out.push(JSON.parse(line));
    } catch { /* not a report */ }
  }
  return out;
}

function counted(outcomes: Record<string, number> | undefined): string {
  if (!outcomes) return "—";
  return Object.entries(outcomes).map(([k, n]) => `${k}×${n}`).join(", ") || "none";
}

// ------------------------------------------------------------------------------ systems

const server = (name: string) => new URL(`tests/redteam/servers/${name}`, root);

/** Our websocket server (either engine, or the serveHttp front) with `config`. */
function wsOurs(config: Record<string, unknown>) {
  return () => startServer(server("websocket_server.ts"), [JSON.stringify(config)]);
}

/** The websocket attack on one system: ours (with its reports) or `ws`. */
function wsRun(
  start: () => Promise<ServerProcess>,
  attack: (t: ws.AttackTarget, s: AbortSignal) => Promise<ws.AttackStats>,
  broadcast = false,
): Run<unknown, ws.AttackStats> {
  return {
    start,
    probe: (s) => {
      const port = s.info.port as number;
      return broadcast
        ? ws.broadcastProbe(`ws://127.0.0.1:${port}/sink`)
        : { probe: ws.echoProbe(`ws://127.0.0.1:${port}/echo`) };
    },
    attack: (s, signal) => attack({ hostname: "127.0.0.1", port: s.info.port as number }, signal),
    outcome: (s, stats) => {
      const reported = jsonLines(s).filter((r) => r.error).map((r) => `${r.error}@${r.code}`);
      const seen = `attacker saw ${counted(stats?.outcomes)}`;
      return reported.length ? `${seen}; server: ${tally(reported)}` : seen;
    },
  };
}

function webrtcMaster(options: Record<string, unknown> = {}) {
  return () => startServer(server("webrtc_master.ts"), [JSON.stringify(options)]);
}

function webrtcOutcome(s: ServerProcess): string {
  return `master closed: ${tally(peerErrors(s).map((e) => `${e.role} ${e.code}@${e.closeCode}`))}`;
}

function framedServer(config: Record<string, unknown>) {
  return () => startServer(server("framed_server.ts"), [JSON.stringify(config)]);
}

function framedOutcome(s: ServerProcess, closed: number, opened: number): string {
  const reasons = closedReports(s).filter((r) => r.name).map((r) =>
    r.code ?? `${r.name}${r.option ? `(${r.option})` : ""}`
  );
  return `server closed ${closed}/${opened}; ${tally(reasons)}`;
}

function meshMember(options: Record<string, unknown> = {}) {
  return () =>
    startServer(server("mesh_member.ts"), [JSON.stringify(options)], {
      sampleMs: meshCommon.MEMBER_RSS_SAMPLE_MS,
    });
}

function meshAddr(s: ServerProcess) {
  return { hostname: s.info.hostname as string, port: s.info.port as number };
}

function meshOutcome(s: ServerProcess, result: meshToday.MeshAttackResult | undefined): string {
  return `attacker got ${tally(result?.codes ?? [])}; member reported ${
    tally(meshCommon.reportedCodes(s))
  }`;
}

function enetApp(mode: "echo" | "slow") {
  return () => startServer(server("enet_app.ts"), [mode]);
}

function enetProbe(s: ServerProcess, text: string): Probe {
  const pending = new Set<Promise<void>>();
  const target = { hostname: s.info.hostname as string, port: s.info.port as number };
  return {
    probe: enet.echoProbe(target, new TextEncoder().encode(text), pending),
    [Symbol.asyncDispose]: async () => void await Promise.all(pending),
  };
}

function enetStats(s: ServerProcess) {
  return jsonLines(s) as { peers: number; waitingData: number; gaps: number }[];
}

// ------------------------------------------------------------------------------ the rows

interface Row {
  row: number;
  /** Sub-row label, when a row runs on more than one of our systems. */
  sub?: string;
  module: string;
  attack: string;
  // deno-lint-ignore no-explicit-any
  ours: Run<any, any>;
  /** The same attack against `ws` (shown once per row). */
  // deno-lint-ignore no-explicit-any
  ws?: Run<any, any>;
}

const ping = (s: ServerProcess) => ({
  probe: (signal: AbortSignal) => webrtc.listProbe(s.info.url as string, signal),
});

const rows: Row[] = [
  {
    row: 1,
    module: "webrtc master",
    attack: "one slave's 60 kB userData updates, as fast as taken, to 100 clients that never read",
    ours: {
      start: webrtcMaster(),
      probe: ping,
      attack: (s, signal) =>
        webrtc.userDataFanOut(s.info.url, signal, { clients: 100, userDataSize: 60_000 }),
      outcome: (s, r) =>
        `${webrtcOutcome(s)}; slave saw ${tally(Object.keys(r?.slaveCloses ?? {}))}`,
    },
  },
  {
    row: 2,
    module: "webrtc master",
    attack: "one offer, then endless 900-byte ICE candidates to a slave that never reads",
    ours: {
      start: webrtcMaster(),
      probe: async (s) => {
        const legit = new webrtc.AnsweringSlave(s.info.url);
        await legit.peer.opened;
        return {
          probe: (signal) => webrtc.answerProbe(s.info.url, signal),
          [Symbol.asyncDispose]: () => legit[Symbol.asyncDispose](),
        };
      },
      attack: (s, signal) => webrtc.candidateFlood(s.info.url, signal),
      outcome: (s, r) => `${webrtcOutcome(s)}; client saw ${r?.clientClose ?? "—"}`,
    },
  },
  {
    row: 3,
    module: "webrtc master",
    attack:
      "1024 slaves × 65 000 B userData (one address: per-address limit lifted), then a client lists",
    ours: {
      start: webrtcMaster({ maxSlavesPerAddress: 2048 }),
      probe: ping,
      attack: (s, signal) =>
        webrtc.slaveListBloat(s.info.url, signal, {
          slaves: 1024,
          userDataSize: 65_000,
          listTimeout: Math.max(1000, MS - 1500),
        }),
      outcome: (s, r) =>
        `${webrtcOutcome(s)}; ${r?.opened ?? 0} opened, ${r?.listed ?? 0} listed in ${
          r?.pieces ?? 0
        } packets (largest ${Math.round((r?.largestPiece ?? 0) / 1024)} KiB)`,
    },
  },
  {
    row: 4,
    module: "websocket rfc6455",
    attack: "one message as 1-byte fragments, 4 connections",
    ours: wsRun(
      wsOurs({ engine: "rfc6455" }),
      (t, s) => ws.fragmentFlood(t, s, { connections: 4 }),
    ),
    ws: wsRun(() => startWs({}), (t, s) => ws.fragmentFlood(t, s, { connections: 4 })),
  },
  {
    row: 5,
    module: "framed",
    attack: "zero-length frames: 100 conns × 64 KiB + 2 × 256 MiB, app reads 1 msg/s",
    ours: {
      start: framedServer({ app: "slow" }),
      probe: (s) => ({ probe: probeOf(targetOf(s)) }),
      attack: async (s, signal) => {
        const [many, huge] = await Promise.all([
          framed.zeroLengthFlood(targetOf(s), signal, {
            connections: 100,
            bytesPerConnection: 64 * 1024,
          }),
          framed.zeroLengthFlood(targetOf(s), signal, {
            connections: 2,
            bytesPerConnection: 256 * 2 ** 20,
          }),
        ]);
        return { many, huge };
      },
      outcome: (s, r) => {
        const sent = ((r?.many.bytesSent ?? 0) + (r?.huge.bytesSent ?? 0)) / 2 ** 20;
        return `${sent.toFixed(1)} MiB sent (read as the app consumes); ${
          framedOutcome(s, (r?.many.closedByServer ?? 0) + (r?.huge.closedByServer ?? 0), 102)
        }`;
      },
    },
  },
  {
    row: 6,
    sub: "a",
    module: "websocket rfc6455",
    attack: "empty frames, 10 connections, app never reads (heartbeat 1 s)",
    ours: wsRun(
      wsOurs({ engine: "rfc6455", heartbeat: { interval: 1000, timeout: 1000 } }),
      (t, s) => ws.emptyFrameFlood(t, s, { connections: 10 }),
    ),
    ws: wsRun(() => startWs({}), (t, s) => ws.emptyFrameFlood(t, s, { connections: 10 })),
  },
  {
    row: 6,
    sub: "b",
    module: "websocket native",
    attack: "empty frames, 10 connections, app never reads",
    ours: wsRun(
      wsOurs({ engine: "native" }),
      (t, s) => ws.emptyFrameFlood(t, s, { connections: 10 }),
    ),
  },
  {
    row: 7,
    module: "mesh",
    attack: "replicated state 1.2 MiB (2 × 600 KiB), new members join through it",
    ours: {
      start: meshMember({ stateKeys: 2, stateValueBytes: 600 * 1024 }),
      probe: (s) => ({
        probe: async () =>
          void await mesh.replicateLargeState([meshAddr(s)], {
            keys: 2,
            valueBytes: 600 * 1024,
            timeoutMs: 1000,
          }),
      }),
      attack: (_s, signal) => sleep(1e9, signal),
      outcome: (s, _r, probes) =>
        `${probes.answered}/${probes.sent} joins got the full state within 1 s; member reported ${
          tally(meshCommon.reportedCodes(s))
        }`,
    },
  },
  {
    row: 8,
    module: "mesh",
    attack: "one member gossips 1024 fake members every 250 ms",
    ours: {
      start: meshMember(),
      probe: (s) => new meshCommon.JoinProbe(meshAddr(s)),
      attack: (s, signal) => mesh.gossipFakeMembers(meshAddr(s), { count: 1024, signal }),
      outcome: meshOutcome,
      probeDelayMs: 300,
    },
  },
  {
    row: 9,
    module: "mesh",
    attack: "one member pushes 397 state keys × 1 MiB",
    ours: {
      start: meshMember(),
      probe: async (s) => {
        const asker = await meshCommon.requestProbe(meshAddr(s), s.info.id as string);
        return { probe: asker.probe, [Symbol.asyncDispose]: () => asker.mesh.leave() };
      },
      attack: (s, signal) =>
        mesh.floodState(meshAddr(s), { keys: 397, valueBytes: 1024 * 1024 - 256, signal }),
      outcome: meshOutcome,
    },
  },
  {
    row: 10,
    module: "mesh",
    attack: "before auth: 40 unfinished 16 MiB HELLOs, then 1100 pending HELLOs",
    ours: {
      start: meshMember(),
      probe: (s) => new meshCommon.JoinProbe(meshAddr(s)),
      attack: (s, signal) =>
        mesh.handshakeFlood(meshAddr(s), {
          bigHellos: 40,
          bigHelloBytes: 16 * 1024 * 1024,
          pendingHellos: 1100,
          signal,
        }),
      outcome: (s, r) => `${r?.connections ?? 0} conns; ${meshOutcome(s, r)}`,
    },
  },
  {
    row: 11,
    module: "framed TLS",
    attack: "500 connections that never send a ClientHello (handshakeTimeout scaled to 1 s)",
    ours: {
      start: framedServer({ app: "echo", tls: true, options: { handshakeTimeout: 1000 } }),
      probe: (s) => ({ probe: probeOf(targetOf(s)) }),
      attack: (s, signal) => framed.tlsSilentFlood(targetOf(s), signal, { connections: 500 }),
      outcome: (s, r) =>
        `${framedOutcome(s, r?.closedByServer ?? 0, r?.opened ?? 0)}; last closed after ${
          ((r?.closeTimes.at(-1) ?? 0) / 1000).toFixed(1)
        } s`,
    },
  },
  {
    row: 12,
    module: "websocket rfc6455",
    attack: "permessage-deflate bombs: 200 connections × 3 × 16 MiB inflated, app never reads",
    ours: wsRun(
      wsOurs({ engine: "rfc6455", deflate: true }),
      (t, s) => ws.deflateBomb(t, s, { connections: 200, messages: 3 }),
    ),
    ws: wsRun(
      () => startWs({ deflate: true }),
      (t, s) => ws.deflateBomb(t, s, { connections: 200, messages: 3 }),
    ),
  },
  {
    row: 13,
    sub: "a",
    module: "websocket rfc6455",
    attack: "broadcast() 128 KiB every 20 ms with 20 clients that never read",
    ours: wsRun(
      wsOurs({ engine: "rfc6455", broadcast: { size: 128 * 1024, everyMs: 20 } }),
      (t, s) => ws.nonReaders(t, s, { connections: 20 }),
      true,
    ),
    ws: wsRun(
      () => startWs({ broadcast: { size: 128 * 1024, everyMs: 20 } }),
      (t, s) => ws.nonReaders(t, s, { connections: 20 }),
      true,
    ),
  },
  {
    row: 13,
    sub: "b",
    module: "websocket native",
    attack: "broadcast() 128 KiB every 20 ms with 20 clients that never read",
    ours: wsRun(
      wsOurs({ engine: "native", broadcast: { size: 128 * 1024, everyMs: 20 } }),
      (t, s) => ws.nonReaders(t, s, { connections: 20 }),
      true,
    ),
  },
  {
    row: 14,
    sub: "a",
    module: "websocket rfc6455",
    attack: `1000 connections trickling an unfinished HTTP head (handshakeTimeout ${
      HEAD_TIMEOUT / 1000
    } s)`,
    ours: wsRun(
      wsOurs({ engine: "rfc6455", handshakeTimeout: HEAD_TIMEOUT }),
      (t, s) => ws.slowHeads(t, s, { connections: 1000 }),
    ),
    ws: wsRun(() => startWs({}), (t, s) => ws.slowHeads(t, s, { connections: 1000 })),
  },
  {
    row: 14,
    sub: "b",
    module: "native websocket",
    attack: `1000 connections trickling an unfinished HTTP head (handshakeTimeout ${
      HEAD_TIMEOUT / 1000
    } s)`,
    ours: wsRun(
      wsOurs({ engine: "native", handshakeTimeout: HEAD_TIMEOUT }),
      (t, s) => ws.slowHeads(t, s, { connections: 1000 }),
    ),
  },
  {
    row: 14,
    sub: "c",
    module: "webrtc master",
    attack: `1000 connections trickling an unfinished HTTP head (master defaults: serveHttp's ${
      MASTER_HEAD_TIMEOUT / 1000
    } s head timeout)`,
    ours: {
      // The master has no option for its head timeout: the attack outlasts the default.
      ms: MASTER_HEAD_TIMEOUT + 1_500,
      start: webrtcMaster(),
      probe: ping,
      attack: (s, signal) => {
        const url = new URL(s.info.url as string);
        return ws.slowHeads({ hostname: url.hostname, port: Number(url.port) }, signal, {
          connections: 1000,
        });
      },
      outcome: (s, r) => `attacker saw ${counted(r?.outcomes)}; ${webrtcOutcome(s)}`,
    },
  },
  {
    row: 15,
    sub: "a",
    module: "websocket (serve() default)",
    attack: "40 connections × 63 MiB frames against the 16 MiB limit",
    ours: wsRun(wsOurs({}), (t, s) => ws.oversizeFrames(t, s, { connections: 40 })),
    ws: wsRun(() => startWs({}), (t, s) => ws.oversizeFrames(t, s, { connections: 40 })),
  },
  {
    row: 15,
    sub: "b",
    module: "websocket (serve() default)",
    attack: "40 connections × 63 MiB unmasked frames (RFC 6455 §5.1 forbids them)",
    ours: wsRun(wsOurs({}), (t, s) => ws.oversizeFrames(t, s, { connections: 40, masked: false })),
    ws: wsRun(
      () => startWs({}),
      (t, s) => ws.oversizeFrames(t, s, { connections: 40, masked: false }),
    ),
  },
  {
    row: 15,
    sub: "c",
    module: "native websocket",
    attack: "40 connections × 63 MiB frames against the 16 MiB limit",
    ours: wsRun(
      wsOurs({ engine: "native" }),
      (t, s) => ws.oversizeFrames(t, s, { connections: 40 }),
    ),
  },
  {
    row: 16,
    module: "framed",
    attack:
      "3000 connections stalled inside a frame header + 2000 idle (timeouts scaled to 1 s / 2 s)",
    ours: {
      start: framedServer({ app: "slow", options: { messageTimeout: 1000, idleTimeout: 2000 } }),
      probe: (s) => ({ probe: probeOf(targetOf(s)) }),
      attack: (s, signal) =>
        framed.stalledHeaderFlood(targetOf(s), signal, { stalled: 3000, idle: 2000 }),
      outcome: (s, r) =>
        framedOutcome(
          s,
          (r?.stalled.closedByServer ?? 0) + (r?.idle.closedByServer ?? 0),
          (r?.stalled.opened ?? 0) + (r?.idle.opened ?? 0),
        ),
    },
  },
  {
    row: 17,
    module: "enet",
    attack: "forged CONNECT flood at 30 k/s from 64 loopback sources",
    ours: {
      start: enetApp("echo"),
      probe: (s) => enetProbe(s, "probe"),
      attack: (s, signal) =>
        enet.connectFlood({ hostname: s.info.hostname as string, port: s.info.port as number }, {
          perSecond: 30_000,
          signal,
        }),
      outcome: (s, r) =>
        `${r?.sent ?? 0} CONNECTs at ${r?.rate ?? 0}/s; most peers at once ${
          Math.max(0, ...enetStats(s).map((x) => x.peers))
        } (forged ones never become peers)`,
    },
  },
  {
    row: 18,
    module: "enet",
    attack: "30 peers blasting 1 KB reliable packets at an app that takes 20 ms per packet",
    ours: {
      start: enetApp("slow"),
      probe: (s) => enetProbe(s, "ping"),
      probeDelayMs: quick ? 500 : 1500,
      attack: (s, signal) =>
        enet.blastPeers({ hostname: s.info.hostname as string, port: s.info.port as number }, {
          peers: 30,
          size: 1024,
          signal,
        }),
      outcome: (s, r: enet.BlasterResult[] | undefined) => {
        const stats = enetStats(s);
        return `blasters ${tally((r ?? []).map((b) => b.outcome))}, ${
          (r ?? []).reduce((n, b) => n + b.written, 0)
        } written; waiting ≤ ${
          stats.some((x) => typeof x.waitingData === "number")
            ? (Math.max(...stats.map((x) => x.waitingData ?? 0)) / 2 ** 20).toFixed(1)
            : "?"
        } MiB, gaps ${stats.at(-1)?.gaps ?? "?"}`;
      },
    },
  },
];

// ------------------------------------------------------------------------------ --before

/** Checks `rev` out into a temporary worktree with today's server scripts in it. */
async function checkoutBefore(rev: string): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "netkit-redteam-before-" });
  const git = async (...gitArgs: string[]) => {
    const { code, stderr } = await new Deno.Command("git", {
      args: gitArgs,
      cwd: repo.pathname,
      stdout: "null",
    })
      .output();
    if (code !== 0) {
      throw new Error(`git ${gitArgs.join(" ")}: ${new TextDecoder().decode(stderr)}`);
    }
  };
  await Deno.remove(dir);
  await git("worktree", "add", "--detach", dir, rev);
  // Today's server scripts and the helpers they import, over whatever the old tree had.
  await Deno.mkdir(`${dir}/tests/redteam`, { recursive: true });
  for (
    const [from, to] of [["tests/redteam/servers", "tests/redteam/"], ["tests/_certs.ts", "tests/"]]
  ) {
    const { code } = await new Deno.Command("cp", {
      args: ["-r", new URL(from, repo).pathname, `${dir}/${to}`],
    }).output();
    if (code !== 0) throw new Error(`could not copy ${from}`);
  }
  // The head-limited HTTP front is newer than the hardening: load it only when a row asks for it.
  const script = `${dir}/tests/redteam/servers/websocket_server.ts`;
  const text = await Deno.readTextFile(script);
  await Deno.writeTextFile(
    script,
    text.replace(/^import \{ serveHttp \} from "([^"]+)";$/m, "").replace(
      "const http = serveHttp(",
      'const { serveHttp } = await import("../../../websocket/_http_front.ts");\n  const http = serveHttp(',
    ),
  );
  // The mesh attackers and probes import mesh/ itself: copies in the old tree use its protocol.
  await Deno.mkdir(`${dir}/tests/redteam/attacks`, { recursive: true });
  for (const path of ["tests/redteam/_harness.ts", "tests/redteam/mesh_common.ts"]) {
    await Deno.copyFile(new URL(path, repo), `${dir}/${path}`);
  }
  let attacks = await Deno.readTextFile(new URL("tests/redteam/attacks/mesh.ts", repo));
  const hasFragments = await Deno.stat(`${dir}/mesh/_fragment.ts`).then(() => true, () => false);
  if (!hasFragments) {
    // Before FRAGMENT and CLOSE frames (protocol 1): frames go whole, and no CLOSE arrives.
    attacks = attacks.replace(
      'import { fragment } from "../../../mesh/_fragment.ts";',
      "const fragment = (frame: Uint8Array): Uint8Array[] => [frame];\nconst KIND_CLOSE = -1;",
    ).replace("  KIND_CLOSE,\n", "");
  }
  await Deno.writeTextFile(`${dir}/tests/redteam/attacks/mesh.ts`, attacks);
  return {
    dir,
    [Symbol.asyncDispose]: () => git("worktree", "remove", "--force", dir),
  };
}

// ------------------------------------------------------------------------------ main

function formatCell(cell: Cell | string | undefined): [string, string, string] {
  if (cell === undefined) return ["—", "—", "no such surface"];
  if (typeof cell === "string") return ["—", "—", cell];
  const rss = cell.stopped
    ? `>${RSS_GUARD / 2 ** 20} MiB, stopped`
    : `${cell.rssMiB} MiB${cell.alive ? "" : ", died"}`;
  const share = `${
    Math.round(cell.probes.share * 100)
  } % (${cell.probes.answered}/${cell.probes.sent})`;
  return [rss, share, cell.outcome.replaceAll("|", "/")];
}

// deno-lint-ignore no-explicit-any
async function runCell(label: string, run: Run<any, any>): Promise<Cell | string> {
  try {
    const cell = await measure(run);
    const [rss, share, outcome] = formatCell(cell);
    console.log(
      `  ${label.padEnd(24)} ${rss}, probes ${share}, ${outcome} (${cell.seconds.toFixed(1)} s)`,
    );
    return cell;
  } catch (error) {
    const message = `did not run: ${(error as Error)?.message?.split("\n")[0] ?? error}`;
    console.log(`  ${label.padEnd(24)} ${message}`);
    return message;
  }
}

await using before = beforeRev ? await checkoutBefore(beforeRev) : undefined;
const today = { root: repo, mesh, meshCommon };
const old = before && {
  root: new URL(`file://${before.dir}/`),
  mesh: await import(new URL(`file://${before.dir}/tests/redteam/attacks/mesh.ts`).href),
  meshCommon: await import(new URL(`file://${before.dir}/tests/redteam/mesh_common.ts`).href),
};
/** Points the server scripts and the mesh attackers at one tree. */
function use(kit: typeof today): void {
  ({ root, mesh, meshCommon } = kit);
}
const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ").slice(0, 3)
  .join(" ");
const startedAll = performance.now();
console.log(
  `red team: ${quick ? "quick, " : ""}${MS / 1000} s per attack${
    beforeRev ? `, ours at ${beforeRev} and at this tree` : ""
  }; load average ${load} on ${navigator.hardwareConcurrency} cores`,
);
const table: string[] = [];
for (const spec of rows) {
  if (wantedRows.size > 0 && !wantedRows.has(spec.row)) continue;
  const id = `${spec.row}${spec.sub ?? ""}`;
  console.log(`row ${id} (${spec.module}): ${spec.attack}`);
  const cells: string[] = [];
  if (old) {
    use(old);
    cells.push(...formatCell(await runCell(`ours @${beforeRev}`, spec.ours)));
    use(today);
  }
  cells.push(...formatCell(await runCell("ours", spec.ours)));
  cells.push(
    ...(spec.ws ? formatCell(await runCell("ws (Node)", spec.ws)) : spec.sub && spec.sub !== "a" &&
        rows.some((r) => r.row === spec.row && r.ws)
      ? ["", "", `(see ${spec.row}a)`]
      : ["—", "—", "no such surface"]),
  );
  table.push(`| ${id} | ${spec.module} | ${spec.attack} | ${cells.join(" | ")} |`);
}
console.log(
  `\n${table.length} rows in ${((performance.now() - startedAll) / 1000).toFixed(0)} s; ` +
    `probes: a well-behaved client every 100 ms, answered within 1 s; RSS: the server process's peak\n`,
);
const systems = [...(beforeRev ? [`ours @${beforeRev}`] : []), "ours", "ws"];
console.log(
  `| row | module | attack | ${
    systems.map((name) => `${name} peak RSS | ${name} probes ≤ 1 s | ${name} outcome`).join(" | ")
  } |`,
);
console.log(`|---|---|---|${systems.map(() => "---|---|---|").join("")}`);
for (const line of table) console.log(line);
