/**
 * Red team, issue 15 leftover: `wss:` connections that never send a
 * ClientHello. `Deno.listenTls` held them whatever the deadline (`close()`
 * on a `Deno.TlsConn` with a pending handshake does not close the socket);
 * the rfc6455 engine now accepts TCP and runs TLS itself
 * (`_common/tls_accept.ts`), so `handshakeTimeout` frees the socket.
 *
 * @module
 */

import { startServer } from "./_harness.ts";
import { assertSilentTlsClosed } from "./_tls_silent.ts";
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
  await assertSilentTlsClosed(server, target, probe, { handshakeTimeout });
});
