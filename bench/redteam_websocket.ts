/**
 * The websocket red-team attacks (tests/redteam/attacks/websocket.ts), side
 * by side: our server with each engine, and npm `ws` on Node with the same
 * paths and comparable limits (`maxPayload` 16 MiB like our
 * `maxMessageSize`; everything else `ws`'s and Node's defaults, e.g. the
 * HTTP server's 60 s `headersTimeout`). Each attack runs for a few seconds
 * while a well-behaved client probes the server; the table shows the
 * server's peak RSS, the share of probes answered within 1 s, and how the
 * offenders' connections ended.
 *
 * `deno run -A --unstable-net bench/redteam_websocket.ts [attack...]`
 *
 * @module
 */

import { probeDuring, rssOf, startServer } from "../tests/redteam/_harness.ts";
import {
  type AttackStats,
  type AttackTarget,
  broadcastProbe,
  deflateBomb,
  echoProbe,
  emptyFrameFlood,
  fragmentFlood,
  nonReaders,
  oversizeFrames,
  slowHeads,
} from "../tests/redteam/attacks/websocket.ts";

/** npm `ws` on `node:http`: `/echo` echoes, `/slow` pauses the socket (a stalled app), `/sink` drops. */
const WS_SERVER = `
import http from "node:http";
import { WebSocketServer } from "ws";
const config = JSON.parse(process.argv[1] ?? "{}");
const server = http.createServer((req, res) => res.end("hi"));
const wss = new WebSocketServer({
  server,
  maxPayload: 16 * 1024 * 1024,
  perMessageDeflate: config.deflate ? {} : false,
});
wss.on("connection", (ws, req) => {
  ws.on("error", () => {});
  if (req.url === "/slow") ws.pause();
  else if (req.url === "/echo") ws.on("message", (data, binary) => ws.send(data, { binary }));
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
  if (config.broadcast) {
    const payload = Buffer.alloc(config.broadcast.size, 7);
    setInterval(() => { for (const client of wss.clients) client.send(payload); }, config.broadcast.everyMs);
  }
});
`;

const OUR_SERVER = new URL("../tests/redteam/servers/websocket_server.ts", import.meta.url);

interface Server extends AsyncDisposable {
  port: number;
  maxRss(): number;
  alive(): boolean;
}

async function startOurs(config: Record<string, unknown>): Promise<Server> {
  const server = await startServer(OUR_SERVER, [JSON.stringify(config)]);
  return {
    port: server.info.port as number,
    maxRss: () => server.maxRss,
    alive: () => server.alive(),
    [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
  };
}

async function startWs(config: Record<string, unknown>): Promise<Server> {
  const child = new Deno.Command("node", {
    args: ["--input-type=module", "-e", WS_SERVER, JSON.stringify(config)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the ws server exited before listening");
    text += value;
  }
  const draining = (async () => {
    while (!(await reader.read()).done) { /* keep stdout flowing */ }
  })();
  let running = true;
  const status = child.status.then(() => running = false);
  let maxRss = 0;
  const sampler = setInterval(() => maxRss = Math.max(maxRss, rssOf(child.pid)), 50);
  return {
    port: JSON.parse(text.slice(0, text.indexOf("\n"))).port,
    maxRss: () => Math.max(maxRss, rssOf(child.pid)),
    alive: () => running,
    [Symbol.asyncDispose]: async () => {
      clearInterval(sampler);
      if (running) child.kill("SIGKILL");
      await status;
      await draining.catch(() => {});
    },
  };
}

interface Attack {
  name: string;
  config: Record<string, unknown>;
  ms: number;
  run: (target: AttackTarget, signal: AbortSignal) => Promise<AttackStats>;
  broadcast?: boolean;
}

const attacks: Attack[] = [
  {
    name: "1-byte fragments (row 4)",
    config: {},
    ms: 4_000,
    run: (t, s) => fragmentFlood(t, s, { connections: 4, pieces: 1 << 20 }),
  },
  {
    name: "empty frames, stalled app (row 6)",
    config: { heartbeat: { interval: 1_000, timeout: 1_000 } },
    ms: 4_000,
    run: (t, s) => emptyFrameFlood(t, s, { connections: 10 }),
  },
  {
    name: "deflate bombs 200×3 (row 12)",
    config: { deflate: true },
    ms: 6_000,
    run: (t, s) => deflateBomb(t, s, { connections: 200, messages: 3 }),
  },
  {
    name: "broadcast, 20 non-readers (row 13)",
    config: { broadcast: { size: 128 * 1024, everyMs: 20 } },
    ms: 6_000,
    run: (t, s) => nonReaders(t, s, { connections: 20 }),
    broadcast: true,
  },
  {
    name: "1000 slow heads (row 14)",
    config: { handshakeTimeout: 2_000 },
    ms: 5_000,
    run: (t, s) => slowHeads(t, s, { connections: 1000 }),
  },
  {
    name: "40 × 63 MiB frames (row 15)",
    config: {},
    ms: 4_000,
    run: (t, s) => oversizeFrames(t, s, { connections: 40 }),
  },
  {
    name: "40 × 63 MiB unmasked (row 15)",
    config: {},
    ms: 4_000,
    run: (t, s) => oversizeFrames(t, s, { connections: 40, masked: false }),
  },
];

const systems: [string, (config: Record<string, unknown>) => Promise<Server>][] = [
  ["ours rfc6455", (config) => startOurs({ ...config, engine: "rfc6455" })],
  ["ours native", (config) => startOurs({ ...config, engine: "native" })],
  ["ws (Node)", startWs],
];

const only = Deno.args;
const rows: string[] = [];
for (const attack of attacks) {
  if (only.length > 0 && !only.some((word) => attack.name.includes(word))) continue;
  const cells: string[] = [];
  for (const [name, start] of systems) {
    // The harness kills nothing on its own: a server past 2 GiB is stopped to spare the machine.
    await using server = await start(attack.config);
    const guard = setInterval(() => {
      if (server.maxRss() > 2 * 2 ** 30) void server[Symbol.asyncDispose]();
    }, 100);
    const target = { hostname: "127.0.0.1", port: server.port };
    const prober = attack.broadcast
      ? await broadcastProbe(`ws://127.0.0.1:${server.port}/sink`)
      : { probe: echoProbe(`ws://127.0.0.1:${server.port}/echo`) };
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), attack.ms);
    const [stats, probes] = await Promise.all([
      attack.run(target, stop.signal),
      probeDuring(prober.probe, stop.signal),
    ]);
    clearTimeout(timer);
    clearInterval(guard);
    await (prober as Partial<AsyncDisposable>)[Symbol.asyncDispose]?.();
    const rss = Math.round(server.maxRss() / 2 ** 20);
    const outcomes = Object.entries(stats.outcomes).map(([k, v]) => `${k}×${v}`).join(" ");
    const cell = `${rss} MiB, ${Math.round(probes.share * 100)} %${
      server.alive() ? "" : ", died"
    }, ${outcomes}`;
    console.log(`${attack.name.padEnd(36)} ${name.padEnd(13)} ${cell}`);
    cells.push(cell);
  }
  rows.push(`| ${attack.name} | ${cells.join(" | ")} |`);
}
console.log(
  "\nper server: peak RSS, probes answered within 1 s, offenders' outcomes (close code, http status, eof, open)",
);
console.log(`| attack | ${systems.map(([name]) => name).join(" | ")} |`);
console.log(`|---|${systems.map(() => "---").join("|")}|`);
for (const row of rows) console.log(row);
