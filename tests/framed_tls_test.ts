import assert from "node:assert/strict";
import { connect, FramedError, listen } from "../framed/mod.ts";
import { accept, pattern, take } from "./_framed.ts";
import { makeCa } from "./_certs.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

/** A CA with a server leaf and a client leaf, and a stranger CA with a client leaf of its own. */
await using testCa = await makeCa("test-ca");
await using otherCa = await makeCa("other-ca");
const server = await testCa.leaf("server", "server");
const alice = await testCa.leaf("alice", "client");
const mallory = await otherCa.leaf("mallory", "client");
const pki = {
  ca: testCa.caCert,
  serverCert: server.cert,
  serverKey: server.key,
  aliceCert: alice.cert,
  aliceKey: alice.key,
  otherCa: otherCa.caCert,
  malloryCert: mallory.cert,
  malloryKey: mallory.key,
};

Deno.test("TLS with a CA-signed server certificate carries messages of every size", async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    sendType: "bytes",
    cert: pki.serverCert,
    key: pki.serverKey,
  });
  const accepted = accept(server);
  await using client = await connect({
    hostname: LOOPBACK4,
    port: server.addr.port,
    sendType: "bytes",
    caCerts: [pki.ca],
  });
  await using peer = await accepted;
  const payloads = [0, 1, 254, 255, 65536, 1 << 20].map((n) => pattern(n, n + 11));
  const sent = Promise.all(payloads.map((payload) => client.send(payload)));
  assert.deepEqual(await take(peer, payloads.length), payloads);
  await sent;
  await peer.send(pattern(300));
  assert.deepEqual(await take(client), [pattern(300)]);
});

Deno.test("a TLS client refuses a server its CAs did not sign, without retrying", async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    cert: pki.serverCert,
    key: pki.serverKey,
  });
  const serving = (async () => {
    for await (const _ of server) throw new Error("No connection should be admitted");
  })();
  const started = performance.now();
  const error = await connect({
    hostname: LOOPBACK4,
    port: server.addr.port,
    caCerts: [pki.otherCa],
    reconnect: { attempts: 5, interval: 500 },
  }).catch((e) => e);
  assert.ok(error instanceof FramedError && error.code === "ERR_CONNECT_FAILED", String(error));
  assert.equal(error.attempts, 1);
  assert.ok(performance.now() - started < 450, "a certificate error is not retried");
  await server.close();
  await serving;
});

Deno.test('clientAuth "required" admits a client with a CA-signed certificate and refuses others', async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    sendType: "json",
    cert: pki.serverCert,
    key: pki.serverKey,
    caCerts: [pki.ca],
    clientAuth: "required",
  });
  const connections = server[Symbol.asyncIterator]();
  // The node:tls server behind clientAuth binds a few ms after listen() returns.
  const base = {
    hostname: LOOPBACK4,
    port: server.addr.port,
    caCerts: [pki.ca],
    reconnect: { attempts: 50, interval: 10 },
  } as const;

  await using alice = await connect({
    ...base,
    cert: pki.aliceCert,
    key: pki.aliceKey,
    sendType: "json",
  });
  const { value: peer } = await deadline(connections.next(), 5000, "alice's connection");
  assert.ok(peer);
  assert.equal(peer.peerCertificate?.subject.CN, "alice");
  assert.equal(peer.peerCertificate?.issuer.CN, "test-ca");
  await alice.send({ from: "alice" });
  assert.deepEqual(await take(peer), [{ from: "alice" }]);
  await peer.send({ to: "alice", big: "x".repeat(300_000) });
  assert.deepEqual(await take(alice), [{ to: "alice", big: "x".repeat(300_000) }]);

  const intruders = [
    ["no certificate", {}],
    ["a stranger's certificate", { cert: pki.malloryCert, key: pki.malloryKey }],
  ] as const;
  for (const [name, credentials] of intruders) {
    // The client may finish its handshake before the server's refusal arrives;
    // then the connection must end at once instead of carrying messages.
    const outcome = await connect({ ...base, ...credentials, sendType: "json", reconnect: false })
      .then(
        async (client) => {
          await client.send({ let: "me in" }).catch(() => {});
          const ended = await deadline(
            client.closed.then(() => "closed", () => "errored"),
            5000,
            name,
          );
          await client.close();
          return ended;
        },
        (error) =>
          error instanceof FramedError && error.code === "ERR_CONNECT_FAILED"
            ? "refused"
            : String(error),
      );
    assert.ok(["refused", "closed", "errored"].includes(outcome), `${name}: ${outcome}`);
  }

  await using alice2 = await connect({
    ...base,
    cert: pki.aliceCert,
    key: pki.aliceKey,
    sendType: "json",
  });
  const { value: next } = await deadline(connections.next(), 5000, "alice's second connection");
  assert.equal(next!.localAddr.port, server.addr.port);
  assert.equal(next!.peerCertificate?.subject.CN, "alice", "nobody else was admitted in between");
  assert.equal(server.connections.size, 2);
  await alice2.send({ hi: 2 });
  assert.deepEqual(await take(next!), [{ hi: 2 }]);
  await connections.return?.();
});

Deno.test('clientAuth "request" admits clients without a certificate but not with an untrusted one', async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    cert: pki.serverCert,
    key: pki.serverKey,
    caCerts: [pki.ca],
    clientAuth: "request",
  });
  const connections = server[Symbol.asyncIterator]();
  // The node:tls server behind clientAuth binds a few ms after listen() returns.
  const base = {
    hostname: LOOPBACK4,
    port: server.addr.port,
    caCerts: [pki.ca],
    reconnect: { attempts: 50, interval: 10 },
  } as const;

  await using anonymous = await connect(base);
  const { value: first } = await deadline(connections.next(), 5000, "anonymous connection");
  assert.equal(first!.peerCertificate, null);
  await anonymous.send("hello");
  assert.deepEqual(await take(first!), ["hello"]);

  const mallory = await connect({
    ...base,
    cert: pki.malloryCert,
    key: pki.malloryKey,
    reconnect: false,
  }).catch(() => null);
  if (mallory) {
    await deadline(mallory.closed.catch(() => {}), 5000, "mallory is cut off");
    await mallory.close();
  }

  await using _alice = await connect({ ...base, cert: pki.aliceCert, key: pki.aliceKey });
  const { value: second } = await deadline(connections.next(), 5000, "alice's connection");
  assert.equal(second!.peerCertificate?.subject.CN, "alice", "mallory never got in");
  await connections.return?.();
});

Deno.test("handshakeTimeout closes the socket of a TLS client that never sends a ClientHello", async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    cert: pki.serverCert,
    key: pki.serverKey,
    handshakeTimeout: 200,
  });
  using silent = await Deno.connect({ hostname: LOOPBACK4, port: server.addr.port });
  const started = performance.now();
  const n = await deadline(
    silent.read(new Uint8Array(16)).catch(() => null),
    5000,
    "the server closing the silent client",
  );
  assert.equal(n, null);
  assert.ok(performance.now() - started >= 150, "not before the deadline");
  // A well-behaved client is served meanwhile and after.
  const accepted = accept(server);
  await using client = await connect({
    hostname: LOOPBACK4,
    port: server.addr.port,
    caCerts: [pki.ca],
  });
  await using peer = await accepted;
  await client.send("hi");
  assert.deepEqual(await take(peer), ["hi"]);
});
