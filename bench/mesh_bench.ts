/**
 * mesh/ benchmark: broadcast messages/s to all members at N = 4, 10, 30 (one
 * process per member) and time to a full mesh for N = 10, 30 members joining
 * at the same moment, next to net-peer's figures measured on this kind of
 * machine (net-peer is not on npm, so it cannot run here side by side).
 *
 * `deno task bench mesh` (append `quick` for smaller counts).
 *
 * @module
 */

import { joinMesh } from "../mesh/mod.ts";
import { Cluster, freePorts } from "../tests/mesh_peers/cluster.ts";
import { figure, quick as quickRun } from "./_report.ts";

const quick = Deno.args.includes("quick") || quickRun;
const only = Deno.args.find((a) => a.startsWith("n="))?.slice(2).split(",").map(Number);
const skipJoin = Deno.args.includes("nojoin");
const skipBroadcast = Deno.args.includes("nobroadcast");
const NET_PEER_BROADCAST: Record<number, number> = { 4: 73_000, 10: 13_000, 30: 2_000 };
const NET_PEER_JOIN_MS = 100;

function progress(text: string): void {
  console.log(`  … ${text}`);
}

async function startMesh(
  count: number,
  together: boolean,
): Promise<{ cluster: Cluster; joinMs: number }> {
  const ports = freePorts(count);
  const cluster = new Cluster();
  const members = ports.map((port, i) => {
    const others = ports.filter((p) => p !== port);
    const seeds = together
      ? [0, 1].map(() => ({
        hostname: "127.0.0.1",
        port: others[Math.floor(Math.random() * others.length)],
      }))
      : i === 0
      ? []
      : [{ hostname: "127.0.0.1", port: ports[0] }];
    return cluster.add(`m${i}`, {
      port,
      seeds,
      waitForGo: true,
      fullAt: count - 1,
      timeout: 30_000,
    });
  });
  progress(`${count} processes starting`);
  await Promise.all(members.map((m) => m.waitFor((e) => e.ev === "ready", 60_000)));
  const go = performance.now();
  if (together) {
    await Promise.all(members.map((m) => m.command({ cmd: "go" })));
  } else {
    await members[0].command({ cmd: "go" });
    await members[0].waitFor((e) => e.ev === "joined", 10_000);
    await Promise.all(members.slice(1).map((m) => m.command({ cmd: "go" })));
  }
  await Promise.all(members.map((m) => m.waitFor((e) => e.ev === "full", 30_000)));
  return { cluster, joinMs: performance.now() - go };
}

async function broadcastRate(
  count: number,
  messages: number,
): Promise<{ rate: number; ordered: boolean }> {
  const { cluster } = await startMesh(count, false);
  try {
    const [sender, ...receivers] = cluster.members;
    progress(`N=${count}: full mesh, broadcasting ${messages} messages`);
    // Warm up (JIT, socket buffers) with a first untimed round.
    const warmup = Math.min(messages, 20_000);
    await Promise.all(
      receivers.map((m) => m.command({ cmd: "expect", count: warmup, from: sender.name })),
    );
    await sender.command({ cmd: "broadcast", count: warmup, window: 1024 });
    await Promise.all(receivers.map((m) => m.waitFor((e) => e.ev === "received", 120_000)));
    // Every receiver must have forgotten the warm-up's sequence numbers before
    // the new round starts (a command on stdin can lose the race with socket
    // data on a loaded machine).
    const resetMarks = cluster.members.map((m) => m.events.length);
    await Promise.all(cluster.members.map((m) => m.command({ cmd: "reset" })));
    await Promise.all(
      cluster.members.map((m, i) => m.waitFor((e) => e.ev === "reset", 30_000, resetMarks[i])),
    );
    const marks = receivers.map((m) => m.events.length);
    await Promise.all(
      receivers.map((m) => m.command({ cmd: "expect", count: messages, from: sender.name })),
    );
    const t0 = performance.now();
    await sender.command({ cmd: "broadcast", count: messages, window: 1024 });
    const results = await Promise.all(
      receivers.map((m, i) => m.waitFor((e) => e.ev === "received", 120_000, marks[i])),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { rate: messages / seconds, ordered: results.every((r) => r.ordered === true) };
  } finally {
    await cluster[Symbol.asyncDispose]();
  }
}

console.log("mesh/ — broadcast msgs/s delivered to every member (one process per member)");
console.log("| N | mesh/ msgs/s | in order, none lost | net-peer msgs/s (with loss) | ratio |");
console.log("|---|---|---|---|---|");
const rows: string[] = [];
for (const n of skipBroadcast ? [] : only ?? [4, 10, 30]) {
  const messages = quick ? 10_000 : n === 30 ? 50_000 : 200_000;
  const { rate, ordered } = await broadcastRate(n, messages);
  const row = `| ${n} | ${Math.round(rate).toLocaleString("en")} | ${ordered ? "yes" : "NO"} | ${
    NET_PEER_BROADCAST[n].toLocaleString("en")
  } | ${(rate / NET_PEER_BROADCAST[n]).toFixed(1)}× |`;
  rows.push(row);
  console.log(row);
  figure({
    scenario: `broadcast to all, N = ${n}`,
    unit: "msg/s",
    better: "higher",
    ours: rate,
    peers: { "net-peer": NET_PEER_BROADCAST[n] },
    quoted: ["net-peer"],
    note: n === 4
      ? "net-peer's rates are quoted and lose messages; ours are in order, none lost."
      : undefined,
  });
}

console.log(
  "\nmesh/ — time to a full mesh, every member started at the same moment with 2 random seeds",
);
console.log("| N | mesh/ ms (every member sees N-1) | net-peer |");
console.log("|---|---|---|");
for (const n of skipJoin ? [] : only ?? [10, 30]) {
  const { cluster, joinMs } = await startMesh(n, true);
  await cluster[Symbol.asyncDispose]();
  figure({
    scenario: `full mesh after a joint start, N = ${n}`,
    unit: "ms",
    better: "lower",
    ours: joinMs,
    peers: { "net-peer": n === 30 ? NET_PEER_JOIN_MS : null },
    quoted: ["net-peer"],
    note: n === 30
      ? "net-peer's ≈100 ms at N = 30 is quoted and leaves 210 links missing."
      : undefined,
  });
  console.log(
    `| ${n} | ${
      joinMs.toFixed(0)
    } | ≈${NET_PEER_JOIN_MS} ms at N=30 but with holes (210 missing links) |`,
  );
}

// The same join with every member in this one process: the protocol's own
// latency, without 30 cold runtimes competing for 2 cores.
for (const n of skipJoin ? [] : only ?? [30]) {
  const ports = freePorts(n);
  const started = performance.now();
  const members = await Promise.all(ports.map((port, i) => {
    const others = ports.filter((p) => p !== port);
    const seeds = [0, 1].map(() => ({
      hostname: "127.0.0.1",
      port: others[Math.floor(Math.random() * others.length)],
    }));
    return joinMesh({ name: `m${i}`, port, seeds, timeout: 30_000 });
  }));
  while (members.some((m) => m.peers.size < n - 1)) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const ms = performance.now() - started;
  await Promise.all(members.map((m) => m.leave()));
  console.log(`| ${n} (one process) | ${ms.toFixed(0)} | |`);
}
