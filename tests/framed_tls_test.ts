import assert from "node:assert/strict";
import { connect, ConnectFailedError, listen } from "../framed/mod.ts";
import { accept, pattern, take } from "./_framed.ts";
import { deadline, LOOPBACK4, run, tempDir } from "./_loopback.ts";

interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  aliceCert: string;
  aliceKey: string;
  otherCa: string;
  malloryCert: string;
  malloryKey: string;
}

/** A CA, a server leaf for 127.0.0.1/localhost, and client leaves from it and from a stranger CA. */
async function makePki(dir: string): Promise<Pki> {
  const f = (name: string) => `${dir}/${name}`;
  const ca = async (name: string) => {
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.pem`),
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]); // deno-fmt-ignore
  };
  const leaf = async (name: string, issuer: string, ext: string) => {
    await run("openssl", [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.csr`),
      "-subj",
      `/CN=${name}`,
    ]); // deno-fmt-ignore
    await Deno.writeTextFile(f(`${name}.ext`), ext);
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      f(`${name}.csr`),
      "-CA",
      f(`${issuer}.pem`),
      "-CAkey",
      f(`${issuer}.key`),
      "-CAcreateserial",
      "-out",
      f(`${name}.pem`),
      "-days",
      "2",
      "-extfile",
      f(`${name}.ext`),
    ]); // deno-fmt-ignore
  };
  await ca("test-ca");
  await ca("other-ca");
  await leaf(
    "server",
    "test-ca",
    "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  await leaf("alice", "test-ca", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  await leaf("mallory", "other-ca", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  const read = (name: string) => Deno.readTextFile(f(name));
  return {
    ca: await read("test-ca.pem"),
    serverCert: await read("server.pem"),
    serverKey: await read("server.key"),
    aliceCert: await read("alice.pem"),
    aliceKey: await read("alice.key"),
    otherCa: await read("other-ca.pem"),
    malloryCert: await read("mallory.pem"),
    malloryKey: await read("mallory.key"),
  };
}

await using dir = tempDir("netkit-framed-tls-");
const pki = await makePki(dir.path);

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
  assert.ok(error instanceof ConnectFailedError, String(error));
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
      .then(async (client) => {
        await client.send({ let: "me in" }).catch(() => {});
        const ended = await deadline(
          client.closed.then(() => "closed", () => "errored"),
          5000,
          name,
        );
        await client.close();
        return ended;
      }, (error) => error instanceof ConnectFailedError ? "refused" : String(error));
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
