import assert from "node:assert/strict";
import { Cluster, freePorts } from "./mesh_peers/cluster.ts";

const FAST = {
  heartbeatInterval: 250,
  suspectTimeout: 750,
  deadTimeout: 1500,
  reconnectInterval: 500,
};

Deno.test("20 member processes joining at the same moment through random seeds form a full mesh within 5 s", async () => {
  const count = 20;
  const ports = freePorts(count);
  await using cluster = new Cluster();
  const members = ports.map((port, i) => {
    const others = ports.filter((p) => p !== port);
    const seeds = [0, 1].map(() => ({
      hostname: "127.0.0.1",
      port: others[Math.floor(Math.random() * others.length)],
    }));
    return cluster.add(`m${i}`, {
      ...FAST,
      port,
      seeds,
      waitForGo: true,
      fullAt: count - 1,
      timeout: 10_000,
    });
  });
  // Every process must be up and waiting before the common start.
  await Promise.all(members.map((m) => m.waitFor((e) => e.ev === "ready", 30_000)));
  const go = performance.now();
  await Promise.all(members.map((m) => m.command({ cmd: "go" })));
  await Promise.all(members.map((m) => m.waitFor((e) => e.ev === "full", 5000 + 10_000)));
  const elapsed = performance.now() - go;
  console.log(`full mesh of ${count} after ${elapsed.toFixed(0)} ms`);
  for (const member of members) {
    await member.command({ cmd: "peers" });
    const { names } = await member.waitFor((e) => e.ev === "peers", 2000) as { names: string[] } & {
      ev: string;
    };
    assert.equal(names.length, count - 1, `${member.name} sees ${names.length} peers`);
    assert.ok(!names.includes(member.name));
  }
  assert.ok(elapsed < 5000, `full mesh after ${elapsed.toFixed(0)} ms`);
});
