/**
 * Issue 15, row 11: TLS connections that never send a ClientHello. Before,
 * `Deno.listenTls` held them (45 s with 500 of them) whatever the handshake
 * deadline, because `close()` on a `Deno.TlsConn` with a pending handshake
 * does not close the socket; the server now accepts TCP and runs TLS itself
 * (`_common/tls_accept.ts`), so the deadline frees the socket.
 */
import { startServer } from "./_harness.ts";
import { assertSilentTlsClosed } from "./_tls_silent.ts";
import { FRAMED_SERVER, probeOf, targetOf } from "./framed_probe.ts";

Deno.test("TLS connections that never send a ClientHello are closed at handshakeTimeout", async () => {
  // Scaled down from the default 10 s to fit the test.
  const handshakeTimeout = 1000;
  await using server = await startServer(FRAMED_SERVER, [
    JSON.stringify({ app: "echo", tls: true, options: { handshakeTimeout } }),
  ]);
  const target = targetOf(server);
  await assertSilentTlsClosed(server, target, probeOf(target), { handshakeTimeout });
});
