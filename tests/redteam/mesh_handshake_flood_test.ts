import assert from "node:assert/strict";
import { assertHeld, probeDuring } from "./_harness.ts";
import { handshakeFlood } from "./attacks/mesh.ts";
import { JoinProbe, reportedCodes, sleep, startMember } from "./mesh_common.ts";

Deno.test("a mesh member holds against 40 unfinished 16 MiB HELLOs and 300 pending handshakes (row 10)", async () => {
  const { server, addr } = await startMember({ maxMembers: 256 });
  await using _server = server;
  await using joins = new JoinProbe(addr);
  const stop = new AbortController();
  const attack = handshakeFlood(addr, {
    bigHellos: 40,
    bigHelloBytes: 16 * 1024 * 1024,
    pendingHellos: 300,
    signal: stop.signal,
  });
  const probes = probeDuring(joins.probe, stop.signal);
  await sleep(5000);
  stop.abort();
  const result = await attack;
  const probed = await probes;
  console.log(
    `handshake flood: max RSS ${(server.maxRss / 2 ** 20).toFixed(0)} MiB, ` +
      `${probed.answered}/${probed.sent} probes answered within 1 s`,
  );
  assertHeld(server, probed, "handshake flood");
  const codes = reportedCodes(server);
  assert.ok(codes.includes("ERR_MESSAGE_TOO_LARGE"), `target reported ${codes.slice(0, 5)}`);
  assert.ok(
    result.codes.includes("ERR_HANDSHAKE_LIMIT"),
    `pending handshakes got ${result.codes.slice(0, 5)}`,
  );
});
