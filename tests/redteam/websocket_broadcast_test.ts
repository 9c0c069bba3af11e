/**
 * Red team, issue 15 row 13: `broadcast()` while 20 members never read. The
 * fan-out never waits on one member (each has a bounded send queue), so a
 * reading member keeps getting every broadcast; the non-readers are closed
 * with 1008 `ERR_SEND_QUEUE_FULL` once their queue is full.
 *
 * @module
 */

import assert from "node:assert/strict";
import { broadcastProbe, nonReaders } from "./attacks/websocket.ts";
import { runAttack } from "./websocket_common.ts";

for (const engine of ["rfc6455", "native"] as const) {
  Deno.test(`${engine}: broadcast() keeps reaching a reading member while 20 members never read`, async () => {
    const run = await runAttack(
      `broadcast ${engine}`,
      { engine, broadcast: { size: 128 * 1024, everyMs: 20 } },
      (target, signal) => nonReaders(target, signal, { connections: 20 }),
      { ms: 6_000, probe: broadcastProbe },
    );
    assert.ok(
      (run.serverClosed["ERR_SEND_QUEUE_FULL@1008"] ?? 0) >= 18,
      "the non-readers are closed once their queue is full",
    );
  });
}
