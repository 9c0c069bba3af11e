/**
 * Red team, issue 15 row 4: one message sent as 1-byte fragments. The
 * reassembly must be linear and the fragment count bounded (`maxFragments`,
 * 1009 `ERR_TOO_MANY_FRAGMENTS`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fragmentFlood } from "./attacks/websocket.ts";
import { runAttack } from "./websocket_common.ts";

Deno.test("rfc6455: messages sent as 1-byte fragments close with 1009 after maxFragments and starve nobody", async () => {
  const run = await runAttack(
    "fragments rfc6455",
    { engine: "rfc6455" },
    (target, signal) => fragmentFlood(target, signal, { connections: 4, pieces: 1 << 20 }),
  );
  assert.ok((run.stats.outcomes["1009"] ?? 0) >= 4, "the attacker is told 1009");
  assert.ok((run.serverClosed["ERR_TOO_MANY_FRAGMENTS@1009"] ?? 0) >= 4);
});
