/**
 * enet usability contracts (issue 13): host names and IPv6 spellings at
 * connect(), byte-exact sends of any view, the connect timeout, the client
 * bind under a narrow --allow-net, statistics after a disconnect and the
 * per-peer data slot. Real hosts over loopback.
 */
import assert from "node:assert/strict";
import { createHost, EnetTypeError, type HostOptions } from "../enet/mod.ts";
import { deadline, hasIPv6, LOOPBACK4 } from "./_loopback.ts";
import { nextEvent } from "./_tools/enet_events.ts";

for (const socket of ["auto", "deno", "node"] as const) {
  Deno.test(`Host.connect() resolves "localhost" and completes the handshake (socket: "${socket}")`, async () => {
    const options: HostOptions = { socket };
    await using server = await createHost({
      ...options,
      address: { hostname: LOOPBACK4, port: 0 },
    });
    await using client = await createHost({
      ...options,
      address: { hostname: LOOPBACK4, port: 0 },
    });
    const peer = await deadline(
      client.connect({ hostname: "localhost", port: server.address.port }),
      4000,
      "connect to localhost",
    );
    assert.equal(peer.address.hostname, LOOPBACK4);
    assert.equal(peer.state, "connected");
    await nextEvent(server, "connect");
  });
}

Deno.test("Host.connect() accepts any spelling of an IP address", async (t) => {
  await using server = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 4,
  });
  await t.step("an IPv4-mapped IPv6 address from an IPv4 socket", async () => {
    const peer = await deadline(
      client.connect({ hostname: "::ffff:127.0.0.1", port: server.address.port }),
      4000,
      "connect to ::ffff:127.0.0.1",
    );
    assert.equal(peer.address.hostname, LOOPBACK4);
    peer.disconnectNow();
  });
  if (!hasIPv6()) return;
  await t.step('the uncompressed "0:0:0:0:0:0:0:1"', async () => {
    await using server6 = await createHost({ address: { hostname: "::1", port: 0 } });
    await using client6 = await createHost({ address: { hostname: "::1", port: 0 } });
    const peer = await deadline(
      client6.connect({ hostname: "0:0:0:0:0:0:0:1", port: server6.address.port }),
      4000,
      "connect to 0:0:0:0:0:0:0:1",
    );
    assert.equal(peer.address.hostname, "::1");
  });
  await t.step("an IPv4 client of a dual-stack server bound to ::", async () => {
    await using dual = await createHost({ address: { hostname: "::", port: 0 } });
    const peer = await deadline(
      client.connect({ hostname: LOOPBACK4, port: dual.address.port }),
      4000,
      "connect to a :: server",
    );
    const accepted = await nextEvent(dual, "connect");
    assert.equal(accepted.peer.address.hostname, LOOPBACK4);
    peer.send(0, "over the mapped path");
    const received = await nextEvent(dual, "receive");
    assert.equal(new TextDecoder().decode(received.data), "over the mapped path");
  });
});

Deno.test("Host.connect() rejects a name that does not resolve with ERR_INVALID_ADDRESS", async () => {
  await using client = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  await assert.rejects(
    client.connect({ hostname: "no-such-host.invalid", port: 7777 }),
    (error: unknown) => error instanceof EnetTypeError && error.code === "ERR_INVALID_ADDRESS",
  );
});

async function connectedPair() {
  const server = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  const client = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  const peer = await deadline(
    client.connect(server.address, { channelCount: 2 }),
    4000,
    "connect",
  );
  const remote = (await nextEvent(server, "connect")).peer;
  return {
    server,
    client,
    peer,
    remote,
    async [Symbol.asyncDispose]() {
      await client.close();
      await server.close();
    },
  };
}

Deno.test("Peer.send() and Host.broadcast() send any ArrayBufferView or ArrayBuffer byte-exact", async () => {
  await using p = await connectedPair();
  const floats = new Float32Array([1, 2]);
  const expected = new Uint8Array(floats.buffer);
  const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
  p.peer.send(0, floats);
  p.peer.send(0, floats.buffer);
  p.peer.send(0, new DataView(backing.buffer, 2, 3));
  p.peer.send(0, new Uint16Array(backing.buffer, 2, 2));
  await p.peer.sendAcknowledged(0, new Float64Array([0.5]));
  p.server.broadcast(1, new Int8Array([-1, 5]).buffer);
  const writer = p.peer.channel(1).writable.getWriter();
  await writer.write(new Int32Array([7]));
  writer.releaseLock();
  const got: number[][] = [];
  for (let i = 0; i < 6; i++) {
    const event = await nextEvent(p.server, "receive");
    got.push([...event.data]);
  }
  assert.deepEqual(got, [
    [...expected],
    [...expected],
    [1, 2, 3],
    [1, 2, 3, 9],
    [...new Uint8Array(new Float64Array([0.5]).buffer)],
    [...new Uint8Array(new Int32Array([7]).buffer)],
  ]);
  const broadcast = await nextEvent(p.client, "receive");
  assert.deepEqual([...broadcast.data], [255, 5]);
});

Deno.test("Peer.send(), sendAcknowledged(), Host.broadcast() and channel writables throw ERR_INVALID_DATA for non-bytes", async () => {
  await using p = await connectedPair();
  const isInvalidData = (error: unknown) =>
    error instanceof EnetTypeError && error instanceof TypeError &&
    error.code === "ERR_INVALID_DATA";
  for (const bad of [42, null, undefined, { length: 2 }, [1, 2], true]) {
    assert.throws(() => p.peer.send(0, bad as unknown as Uint8Array), isInvalidData);
    assert.throws(() => p.server.broadcast(0, bad as unknown as Uint8Array), isInvalidData);
    await assert.rejects(p.peer.sendAcknowledged(0, bad as unknown as Uint8Array), isInvalidData);
  }
  const writer = p.peer.channel(1).writable.getWriter();
  await assert.rejects(writer.write(12 as unknown as Uint8Array), isInvalidData);
  assert.equal(p.peer.state, "connected");
});

Deno.test("Host.connect() to a dead port rejects with TimeoutError after its timeout", async (t) => {
  const silent = Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK4, port: 0 });
  const port = (silent.addr as Deno.NetAddr).port;
  try {
    await using client = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
    await t.step("an explicit timeout in milliseconds", async () => {
      const error = await deadline(
        client.connect({ hostname: LOOPBACK4, port }, { timeout: 300 }).catch((e) => e),
        4000,
        "connect with timeout 300",
      );
      assert.ok(error instanceof DOMException, String(error));
      assert.equal(error.name, "TimeoutError");
      assert.match(error.message, /ERR_CONNECT_TIMEOUT/);
      assert.equal(client.peers.length, 0);
    });
    await t.step("the default of about 5 s, not C's 30 s rules", async () => {
      const error = await deadline(
        client.connect({ hostname: LOOPBACK4, port }).catch((e) => e),
        12_000,
        "connect with the default timeout",
      );
      assert.ok(error instanceof DOMException, String(error));
      assert.equal(error.name, "TimeoutError");
    });
  } finally {
    silent.close();
  }
});

Deno.test("a client host created without an address works under --allow-net=127.0.0.1", async () => {
  await using server = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  const pump = (async () => {
    for await (const event of server) if (event.type === "receive") return event;
  })();
  for (const flags of [["--unstable-net"], []]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags,
        "--allow-net=127.0.0.1",
        new URL("./enet_peers/loopback_client.ts", import.meta.url).pathname,
        String(server.address.port),
      ],
      stdout: "piped",
      stderr: "piped",
    });
    const output = await deadline(child.output(), 30_000, "the child process");
    const stdout = new TextDecoder().decode(output.stdout).trim();
    assert.equal(
      stdout,
      "connected 127.0.0.1",
      `${flags}: ${stdout}\n${new TextDecoder().decode(output.stderr)}`,
    );
  }
  const received = await deadline(pump, 4000, "the child's message");
  assert.equal(new TextDecoder().decode(received!.data), "from the child");
});

Deno.test("a peer keeps its statistics after it disconnects", async () => {
  await using p = await connectedPair();
  for (let i = 0; i < 5; i++) await p.peer.sendAcknowledged(0, "measure");
  const roundTripTime = p.peer.roundTripTime;
  const variance = p.peer.roundTripTimeVariance;
  const mtu = p.peer.mtu;
  assert.notEqual(roundTripTime, 500, "the round trip was measured");
  p.peer.disconnect();
  await deadline(p.peer.closed, 4000, "disconnect");
  assert.equal(p.peer.state, "disconnected");
  assert.equal(p.peer.roundTripTime, roundTripTime);
  assert.equal(p.peer.roundTripTimeVariance, variance);
  assert.equal(p.peer.mtu, mtu);
  assert.equal(p.peer.reliableDataInTransit, 0);
});

Deno.test("peer.data holds the application's own value, typed by createHost<Data>()", async () => {
  interface Player {
    name: string;
    score: number;
  }
  await using server = await createHost<Player>({ address: { hostname: LOOPBACK4, port: 0 } });
  await using client = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  const peer = await client.connect(server.address);
  assert.equal(peer.data, undefined);
  const accepted = await nextEvent(server, "connect");
  accepted.peer.data = { name: "ada", score: 0 };
  peer.send(0, "point");
  const received = await nextEvent(server, "receive");
  received.peer.data!.score++;
  assert.equal(received.peer, accepted.peer);
  peer.disconnect();
  const gone = await nextEvent(server, "disconnect");
  assert.deepEqual(gone.peer.data, { name: "ada", score: 1 });
});
