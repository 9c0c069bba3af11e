/**
 * Red team, issue 15 row 6: empty frames to an app that does not read. The
 * unread queue must be bounded by count as well as bytes: the rfc6455
 * engine stops reading TCP after 1024 unread messages (and its heartbeat
 * closes the stalled peer with 1001 `ERR_HEARTBEAT_TIMEOUT`); the native
 * engine, which cannot pause TCP, closes with 1008 `ERR_RECEIVE_QUEUE_FULL`
 * after `receiveQueueMessages`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { emptyFrameFlood } from "./attacks/websocket.ts";
import { runAttack } from "./websocket_common.ts";

Deno.test("rfc6455: a flood of empty frames to a stalled app is paused, then closed by the heartbeat", async () => {
  const run = await runAttack(
    "empty frames rfc6455",
    { engine: "rfc6455", heartbeat: { interval: 500, timeout: 500 } },
    (target, signal) => emptyFrameFlood(target, signal, { connections: 30 }),
    { ms: 5_000 },
  );
  assert.ok(
    (run.serverClosed["ERR_HEARTBEAT_TIMEOUT@1001"] ?? 0) >= 20,
    "stalled peers are closed",
  );
});

Deno.test("native: a flood of empty frames to a stalled app closes with 1008 at receiveQueueMessages", async () => {
  const run = await runAttack(
    "empty frames native",
    { engine: "native" },
    (target, signal) => emptyFrameFlood(target, signal, { connections: 10 }),
  );
  // The flooder itself rarely reads the 1008 frame: the server drops TCP with the flood still
  // unread in its buffer, and the reset discards what the flooder had not read yet.
  assert.ok((run.serverClosed["ERR_RECEIVE_QUEUE_FULL@1008"] ?? 0) >= 9, "each flooder is closed");
});
