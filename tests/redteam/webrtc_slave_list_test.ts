/**
 * Issue 15, row 3: 1024 slaves (the default maximum) with 65000 bytes of userData each. Before
 * the fix the whole list went out as one 66.5 MB packet per client (with 65535-byte userData it
 * passes Deno's 64 MiB frame cap and is dropped silently), and the master reached 896 MiB RSS.
 */
import assert from "node:assert/strict";
import { assertHeld, probeDuring } from "./_harness.ts";
import { listProbe, slaveListBloat } from "./attacks/webrtc.ts";
import { peerErrors, startMaster } from "./_webrtc.ts";
import { MAX_LIST_PACKET_SIZE } from "../../webrtc/_protocol.ts";

Deno.test("1024 slaves with 65000-byte userData: the list budget closes the overflow with 1008 ERR_SLAVE_LIST_FULL and clients get the list in pieces", async () => {
  // All attackers share 127.0.0.1, so the per-address limit is lifted to reach the list budget.
  await using server = await startMaster({ maxSlavesPerAddress: 2048 });
  const url = server.info.url as string;
  const attack = AbortSignal.timeout(6000);
  const [stats, probes] = await Promise.all([
    slaveListBloat(url, attack, { slaves: 1024, userDataSize: 65_000, listTimeout: 4000 }),
    probeDuring((signal) => listProbe(url, signal), attack),
  ]);
  console.log("row 3", JSON.stringify({ stats, probes, maxRss: server.maxRss }));
  assertHeld(server, probes, "slave list");
  const refused = stats.slaveCloses["1008"] ?? 0;
  assert.ok(refused > 0, "no slave was refused by the list budget");
  const errors = peerErrors(server);
  assert.equal(errors.filter((e) => e.code === "ERR_SLAVE_LIST_FULL").length, refused);
  // Every slave that stayed is listed, in packets under the piece limit.
  assert.equal(stats.listed + refused, stats.opened);
  assert.ok(stats.pieces > 1);
  assert.ok(stats.largestPiece <= MAX_LIST_PACKET_SIZE);
});
