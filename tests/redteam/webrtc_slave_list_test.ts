/**
 * Issue 15, row 3: 1024 slaves (the default maximum) with 65000 bytes of userData each. Before
 * the fix the whole list went out as one 66.5 MB packet per client (with 65535-byte userData it
 * passes Deno's 64 MiB frame cap and is dropped silently), and the master reached 896 MiB RSS.
 *
 * The attack waits for every slave's own outcome (listed to a fresh client, or closed by the
 * master) within a deadline rather than for a fixed time: on a loaded machine registering 1024
 * slaves can take longer than the 6 s the slaves are held, and counting then saw slaves whose
 * registration the master had not answered yet.
 */
import assert from "node:assert/strict";
import { assertHeld, probeDuring } from "./_harness.ts";
import { listProbe, slaveListBloat } from "./attacks/webrtc.ts";
import { peerErrorsWhen, startMaster } from "./_webrtc.ts";
import { ID_SIZE, MAX_LIST_PACKET_SIZE, USER_DATA_LENGTH_SIZE } from "../../webrtc/_protocol.ts";

/** The master's default `maxSlaveListSize`. */
const LIST_BUDGET = 16 * 1024 * 1024;

Deno.test("1024 slaves with 65000-byte userData: the list budget closes the overflow with 1008 ERR_SLAVE_LIST_FULL and clients get the list in pieces", async () => {
  // All attackers share 127.0.0.1, so the per-address limit is lifted to reach the list budget.
  await using server = await startMaster({ maxSlavesPerAddress: 2048 });
  const url = server.info.url as string;
  // The slaves are held for at least 6 s, and longer if their outcomes take longer; the probes
  // run for as long as the attack does.
  const hold = AbortSignal.timeout(6000);
  const attackOver = new AbortController();
  const [stats, probes] = await Promise.all([
    slaveListBloat(url, hold, {
      slaves: 1024,
      userDataSize: 65_000,
      registerTimeout: 60_000,
      listTimeout: 20_000,
    }).finally(() => attackOver.abort()),
    probeDuring((signal) => listProbe(url, signal), attackOver.signal),
  ]);
  console.log("row 3", JSON.stringify({ stats, probes, maxRss: server.maxRss }));
  assertHeld(server, probes, "slave list");
  assert.equal(stats.opened, 1024, `slaves that did not open: ${JSON.stringify(stats.failed)}`);
  assert.equal(stats.clientClose, null, "the master closed the fresh client");
  assert.equal(stats.pending, 0, "slaves neither listed nor closed by the master in time");
  const refused = stats.slaveCloses["1008"] ?? 0;
  assert.ok(refused > 0, "no slave was refused by the list budget");
  const errors = await peerErrorsWhen(
    server,
    (e) => e.filter((e) => e.code === "ERR_SLAVE_LIST_FULL").length >= refused,
  );
  assert.equal(errors.filter((e) => e.code === "ERR_SLAVE_LIST_FULL").length, refused);
  // Every slave that stayed is listed, in packets under the piece limit, and the budget is used
  // to the last entry that fits.
  assert.equal(stats.listed + refused, stats.opened);
  const entry = ID_SIZE + USER_DATA_LENGTH_SIZE + 65_000;
  assert.equal(stats.listed, Math.floor(LIST_BUDGET / entry));
  assert.ok(stats.pieces > 1);
  assert.ok(stats.largestPiece <= MAX_LIST_PACKET_SIZE);
});
