/**
 * Issue 15, row 11: TLS connections that never send a ClientHello. Before,
 * `Deno.listenTls` held them (45 s with 500 of them) whatever the handshake
 * deadline, because `close()` on a `Deno.TlsConn` with a pending handshake
 * does not close the socket; the server now accepts TCP and runs TLS itself
 * (`_common/tls_accept.ts`), so the deadline frees the socket.
 */
import assert from "node:assert/strict";
import { assertHeld, probeDuring, startServer } from "./_harness.ts";
import { tlsSilentFlood } from "./attacks/framed.ts";
import { FRAMED_SERVER, mib, probeOf, targetOf } from "./framed_probe.ts";

Deno.test("TLS connections that never send a ClientHello are closed at handshakeTimeout", async () => {
  // Scaled down from the default 10 s to fit the test.
  const handshakeTimeout = 1000;
  await using server = await startServer(FRAMED_SERVER, [
    JSON.stringify({ app: "echo", tls: true, options: { handshakeTimeout } }),
  ]);
  const target = targetOf(server);
  const stop = AbortSignal.timeout(4000);
  const [attack, probes] = await Promise.all([
    tlsSilentFlood(target, stop, { connections: 500 }),
    probeDuring(probeOf(target), stop),
  ]);
  console.log(
    `${attack.closedByServer}/${attack.opened} closed by the server, first after ${
      attack.closeTimes[0]?.toFixed(0)
    } ms, last after ${attack.closeTimes.at(-1)?.toFixed(0)} ms; max RSS ${
      mib(server.maxRss)
    } MiB; probes ${probes.answered}/${probes.sent}`,
  );
  assertHeld(server, probes, "silent TLS connections");
  assert.equal(attack.opened, 500);
  assert.equal(attack.closedByServer, 500, "every silent connection was closed by the server");
  // Each closes at its own deadline (opening 500 takes a moment), and none
  // much later: the socket is really gone, not just forgotten.
  assert.ok(attack.closeTimes[0] >= handshakeTimeout * 0.9, "none closed before its deadline");
  assert.ok(
    attack.closeTimes.at(-1)! <= 3000,
    `the last was closed after ${attack.closeTimes.at(-1)?.toFixed(0)} ms`,
  );
});
