/**
 * Directories and masters sharing a cluster, on NATS (JetStream KV) and on Redis:
 *
 * - `reserve()` per second under contention: 4 cluster connections × 8 concurrent callers on one
 *   entry for 2 s, against the engine's own minimal atomic seat counter at the same concurrency
 *   (Redis: one `EVAL` of "INCR if below capacity"; NATS: `kv.get` + `kv.update` at the revision)
 *   — the ratio is what the directory's JSON record, liveness check and change notice cost.
 * - kill -9 of a registering process → `"removed"` seen by a watcher (median of 3; the bound is
 *   the default 5 s timeout).
 * - WebRTC set-up through two masters vs one: a Deno client (node-datachannel) opens a data
 *   channel to a slave registered at the same master, or at another master of the cluster
 *   (signalling relayed over the engine); `createDataChannel()` → open, median of 3.
 *
 * `deno task bench directory`
 *
 * @module
 */

import { Redis } from "ioredis";
import { connect as connectNats } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { type Cluster, connectCluster, type DirectoryChange } from "../cluster/mod.ts";
import { figure } from "./_report.ts";
import {
  type EngineKind,
  hasEngine,
  startDirectoryEngine,
} from "../tests/cluster_peers/directory_engines.ts";

const CONNECTIONS = 4;
const CALLERS = 8;
const SECONDS = 2;
const RUNS = 3;
const peers = new URL("../tests/cluster_peers/", import.meta.url).pathname;

const median = (values: number[]) =>
  values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];

/** Runs `op` in CONNECTIONS × CALLERS loops for SECONDS; returns successful ops per second. */
async function hammer(ops: (() => Promise<boolean>)[]): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    ops.flatMap((op) =>
      Array.from({ length: CALLERS }, async () => {
        while (performance.now() < end) if (await op()) done++;
      })
    ),
  );
  return done / ((performance.now() - started) / 1000);
}

async function reservePerSecond(url: string): Promise<number> {
  const clusters: Cluster[] = [];
  for (let i = 0; i < CONNECTIONS; i++) clusters.push(await connectCluster(url));
  try {
    const owner = clusters[0].directory("bench");
    await owner.register({
      id: "hot",
      address: { hostname: "127.0.0.1", port: 1 },
      capacity: 2 ** 31 - 1,
    });
    const directories = clusters.map((c) => c.directory("bench"));
    await Promise.all(directories.map((d) => d.get("hot")));
    const rate = await hammer(directories.map((d) => () => d.reserve("hot")));
    await owner.unregister("hot");
    return rate;
  } finally {
    for (const cluster of clusters) await cluster.close();
  }
}

const SEAT_LUA = `local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then redis.call('INCR', KEYS[1]) return 1 end return 0`;

async function baselinePerSecond(kind: EngineKind, url: string): Promise<number> {
  const { hostname, port } = new URL(url);
  if (kind === "redis") {
    const clients = Array.from({ length: CONNECTIONS }, () => new Redis(Number(port), hostname));
    try {
      return await hammer(
        clients.map((r) => async () => (await r.eval(SEAT_LUA, 1, "seat", 2 ** 31 - 1)) === 1),
      );
    } finally {
      for (const r of clients) r.disconnect();
    }
  }
  const connections = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => connectNats({ servers: `${hostname}:${port}` })),
  );
  try {
    const kvs = await Promise.all(connections.map((nc) => new Kvm(nc).create("baseline")));
    await kvs[0].put("seat", "0");
    return await hammer(kvs.map((kv) => async () => {
      const entry = await kv.get("seat");
      if (!entry) return false;
      try {
        await kv.update("seat", String(Number(entry.string()) + 1), entry.revision);
        return true;
      } catch {
        return false; // lost the race: retried by the loop
      }
    }));
  } finally {
    for (const nc of connections) await nc.close();
  }
}

function spawn(script: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", peers + script, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env,
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    child,
    async line(): Promise<Record<string, unknown>> {
      while (!buffer.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`${script} ended`);
        buffer += value;
      }
      const at = buffer.indexOf("\n");
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      return JSON.parse(line);
    },
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}

async function killToRemoved(url: string): Promise<number> {
  await using cluster = await connectCluster(url);
  const games = cluster.directory("game");
  const abort = new AbortController();
  let removedAt = 0;
  const added = Promise.withResolvers<void>();
  const removed = Promise.withResolvers<void>();
  const watching = (async () => {
    for await (
      const change of games.watch({ signal: abort.signal }) as AsyncIterable<DirectoryChange>
    ) {
      if (change.type === "added") added.resolve();
      if (change.type === "removed") {
        removedAt = performance.now();
        removed.resolve();
      }
    }
  })();
  const holder = spawn("directory_peer.ts", [url, "hold", "doomed"]);
  await holder.line();
  await added.promise;
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const killedAt = performance.now();
  await holder.stop();
  await removed.promise;
  abort.abort();
  await watching;
  return removedAt - killedAt;
}

async function rtcOpen(url: string, masters: 1 | 2): Promise<number> {
  const a = spawn("rtc_master.ts", [url]);
  const b = masters === 2 ? spawn("rtc_master.ts", [url]) : a;
  const started: { stop(): Promise<void> }[] = masters === 2 ? [a, b] : [a];
  try {
    const urlA = `ws://127.0.0.1:${(await a.line()).port}`;
    const urlB = masters === 2 ? `ws://127.0.0.1:${(await b.line()).port}` : urlA;
    // A fresh name each run: a killed master's slaves stay listed up to the 5 s timeout.
    const name = `eu-${crypto.randomUUID().slice(0, 8)}`;
    const slave = spawn("rtc_slave.ts", [name, urlA]);
    started.push(slave);
    await slave.line();
    const client = spawn("rtc_client.ts", [name, "10", urlB], { RTC_ONCE: "1" });
    started.push(client);
    const result = await client.line();
    if (result.echoed !== 10) throw new Error(`echoed ${result.echoed}`);
    return result.openMs as number;
  } finally {
    for (const process of started.reverse()) await process.stop();
  }
}

const rows: string[] = [];
for (const kind of ["nats", "redis"] as EngineKind[]) {
  if (!hasEngine(kind)) {
    console.log(`${kind}: not installed, skipped`);
    continue;
  }
  await using engine = await startDirectoryEngine(kind);
  const reserve = await reservePerSecond(engine.url);
  const baseline = await baselinePerSecond(kind, engine.url);
  const removals: number[] = [];
  for (let i = 0; i < RUNS; i++) removals.push(await killToRemoved(engine.url));
  const one: number[] = [];
  const two: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    one.push(await rtcOpen(engine.url, 1));
    two.push(await rtcOpen(engine.url, 2));
  }
  rows.push(
    `| ${kind} | ${reserve.toFixed(0)} | ${baseline.toFixed(0)} | ${
      (reserve / baseline).toFixed(2)
    } | ${median(removals).toFixed(0)} (${removals.map((r) => r.toFixed(0)).join(", ")}) | ${
      median(one).toFixed(1)
    } | ${median(two).toFixed(1)} |`,
  );
  console.log(rows.at(-1));
  figure({
    scenario: `${kind}: reserve() under contention (4 × 8 callers)`,
    unit: "ops/s",
    better: "higher",
    ours: reserve,
    peers: { [`${kind}'s own atomic counter`]: baseline },
  });
  figure({
    scenario: `${kind}: kill -9 of a registering process → "removed" everywhere`,
    unit: "ms",
    better: "lower",
    ours: median(removals),
    peers: { "master-server lists (30 s)": 30_000 },
    quoted: ["master-server lists (30 s)"],
  });
  figure({
    scenario: `${kind}: WebRTC channel open through two masters (vs one)`,
    unit: "ms",
    better: "lower",
    ours: median(two),
    peers: { "one master": median(one) },
  });
}
console.log(
  `\n| engine | reserve()/s (4×8 callers) | raw atomic counter/s | ratio | kill -9 → removed, ms (median; runs) | channel open, 1 master, ms | channel open, 2 masters, ms |`,
);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const row of rows) console.log(row);
