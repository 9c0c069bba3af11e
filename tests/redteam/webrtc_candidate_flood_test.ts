/**
 * Issue 15, row 2: one client sends one offer and then ICE candidates without end to a slave
 * that never reads. Before the fix the master forwarded all of them into the slave's socket
 * buffer (686 MiB RSS after 102 MB in 6 s, 6/12 probes answered).
 */
import assert from "node:assert/strict";
import { assertHeld, probeDuring } from "./_harness.ts";
import { AnsweringSlave, answerProbe, candidateFlood } from "./attacks/webrtc.ts";
import { type PeerErrorLine, peerErrorsWhen, startMaster } from "./_webrtc.ts";

Deno.test("a client flooding candidates at a non-reading slave is closed with 1008 ERR_TOO_MANY_CANDIDATES and other offers are answered", async () => {
  await using server = await startMaster();
  const url = server.info.url as string;
  await using legit = new AnsweringSlave(url);
  await legit.peer.opened;
  const attack = AbortSignal.timeout(5000);
  const [stats, probes] = await Promise.all([
    candidateFlood(url, attack),
    probeDuring((signal) => answerProbe(url, signal), attack),
  ]);
  console.log("row 2", JSON.stringify({ stats, probes, maxRss: server.maxRss }));
  assertHeld(server, probes, "candidate flood");
  const flooder = (e: PeerErrorLine) =>
    e.role === "client" && e.code === "ERR_TOO_MANY_CANDIDATES" && e.closeCode === 1008;
  const errors = await peerErrorsWhen(server, (e) => e.some(flooder));
  assert.ok(
    errors.some(flooder),
    `the flooding client was not closed with ERR_TOO_MANY_CANDIDATES: ${JSON.stringify(errors)}`,
  );
  // The client still had candidates in flight: it sees 1008, or a reset that swallowed the frame.
  assert.ok([1008, 1006, 0].includes(stats.clientClose!), `client saw ${stats.clientClose}`);
  assert.ok(legit.peer.open, "the legitimate slave was closed");
});
