import assert from "node:assert/strict";
import { assertHeld, probeDuring } from "./_harness.ts";
import { gossipFakeMembers } from "./attacks/mesh.ts";
import { JoinProbe, sleep, startMember } from "./mesh_common.ts";

Deno.test("a mesh member holds against one member gossiping 1024 unreachable members (row 8)", async () => {
  const { server, addr } = await startMember();
  await using _server = server;
  await using joins = new JoinProbe(addr);
  const stop = new AbortController();
  const attack = gossipFakeMembers(addr, { count: 1024, signal: stop.signal });
  await sleep(300);
  const probes = probeDuring(joins.probe, stop.signal);
  await sleep(4000);
  stop.abort();
  const result = await attack;
  const probed = await probes;
  console.log(
    `gossip flood: max RSS ${(server.maxRss / 2 ** 20).toFixed(0)} MiB, ` +
      `${probed.answered}/${probed.sent} probes answered within 1 s`,
  );
  assertHeld(server, probed, "gossip flood");
  assert.deepEqual(result.codes, ["ERR_MEMBER_LIMIT"]);
});
