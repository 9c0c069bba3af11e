/**
 * Red team, issue 15 leftover: `wss:` connections that never send a
 * ClientHello. `Deno.listenTls` held them whatever the deadline (`close()`
 * on a `Deno.TlsConn` with a pending handshake does not close the socket);
 * the rfc6455 engine now accepts TCP and runs TLS itself
 * (`_common/tls_accept.ts`), so `handshakeTimeout` frees the socket.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertHeld, probeDuring, startServer } from "./_harness.ts";
import { tlsSilentFlood } from "./attacks/framed.ts";
import { connect } from "../../websocket/mod.ts";

const SERVER = new URL("./servers/websocket_server.ts", import.meta.url);

Deno.test("rfc6455: 500 TLS connections that never send a ClientHello are closed at handshakeTimeout", async () => {
  // Scaled down from the default 10 s to fit the test.
  const handshakeTimeout = 1000;
  await using server = await startServer(SERVER, [
    JSON.stringify({ engine: "rfc6455", tls: true, handshakeTimeout }),
  ]);
  const port = server.info.port as number;
  const caCert = server.info.caCert as string;
  const target = { hostname: "127.0.0.1", port };
  const probe = async (signal: AbortSignal) => {
    await using ws = await connect(`wss://localhost:${port}/echo`, {
      engine: "rfc6455",
      caCerts: [caCert],
      signal,
    });
    await ws.send("probe");
    const reader = ws.readable.getReader();
    await reader.read();
    reader.releaseLock();
  };
  const stop = AbortSignal.timeout(4000);
  const [attack, probes] = await Promise.all([
    tlsSilentFlood(target, stop, { connections: 500 }),
    probeDuring(probe, stop),
  ]);
  console.log(
    `${attack.closedByServer}/${attack.opened} closed by the server, first after ${
      attack.closeTimes[0]?.toFixed(0)
    } ms, last after ${attack.closeTimes.at(-1)?.toFixed(0)} ms; max RSS ${
      Math.round(server.maxRss / 2 ** 20)
    } MiB; probes ${probes.answered}/${probes.sent}`,
  );
  assertHeld(server, probes, "silent TLS connections");
  assert.equal(attack.opened, 500);
  assert.equal(attack.closedByServer, 500, "every silent connection was closed by the server");
  assert.ok(attack.closeTimes[0] >= handshakeTimeout * 0.9, "none closed before its deadline");
  assert.ok(
    attack.closeTimes.at(-1)! <= 3000,
    `the last was closed after ${attack.closeTimes.at(-1)?.toFixed(0)} ms`,
  );
});
