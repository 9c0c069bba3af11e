/**
 * Red team, issue 15 row 14: 1000 connections trickling an unfinished HTTP
 * request head. Both engines read the head themselves (the native one hands
 * the connection to the built-in socket only afterwards): an unfinished head
 * is answered with 408 after `handshakeTimeout` and dropped.
 *
 * @module
 */

import assert from "node:assert/strict";
import { slowHeads } from "./attacks/websocket.ts";
import { runAttack } from "./websocket_common.ts";

const HANDSHAKE_TIMEOUT_MS = 2_000;
/**
 * Each slow head waits for its answer this long after its own connect (not
 * after the attack's start: on a loaded machine the last of 1000 connect
 * seconds after the first); the attack runs long enough for the last ones.
 */
const ANSWER_WITHIN_MS = HANDSHAKE_TIMEOUT_MS + 1_500;
const ATTACK_MS = 7_000;

for (const engine of ["rfc6455", "native"] as const) {
  Deno.test(`${engine}: 1000 connections trickling a request head get 408 after handshakeTimeout`, async () => {
    const run = await runAttack(
      `slow heads ${engine}`,
      { engine, handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
      (target, signal) =>
        slowHeads(target, signal, {
          connections: 1000,
          trickleMs: 500,
          answerWithinMs: ANSWER_WITHIN_MS,
        }),
      { ms: ATTACK_MS },
    );
    assert.ok(
      (run.stats.outcomes["http 408"] ?? 0) >= 900,
      `${run.stats.outcomes["http 408"] ?? 0} of 1000 slow heads were answered 408`,
    );
  });
}

Deno.test("handleUpgrade() behind serveHttp(): 1000 connections trickling a request head get 408", async () => {
  // Deno.serve has no head timeout; serveHttp() is the head-limited front a handleUpgrade()
  // server (the webrtc master) can use instead.
  const run = await runAttack(
    "slow heads serveHttp",
    { front: "serveHttp", handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
    (target, signal) =>
      slowHeads(target, signal, {
        connections: 1000,
        trickleMs: 500,
        answerWithinMs: ANSWER_WITHIN_MS,
      }),
    { ms: ATTACK_MS },
  );
  assert.ok(
    (run.stats.outcomes["http 408"] ?? 0) >= 900,
    `${run.stats.outcomes["http 408"] ?? 0} of 1000 slow heads were answered 408`,
  );
});
