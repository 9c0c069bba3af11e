/**
 * The client side of a TLS handshake that never finishes: a server that
 * accepts TCP and never answers the ClientHello must not hold the client's
 * socket past `connectTimeout`. Deno's `TlsConn.close()` does not free a
 * socket whose handshake is pending, so the sanitizers (and the server side
 * waiting for the client's FIN) catch a client that only gave up on it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect, FramedError, listen } from "../framed/mod.ts";
import { makeCa } from "./_certs.ts";
import { deadline, hasIPv6, LOOPBACK4, LOOPBACK6 } from "./_loopback.ts";

await using testCa = await makeCa("client-tls-ca");
const alice = await testCa.leaf("alice", "client");
/** Names 127.0.0.1 and localhost, not ::1. */
const server = await testCa.leaf("server", "server");

/** A TCP server that accepts one connection and never writes: a silent TLS server. */
async function silentServer(
  dial: (port: number) => Promise<unknown>,
): Promise<{ error: unknown; ms: number; clientGoneMs: number }> {
  using listener = Deno.listen({ hostname: LOOPBACK4, port: 0 });
  const started = performance.now();
  const dialing = dial(listener.addr.port).then(
    () => assert.fail("connect() resolved against a server that never answers"),
    (error: unknown) => ({ error, ms: performance.now() - started }),
  );
  using accepted = await listener.accept();
  // The ClientHello arrives, is never answered; the client must then close its socket.
  const buf = new Uint8Array(16 * 1024);
  let clientGoneMs = Infinity;
  const reading = (async () => {
    while (true) {
      const n = await accepted.read(buf).catch(() => null);
      if (n === null) return clientGoneMs = performance.now() - started;
    }
  })();
  const { error, ms } = await dialing;
  await deadline(reading, 3000, "the client's FIN after its connect timeout");
  return { error, ms, clientGoneMs };
}

for (
  const [what, extra] of [
    ["tls: true", {}],
    ["a client certificate", { caCerts: [testCa.caCert], cert: alice.cert, key: alice.key }],
  ] as const
) {
  Deno.test(`connect() with ${what} rejects with TimeoutError after connectTimeout when the server never answers the ClientHello, and closes its socket`, async () => {
    const { error, ms, clientGoneMs } = await silentServer((port) =>
      connect({
        hostname: LOOPBACK4,
        port,
        tls: true,
        connectTimeout: 500,
        reconnect: false,
        ...extra,
      })
    );
    assert.ok(error instanceof DOMException, `rejected with ${error}`);
    assert.equal(error.name, "TimeoutError");
    assert.ok(ms < 1500, `rejected after ${ms.toFixed(0)} ms`);
    assert.ok(clientGoneMs < 1500, `the client closed its socket after ${clientGoneMs} ms`);
  });
}

Deno.test({
  name: "connect() refuses a server whose CA-signed certificate does not name the address dialled",
  ignore: !hasIPv6(),
  async fn() {
    await using listener = listen({
      hostname: LOOPBACK6,
      port: 0,
      cert: server.cert,
      key: server.key,
    });
    const serving = (async () => {
      for await (const _ of listener) throw new Error("No connection should be admitted");
    })();
    const error = await connect({
      hostname: LOOPBACK6,
      port: listener.addr.port,
      caCerts: [testCa.caCert],
      reconnect: { attempts: 3, interval: 500 },
    }).catch((e) => e);
    assert.ok(error instanceof FramedError && error.code === "ERR_CONNECT_FAILED", String(error));
    assert.equal(error.attempts, 1, "a certificate error is not retried");
    assert.ok(error.cause instanceof Deno.errors.InvalidData, String(error.cause));
    await listener.close();
    await serving;
  },
});
