/**
 * Red team, issue 15 row 12: permessage-deflate bombs from many connections
 * to an app that does not read. Inflating is limited while it happens (16 KiB
 * steps against `maxMessageSize` and the server's `maxBufferedBytes`), at
 * most `inflateConcurrency` connections inflate at once, and a connection
 * the budget cannot hold is closed with 1013 `ERR_SERVER_BUSY`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { deflateBomb } from "./attacks/websocket.ts";
import { runAttack } from "./websocket_common.ts";

Deno.test("rfc6455: 200 connections × 3 deflate bombs stay inside the server's buffer budget (1013 beyond it)", async () => {
  const run = await runAttack(
    "deflate bombs rfc6455",
    { engine: "rfc6455", deflate: true },
    (target, signal) => deflateBomb(target, signal, { connections: 200, messages: 3 }),
    { ms: 6_000 },
  );
  assert.ok(
    (run.serverClosed["ERR_SERVER_BUSY@1013"] ?? 0) >= 100,
    "bombers over budget are closed",
  );
  assert.ok((run.stats.outcomes["1013"] ?? 0) >= 100, "and told 1013");
});
