/**
 * Red team, issue 15 row 14 against the webrtc master: 1000 connections trickling an unfinished
 * HTTP request head. The master serves HTTP through websocket's head-limited `serveHttp()`, so
 * each unfinished head is answered 408 once the head timeout (`serveHttp()`'s default
 * `handshakeTimeout`, 10 s; the master has no option for it) runs out, while a legitimate client
 * still gets the slave list. Before that (plain `Deno.serve`, no head timeout) every trickling
 * connection stayed open for as long as the attacker liked.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertHeld, probeDuring } from "./_harness.ts";
import { listProbe } from "./attacks/webrtc.ts";
import { slowHeads } from "./attacks/websocket.ts";
import { startMaster } from "./_webrtc.ts";

/** `serveHttp()`'s default head timeout, which the master uses. */
const HEAD_TIMEOUT_MS = 10_000;

Deno.test("webrtc master: 1000 connections trickling a request head get 408 within the head timeout while clients still get the slave list", async () => {
  await using server = await startMaster();
  const url = new URL(server.info.url as string);
  // Each trickling head waits the head timeout plus a margin for its 408, counted from its own
  // connect: one still open by then was not answered within the timeout. The probes run until
  // every head has its outcome (30 s at most).
  const finished = new AbortController();
  const attack = AbortSignal.any([AbortSignal.timeout(30_000), finished.signal]);
  const [stats, probes] = await Promise.all([
    slowHeads({ hostname: url.hostname, port: Number(url.port) }, attack, {
      connections: 1000,
      trickleMs: 500,
      answerWithinMs: HEAD_TIMEOUT_MS + 1_500,
    }).finally(() => finished.abort()),
    probeDuring((signal) => listProbe(server.info.url as string, signal), attack),
  ]);
  console.log("row 14 webrtc", JSON.stringify({ stats, probes, maxRss: server.maxRss }));
  assertHeld(server, probes, "webrtc slow heads");
  assert.equal(stats.connections, 1000, `only ${stats.connections} of 1000 connections opened`);
  const answered = stats.outcomes["http 408"] ?? 0;
  assert.ok(answered >= 900, `${answered} of 1000 slow heads were answered 408 in time`);
});
