/**
 * Red team, issue 15 row 15: 40 connections × 63 MiB frames against the
 * 16 MiB `maxMessageSize`, masked and unmasked. `serve()`'s default engine
 * (rfc6455) refuses an oversize frame from its header, before reading the
 * payload (1009 `ERR_MESSAGE_TOO_LARGE`), and an unmasked client frame
 * (1002 `ERR_UNMASKED_FRAME`, RFC 6455 §5.1). The native engine cannot do
 * either (Deno's built-in socket reads 64 MiB frames whole and accepts
 * unmasked ones), which is why it is not `serve()`'s default any more.
 *
 * @module
 */

import assert from "node:assert/strict";
import { oversizeFrames } from "./attacks/websocket.ts";
import { runAttack } from "./websocket_common.ts";

Deno.test("serve() default: 40 connections × 63 MiB frames close with 1009 from the header", async () => {
  const run = await runAttack(
    "oversize frames default",
    {},
    (target, signal) => oversizeFrames(target, signal, { connections: 40 }),
  );
  assert.ok((run.serverClosed["ERR_MESSAGE_TOO_LARGE@1009"] ?? 0) >= 40);
  assert.ok((run.stats.outcomes["1009"] ?? 0) + (run.stats.outcomes["eof"] ?? 0) >= 40);
});

Deno.test("serve() default: 40 connections × 63 MiB unmasked frames close with 1002", async () => {
  const run = await runAttack(
    "unmasked frames default",
    {},
    (target, signal) => oversizeFrames(target, signal, { connections: 40, masked: false }),
  );
  assert.ok((run.serverClosed["ERR_UNMASKED_FRAME@1002"] ?? 0) >= 40);
});
