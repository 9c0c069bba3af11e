import assert from "node:assert/strict";
import { Cluster, freePorts, type MemberProcess } from "./mesh_peers/cluster.ts";

const DETECTION = {
  heartbeatInterval: 200,
  suspectTimeout: 600,
  deadTimeout: 1200,
  reconnectInterval: 300,
};

Deno.test("members killed with SIGKILL are reported as timed out, the rest keeps working and a restarted member rejoins", async (t) => {
  const count = 6;
  const ports = freePorts(count);
  await using cluster = new Cluster();
  const seed = { hostname: "127.0.0.1", port: ports[0] };
  const start = (i: number, port: number): MemberProcess =>
    cluster.add(`m${i}`, {
      ...DETECTION,
      port,
      seeds: i === 0 ? [] : [seed],
      fullAt: count - 1,
    });
  const members = [start(0, ports[0])];
  await members[0].waitFor((e) => e.ev === "joined", 30_000);
  for (let i = 1; i < count; i++) members.push(start(i, ports[i]));
  await Promise.all(members.map((m) => m.waitFor((e) => e.ev === "full", 30_000)));

  const victims = [members[2], members[4]];
  const survivors = members.filter((m) => !victims.includes(m));

  await t.step(
    'the survivors report peerleave "timeout" for both within the detection time',
    async () => {
      const marks = survivors.map((m) => m.events.length);
      const killed = performance.now();
      await Promise.all(victims.map((v) => v.kill()));
      // deadTimeout, plus one tick and one heartbeat of slack for a loaded machine.
      const allowed = DETECTION.deadTimeout + DETECTION.heartbeatInterval + 1000;
      await Promise.all(survivors.flatMap((m, i) =>
        victims.map((v) =>
          m.waitFor(
            (e) => e.ev === "peerleave" && e.name === v.name && e.reason === "timeout",
            allowed,
            marks[i],
          )
        )
      ));
      const took = performance.now() - killed;
      assert.ok(
        took >= DETECTION.deadTimeout - 100,
        `declared dead after only ${took.toFixed(0)} ms`,
      );
      for (const m of survivors) {
        await m.command({ cmd: "peers" });
        const { names } = await m.waitFor((e) => e.ev === "peers", 2000, m.events.length) as {
          names: string[];
          ev: string;
        };
        assert.equal(names.length, survivors.length - 1);
      }
    },
  );

  await t.step("the remaining mesh still delivers every broadcast in order", async () => {
    const marks = survivors.map((m) => m.events.length);
    await Promise.all(survivors.map((m) => m.command({ cmd: "expect", count: 500 })));
    await Promise.all(survivors.map((m) => m.command({ cmd: "broadcast", count: 500 })));
    const results = await Promise.all(
      survivors.map((m, i) => m.waitFor((e) => e.ev === "received", 20_000, marks[i])),
    );
    for (const result of results) assert.equal(result.ordered, true);
  });

  await t.step(
    "killed members restarted with the same name (on a new port and on the old one) rejoin",
    async () => {
      const marks = survivors.map((m) => m.events.length);
      const restarted = victims.map((victim, i) =>
        cluster.add(victim.name, {
          ...DETECTION,
          port: i === 0 ? 0 : ports[members.indexOf(victim)],
          seeds: [{ hostname: "127.0.0.1", port: ports[1] }],
          fullAt: count - 1,
        })
      );
      await Promise.all(restarted.map((m) => m.waitFor((e) => e.ev === "full", 20_000)));
      await Promise.all(
        survivors.flatMap((m, i) =>
          victims.map((v) =>
            m.waitFor((e) => e.ev === "peerjoin" && e.name === v.name, 10_000, marks[i])
          )
        ),
      );
    },
  );
});
