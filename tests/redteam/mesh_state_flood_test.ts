import assert from "node:assert/strict";
import { assertHeld, probeDuring } from "./_harness.ts";
import { floodState } from "./attacks/mesh.ts";
import { reportedCodes, requestProbe, sleep, startMember } from "./mesh_common.ts";

Deno.test("a mesh member holds against one member pushing 320 state keys of 1 MiB (row 9)", async () => {
  const { server, addr, id } = await startMember();
  await using _server = server;
  const asker = await requestProbe(addr, id);
  await using _asker = asker.mesh;
  const stop = new AbortController();
  const probes = probeDuring(asker.probe, stop.signal);
  const attack = floodState(addr, {
    keys: 320,
    valueBytes: 1024 * 1024 - 256,
    signal: stop.signal,
  });
  await sleep(5000);
  stop.abort();
  const result = await attack;
  const probed = await probes;
  console.log(
    `state flood: max RSS ${(server.maxRss / 2 ** 20).toFixed(0)} MiB, ` +
      `${probed.answered}/${probed.sent} probes answered within 1 s`,
  );
  assertHeld(server, probed, "state flood");
  assert.ok(asker.mesh.peers.get(id)?.connected, "the legitimate link was dropped");
  assert.deepEqual(
    result.codes,
    ["ERR_STATE_LIMIT"],
    `attacker got ${result.codes}, target reported ${reportedCodes(server)}`,
  );
});
