import assert from "node:assert/strict";
import { joinMesh } from "../../mesh/mod.ts";
import { assertHeld, probeDuring } from "./_harness.ts";
import { replicateLargeState } from "./attacks/mesh.ts";
import { reportedCodes, sleep, startMember } from "./mesh_common.ts";

const KEYS = 2;
const VALUE = 600 * 1024;

Deno.test("a mesh whose replicated state is over 1 MiB still lets new members join with the full state (row 7)", async () => {
  const { server, addr } = await startMember({ stateKeys: KEYS, stateValueBytes: VALUE });
  await using _server = server;
  // The second member: it must get the state (> 1 MiB) from the first.
  await using second = await joinMesh({ name: "second", seeds: [addr], timeout: 3000 });
  second.state.set("second", "y".repeat(VALUE));
  const stop = new AbortController();
  const times: number[] = [];
  const probes = probeDuring(async () => {
    // A third member joins through both and must get all of it.
    times.push(
      await replicateLargeState([addr, second.addr], {
        keys: KEYS + 1,
        valueBytes: VALUE,
        timeoutMs: 1000,
      }),
    );
  }, stop.signal);
  await sleep(3000);
  stop.abort();
  const probed = await probes;
  console.log(
    `large state: max RSS ${(server.maxRss / 2 ** 20).toFixed(0)} MiB, ` +
      `${probed.answered}/${probed.sent} probes answered within 1 s`,
  );
  assertHeld(server, probed, "large state");
  assert.equal([...second.state.keys()].length, KEYS + 1);
  assert.deepEqual(reportedCodes(server), []);
});
