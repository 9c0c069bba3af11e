/**
 * Issue 15, row 1: one slave's userData updates fanned out to clients that never read. Before
 * the fix the master buffered every update for every client (2.9 GB RSS after 28 MB of updates
 * in 6 s, 1/7 probes answered).
 */
import assert from "node:assert/strict";
import { assertHeld, probeDuring } from "./_harness.ts";
import { listProbe, userDataFanOut } from "./attacks/webrtc.ts";
import { peerErrorsWhen, startMaster } from "./_webrtc.ts";

Deno.test("a slave flooding userData updates to 100 non-reading clients is closed with 1008 ERR_RATE_LIMITED and the master stays bounded", async () => {
  await using server = await startMaster();
  const url = server.info.url as string;
  const attack = AbortSignal.timeout(5000);
  const [stats, probes] = await Promise.all([
    userDataFanOut(url, attack, { clients: 100, userDataSize: 60_000 }),
    probeDuring((signal) => listProbe(url, signal), attack),
  ]);
  console.log("row 1 (flood)", JSON.stringify({ stats, probes, maxRss: server.maxRss }));
  assertHeld(server, probes, "userData flood");
  const errors = await peerErrorsWhen(
    server,
    (e) => e.some((e) => e.role === "slave" && e.code === "ERR_RATE_LIMITED"),
  );
  assert.ok(
    errors.some((e) => e.role === "slave" && e.code === "ERR_RATE_LIMITED" && e.closeCode === 1008),
    `the flooding slave was not closed with ERR_RATE_LIMITED: ${JSON.stringify(errors)}`,
  );
  // The slave still had updates in flight: it sees 1008, or a reset that swallowed the close frame.
  for (const code of Object.keys(stats.slaveCloses)) {
    assert.ok(["1008", "1006", "0"].includes(code));
  }
  assert.ok(!errors.some((e) => e.role === "client"), "a client was closed for the slave's flood");
});

Deno.test("clients that never read are closed with 1013 ERR_SLOW_CONSUMER while slaves update within the rate", async () => {
  await using server = await startMaster({ sendTimeout: 1000, maxSlavesPerAddress: 100 });
  const url = server.info.url as string;
  const attack = AbortSignal.timeout(5000);
  const [stats, probes] = await Promise.all([
    // A send that stalled late in the attack is closed sendTimeout (1 s) after it stalled: the
    // clients go on not reading for 1.5 s after it, and their close codes then get up to 5 s to
    // come through what is buffered before them.
    userDataFanOut(url, attack, {
      clients: 10,
      slaves: 16,
      updatesPerSecond: 9,
      settleMs: 1500,
      drainMs: 5000,
    }),
    probeDuring((signal) => listProbe(url, signal), attack),
  ]);
  console.log("row 1 (slow readers)", JSON.stringify({ stats, probes, maxRss: server.maxRss }));
  assertHeld(server, probes, "slow readers");
  assert.deepEqual(stats.clientCloses, { "1013": 10 });
  const errors = await peerErrorsWhen(
    server,
    (e) => e.filter((e) => e.role === "client" && e.code === "ERR_SLOW_CONSUMER").length >= 10,
  );
  // The 10 that never read, and at most a probe or two that was closing under 8.6 MB/s of
  // updates when the (deliberately short) sendTimeout of 1 s ran out.
  const slow = errors.filter((e) => e.role === "client" && e.code === "ERR_SLOW_CONSUMER");
  assert.ok(slow.length >= 10 && slow.length <= 12, JSON.stringify(errors));
  assert.ok(!errors.some((e) => e.role === "slave"), "a slave within the rate was closed");
});
