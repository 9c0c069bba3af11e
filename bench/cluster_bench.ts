/**
 * Room fan-out across three server processes, side by side in one run:
 * netkit rooms (`serve({ cluster })`) on NATS and on Redis, each with the
 * `rfc6455` and the `native` websocket engine, against the anchor socket.io 4
 * + `@socket.io/redis-adapter` 8 under Node on Redis.
 *
 * Each system runs three server processes on one engine process and 100
 * room members (spread over the three servers) in four Node processes (npm
 * `ws` for netkit, `socket.io-client` for socket.io; both hand each member
 * its text as a string, and the same harness counts them). Server 0 publishes N
 * messages to the room; the rate is messages delivered per second (N × 100
 * over the time until every member has all N; best round) and the CPU time
 * of every process involved per delivered message (servers, engine and
 * clients, from /proc; median round), which is steadier on a busy machine.
 * Sizes 64 B and 1 KiB.
 *
 * `deno task bench cluster`
 *
 * @module
 */

import { io, type Socket } from "socket.io-client";
import { connect, type WebSocketConnection } from "../websocket/mod.ts";
import { type EngineKind, hasEngine, startEngine } from "../tests/cluster_peers/engines.ts";
import { figure } from "./_report.ts";

const MEMBERS = 100;
/** Node processes the members are spread over, so that receiving is not the bottleneck. */
const CLIENT_PROCESSES = 4;
const SERVERS = 3;
const N = 1_000;
const ROUNDS = 5;
const SIZES = [64, 1024];
const ROOM_SERVER = new URL("../tests/cluster_peers/room_server.ts", import.meta.url).pathname;
const SOCKETIO_SERVER = new URL("./_cluster_socketio_server.mjs", import.meta.url).pathname;
const CLIENTS = new URL("./_cluster_clients.mjs", import.meta.url).pathname;

/**
 * CPU seconds (user + system) a process has used so far, from /proc (0 where
 * unavailable). Read through `cat`: Deno reads /proc only with --allow-all,
 * and `deno task bench` runs with narrower permissions.
 */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const { code, stdout } = new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stderr: "null" })
    .outputSync();
  if (code !== 0) return 0;
  const fields = new TextDecoder().decode(stdout).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks
}

/** Reads stdout lines of a child process. */
function lineReader(child: Deno.ChildProcess) {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next(): Promise<string> {
      while (!buffer.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("process ended");
        buffer += value;
      }
      const at = buffer.indexOf("\n");
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      return line;
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

function spawn(command: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineReader(child);
  const writer = child.stdin.getWriter();
  return {
    pid: child.pid,
    lines,
    write: (line: string) => writer.write(new TextEncoder().encode(line + "\n")),
    async stop() {
      try {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 2_000);
        await child.status;
        clearTimeout(timer);
      } catch { /* gone */ }
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await writer.close().catch(() => {});
      await lines.cancel();
    },
  };
}

/** One system under test: its servers, and how server 0 publishes. */
interface System {
  ports: number[];
  /** Process ids of the servers and the engine, for CPU accounting. */
  pids: number[];
  publish(n: number, size: number): Promise<void>;
  count(): Promise<number>;
  stop(): Promise<void>;
}

async function netkitSystem(
  url: string,
  enginePid: number,
  wsEngine: "native" | "rfc6455",
): Promise<System> {
  const servers: { server: ReturnType<typeof spawn>; port: number }[] = [];
  for (let i = 0; i < SERVERS; i++) {
    // NETKIT_CPU_PROF=dir profiles the servers (`deno run --cpu-prof`).
    const prof = Deno.env.get("NETKIT_CPU_PROF");
    const flags = prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : [];
    const server = spawn(Deno.execPath(), ["run", "-A", ...flags, ROOM_SERVER, url], {
      NETKIT_WS_ENGINE: wsEngine,
    });
    const { port } = JSON.parse(await server.lines.next());
    servers.push({ server, port });
  }
  const control: WebSocketConnection = await connect(`ws://127.0.0.1:${servers[0].port}/control`);
  const replies = control.readable.getReader();
  const run = async (command: object) => {
    await control.send(JSON.stringify(command));
    return JSON.parse((await replies.read()).value as string).result;
  };
  return {
    ports: servers.map((s) => s.port),
    pids: [...servers.map((s) => s.server.pid), enginePid],
    publish: async (n, size) => {
      // `${from}:${i}` plus padding: about `size` bytes each.
      await run({ op: "send", room: "bench", from: "p", n, size: size - 6 });
    },
    count: () => run({ op: "count", room: "bench" }),
    async stop() {
      replies.releaseLock();
      await control.close().catch(() => {});
      for (const { server } of servers) await server.stop();
    },
  };
}

async function socketioSystem(url: string, enginePid: number): Promise<System> {
  const servers: { server: ReturnType<typeof spawn>; port: number }[] = [];
  for (let i = 0; i < SERVERS; i++) {
    const server = spawn("node", [SOCKETIO_SERVER, url]);
    const { port } = JSON.parse(await server.lines.next());
    servers.push({ server, port });
  }
  const control: Socket = io(`http://127.0.0.1:${servers[0].port}`, {
    transports: ["websocket"],
    query: { role: "control" },
  });
  await new Promise<void>((resolve) => control.once("connect", () => resolve()));
  return {
    ports: servers.map((s) => s.port),
    pids: [...servers.map((s) => s.server.pid), enginePid],
    publish: (n, size) =>
      new Promise<void>((resolve) => control.emit("publish", { n, size: size - 6 }, resolve)),
    count: () => new Promise<number>((resolve) => control.emit("count", resolve)),
    async stop() {
      control.close();
      for (const { server } of servers) await server.stop();
    },
  };
}

/** Per size: messages delivered per second (best round) and CPU µs per delivery (median). */
interface Measured {
  rate: number;
  cpu: number;
}

async function measure(system: System, kind: "netkit" | "socketio"): Promise<Measured[]> {
  const clients = Array.from({ length: CLIENT_PROCESSES }, (_, i) => {
    // Each process connects to the servers in a rotated order, so members stay spread evenly.
    const ports = [...system.ports.slice(i % SERVERS), ...system.ports.slice(0, i % SERVERS)];
    return spawn("node", [CLIENTS, kind, ports.join(","), String(MEMBERS / CLIENT_PROCESSES)]);
  });
  try {
    for (const client of clients) {
      if ((await client.lines.next()) !== "ready") throw new Error("clients failed");
    }
    const until = Date.now() + 15_000;
    while ((await system.count()) !== MEMBERS) {
      if (Date.now() > until) throw new Error("members never all visible");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const pids = [...system.pids, ...clients.map((client) => client.pid)];
    const cpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const results: Measured[] = [];
    for (const size of SIZES) {
      let best = 0;
      const costs: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        for (const client of clients) await client.write(`expect ${N}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        const started = performance.now();
        const cpuBefore = cpu();
        const each = pids.map(cpuSeconds);
        await system.publish(N, size);
        for (const client of clients) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const line = await Promise.race([
            client.lines.next(),
            new Promise<string>((resolve) => timer = setTimeout(() => resolve("timeout"), 30_000)),
          ]);
          clearTimeout(timer);
          if (line !== "done") throw new Error(`${kind} ${size} B: clients said "${line}"`);
        }
        const rate = (N * MEMBERS) / ((performance.now() - started) / 1000);
        best = Math.max(best, rate);
        costs.push(((cpu() - cpuBefore) * 1e6) / (N * MEMBERS));
        if (Deno.env.get("NETKIT_BENCH_DEBUG")) {
          const spent = pids.map((pid, i) => cpuSeconds(pid) - each[i]);
          const sum = (from: number, to: number) =>
            (spent.slice(from, to).reduce((a, b) => a + b, 0) * 1e6 / (N * MEMBERS)).toFixed(2);
          console.log(
            `${kind} ${size} B µs/delivery: servers ${sum(0, SERVERS)} engine ${
              sum(SERVERS, SERVERS + 1)
            } clients ${sum(SERVERS + 1, pids.length)}`,
          );
        }
      }
      costs.sort((a, b) => a - b);
      results.push({ rate: best, cpu: costs[Math.floor(costs.length / 2)] });
    }
    return results;
  } finally {
    for (const client of clients) {
      await client.write("exit").catch(() => {});
      await client.stop();
    }
  }
}

const format = (rate: number) => `${(rate / 1000).toFixed(0)}k/s`;
const results: Record<string, Measured[]> = {};
for (const engine of ["nats", "redis"] as EngineKind[]) {
  if (!hasEngine(engine)) {
    console.log(`${engine}-server not installed: skipped`);
    continue;
  }
  for (const wsEngine of ["rfc6455", "native"] as const) {
    // NETKIT_BENCH_ONLY=redis,rfc6455 runs only the systems whose name has every word.
    const only = Deno.env.get("NETKIT_BENCH_ONLY")?.split(",") ?? [];
    if (!only.every((word) => `${engine} ${wsEngine}`.includes(word))) continue;
    await using server = await startEngine(engine);
    const system = await netkitSystem(server.url, server.pid!, wsEngine);
    try {
      results[`netkit rooms on ${engine}, ${wsEngine} engine`] = await measure(system, "netkit");
    } finally {
      await system.stop();
    }
  }
}
if (hasEngine("redis")) {
  await using server = await startEngine("redis");
  const system = await socketioSystem(server.url, server.pid!);
  try {
    results["socket.io 4 + redis-adapter"] = await measure(system, "socketio");
  } finally {
    await system.stop();
  }
}

const anchor = results["socket.io 4 + redis-adapter"];
console.log(
  `\nRoom fan-out: ${SERVERS} server processes, ${MEMBERS} members in ${CLIENT_PROCESSES} client ` +
    `processes, ${N} messages per round, ${ROUNDS} rounds. Rate: messages delivered per second ` +
    `(best round); CPU: µs of CPU per delivered message, servers + engine + clients (median).\n`,
);
const columns = SIZES.flatMap((s) => [`${s} B rate`, `× anchor`, `${s} B CPU µs`, `× less CPU`]);
console.log(`| system | ${columns.join(" | ")} |`);
console.log(`|---|${columns.map(() => "---:").join("|")}|`);
for (const [name, measured] of Object.entries(results)) {
  const cells = measured.flatMap(({ rate, cpu }, i) => [
    format(rate),
    anchor ? `${(rate / anchor[i].rate).toFixed(2)}×` : "–",
    cpu.toFixed(2),
    anchor ? `${(anchor[i].cpu / cpu).toFixed(2)}×` : "–",
  ]);
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
const ANCHOR = "socket.io 4 + redis-adapter";
const ours = Object.entries(results).filter(([name]) => name !== ANCHOR);
SIZES.forEach((size, i) => {
  figure({
    scenario: `room fan-out ${size} B, ${SERVERS} servers, ${MEMBERS} members`,
    unit: "msg/s",
    better: "higher",
    ours: Object.fromEntries(
      ours.map(([name, measured]) => [name.replace("netkit rooms on ", ""), measured[i].rate]),
    ),
    peers: { [ANCHOR]: anchor?.[i].rate ?? null },
  });
  figure({
    scenario: `CPU per delivery ${size} B (servers + engine + clients)`,
    unit: "µs",
    better: "lower",
    ours: Object.fromEntries(
      ours.map(([name, measured]) => [name.replace("netkit rooms on ", ""), measured[i].cpu]),
    ),
    peers: { [ANCHOR]: anchor?.[i].cpu ?? null },
  });
});
Deno.exit(0);
