/**
 * Issue 15, row 5: a flood of zero-length frames (`0x00` bytes) against an
 * app that reads one message a second, and against a fast echo app. Before
 * the pull-only receive, every frame of a read was queued at once (2.78 GB
 * from 6.2 MB, held after the attacker left).
 */
import assert from "node:assert/strict";
import { assertHeld, probeDuring, startServer } from "./_harness.ts";
import { zeroLengthFlood } from "./attacks/framed.ts";
import {
  FRAMED_SERVER,
  mib,
  openConnections,
  probeOf,
  settledRss,
  sleep,
  targetOf,
} from "./framed_probe.ts";

/** The attack runs this long. */
const ATTACK_MS = 4000;
/**
 * RSS the attack may add to the idle server. With the slow app that is what
 * 102 connections hold (each bounded by its queue and receive buffer); the
 * echo app also churns through garbage as fast as the CPU allows, which
 * grows V8's heap, so it gets more room (before the fix it reached 4.6 GB).
 */
const GROWTH_LIMIT = { slow: 64 * 2 ** 20, echo: 192 * 2 ** 20 };

// The slow app is the row as reported (100 connections); the echo app
// processes every empty message at once, so fewer flooders keep the CPU load
// of the shared test machine within what the probe deadline allows.
for (const [app, connections, flooders] of [["slow", 100, 2], ["echo", 10, 1]] as const) {
  Deno.test(
    `a zero-length frame flood is read only as fast as a ${app} app consumes, and memory stays bounded`,
    async () => {
      await using server = await startServer(FRAMED_SERVER, [JSON.stringify({ app })]);
      const target = targetOf(server);
      const baseline = await settledRss(server);
      const stop = AbortSignal.timeout(ATTACK_MS);
      const [many, huge, probes] = await Promise.all([
        zeroLengthFlood(target, stop, { connections, bytesPerConnection: 64 * 1024 }),
        // Connections that keep pushing empty messages (256 MiB each).
        zeroLengthFlood(target, stop, { connections: flooders, bytesPerConnection: 256 * 2 ** 20 }),
        probeDuring(probeOf(target), stop),
      ]);
      const growth = server.maxRss - baseline;
      console.log(
        `${app}: sent ${mib(many.bytesSent + huge.bytesSent)} MiB; server RSS ${
          mib(baseline)
        } → max ${mib(server.maxRss)} MiB; probes ${probes.answered}/${probes.sent}`,
      );
      assertHeld(server, probes, `zero-length flood, ${app} app`);
      assert.equal(many.opened, connections);
      assert.ok(
        growth <= GROWTH_LIMIT[app],
        `the attack grew the server by ${mib(growth)} MiB (limit ${mib(GROWTH_LIMIT[app])})`,
      );
      // The attacker has left: nothing of it is held.
      for (let i = 0; i < 40 && openConnections(server) > 0; i++) await sleep(100);
      assert.equal(openConnections(server), 0, "connections of the attacker are still open");
    },
  );
}
