/**
 * Issue 15, row 16: connections stalled inside a frame header, and idle
 * connections. Before, both were held with no limit (`idleTimeout` defaulted
 * to 0, no partial-message timeout) at 72 KiB of RSS per idle connection.
 */
import assert from "node:assert/strict";
import { assertHeld, probeDuring, startServer } from "./_harness.ts";
import { newStalledStats, stalledHeaderFlood } from "./attacks/framed.ts";
import {
  closedReports,
  FRAMED_SERVER,
  mib,
  openConnections,
  probeOf,
  settledRss,
  sleep,
  targetOf,
} from "./framed_probe.ts";

/** Idle connections cost at most this much RSS each (issue 15). */
const IDLE_RSS_LIMIT = 16 * 1024;

Deno.test("an idle connection costs the server at most 16 KiB of RSS", async () => {
  await using server = await startServer(FRAMED_SERVER, [JSON.stringify({ app: "slow" })]);
  const target = targetOf(server);
  // The cost is measured at the margin: 2000 idle connections on top of 500 already open, so the
  // baseline already holds what does not grow with the count (V8's heap growth on the first
  // accepts, the shared sweep). Measured from an empty server, the same code read 12.6-16.1 KiB
  // (16.1 failed once in a full `deno task test` run); at the margin 13.4-14.6 KiB so far.
  const base = 500;
  const count = 2000;
  const holdBase = new AbortController();
  const stop = new AbortController();
  const warm = stalledHeaderFlood(target, holdBase.signal, { stalled: 0, idle: base });
  for (let i = 0; i < 100 && openConnections(server) < base; i++) await sleep(100);
  assert.equal(openConnections(server), base, "every baseline connection was accepted");
  const baseline = await settledRss(server, 10);
  const attack = stalledHeaderFlood(target, stop.signal, { stalled: 0, idle: count });
  for (let i = 0; i < 100 && openConnections(server) < base + count; i++) await sleep(100);
  assert.equal(openConnections(server), base + count, "every idle connection was accepted");
  const loaded = await settledRss(server, 10);
  stop.abort();
  holdBase.abort();
  await Promise.all([attack, warm]);
  const perConnection = (loaded - baseline) / count;
  console.log(
    `RSS ${mib(baseline)} → ${mib(loaded)} MiB with ${count} idle connections over ${base}: ${
      (perConnection / 1024).toFixed(1)
    } KiB each`,
  );
  assert.ok(
    perConnection <= IDLE_RSS_LIMIT,
    `an idle connection costs ${(perConnection / 1024).toFixed(1)} KiB`,
  );
});

Deno.test("stalled headers and idle connections are closed by messageTimeout and idleTimeout", async () => {
  // Scaled down from the defaults (30 s and 120 s) to fit the test.
  const messageTimeout = 1000;
  const idleTimeout = 2000;
  await using server = await startServer(FRAMED_SERVER, [
    JSON.stringify({ app: "slow", options: { messageTimeout, idleTimeout } }),
  ]);
  const target = targetOf(server);
  // The attack ends once the server has closed every connection (opening
  // 5000 takes a while on a loaded machine), or after 10 s at most.
  const stop = new AbortController();
  const cap = setTimeout(() => stop.abort(), 10_000);
  const live = newStalledStats();
  const watching = setInterval(() => {
    const closed = live.stalled.closedByServer + live.idle.closedByServer;
    if (closed === 5000) stop.abort();
  }, 100);
  const [attack, probes] = await Promise.all([
    stalledHeaderFlood(target, stop.signal, { stalled: 3000, idle: 2000 }, live),
    probeDuring(probeOf(target), stop.signal),
  ]);
  clearTimeout(cap);
  clearInterval(watching);
  const { stalled, idle } = attack;
  console.log(
    `stalled: ${stalled.closedByServer}/${stalled.opened} closed by the server (last after ${
      stalled.closeTimes.at(-1)?.toFixed(0)
    } ms); idle: ${idle.closedByServer}/${idle.opened} (last after ${
      idle.closeTimes.at(-1)?.toFixed(0)
    } ms); max RSS ${mib(server.maxRss)} MiB; probes ${probes.answered}/${probes.sent}`,
  );
  assertHeld(server, probes, "stalled headers and idle connections");
  assert.equal(stalled.opened, 3000);
  assert.equal(idle.opened, 2000);
  assert.equal(stalled.closedByServer, stalled.opened, "every stalled connection was closed");
  assert.equal(idle.closedByServer, idle.opened, "every idle connection was closed");
  const reports = closedReports(server);
  const byOption = (option: string) =>
    reports.filter((r) => r.name === "TimeoutError" && r.option === option).length;
  const message = byOption("messageTimeout");
  const idleOnes = byOption("idleTimeout");
  assert.ok(message + idleOnes >= 5000, `timeouts reported: ${message} + ${idleOnes}`);
  // (A stalled one whose two bytes the loaded attacker sent late may go idle first.)
  assert.ok(message >= 2850, `only ${message} stalled connections ended with messageTimeout`);
});
