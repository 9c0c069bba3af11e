/**
 * Our ENet engine against itself over real loopback sockets: API contracts,
 * IPv6, the node:dgram fallback, timeouts, streams, acknowledged sends,
 * disconnect flavours and typed errors.
 */
import assert from "node:assert/strict";
import {
  createHost,
  EnetError,
  EnetRangeError,
  EnetTypeError,
  type HostOptions,
  PacketFlag,
} from "../enet/mod.ts";
import { deadline, hasIPv6, LOOPBACK4, LOOPBACK6 } from "./_loopback.ts";
import { nextEvent } from "./_tools/enet_events.ts";

const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** A UDP socket that never answers (a server that is down), closed on dispose. */
function silentSocket(): Deno.DatagramConn & Disposable {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK4, port: 0 });
  return Object.assign(conn, {
    [Symbol.dispose]() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  });
}

async function pair(options: HostOptions = {}, hostname = LOOPBACK4) {
  const server = await createHost({ address: { hostname, port: 0 }, ...options });
  const client = await createHost({ address: { hostname, port: 0 }, peerCount: 4, ...options });
  const peer = await deadline(
    client.connect(server.address, { channelCount: 4, data: 5 }),
    5000,
    "connect",
  );
  const accepted = await nextEvent(server, "connect");
  return {
    server,
    client,
    peer,
    remote: accepted.peer,
    connectData: accepted.data,
    async [Symbol.asyncDispose]() {
      await client.close();
      await server.close();
    },
  };
}

Deno.test("createHost() binds the requested address and reports the actual port", async () => {
  await using host = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  assert.equal(host.address.hostname, LOOPBACK4);
  assert.ok(host.address.port > 0);
  assert.deepEqual(host.peers, []);
});

Deno.test("createHost() rejects out-of-range options with ERR_INVALID_OPTION", async () => {
  for (
    const options of [
      { peerCount: 0 },
      { peerCount: 4096 },
      { channelLimit: 256 },
      { mtu: 100 },
      { mtu: 5000 },
    ]
  ) {
    await assert.rejects(
      createHost({ address: { hostname: LOOPBACK4, port: 0 }, ...options }),
      (error: unknown) => error instanceof EnetTypeError && error.code === "ERR_INVALID_OPTION",
    );
  }
});

Deno.test("Host.connect() delivers connect data, channel count and the connect event on both sides", async () => {
  await using p = await pair();
  assert.equal(p.connectData, 5);
  assert.equal(p.peer.state, "connected");
  assert.equal(p.peer.channelCount, 4);
  assert.equal(p.remote.channelCount, 4);
  assert.equal(p.peer.mtu, 1392);
  const outgoing = await nextEvent(p.client, "connect");
  assert.equal(outgoing.peer, p.peer);
  assert.deepEqual(p.server.peers, [p.remote]);
});

Deno.test("reliable, unreliable and unsequenced packets arrive with their flags and channel", async () => {
  await using p = await pair();
  p.peer.send(3, "reliable", PacketFlag.RELIABLE);
  p.peer.send(1, "unreliable", 0);
  p.peer.send(2, "unsequenced", PacketFlag.UNSEQUENCED);
  const got = new Map<string, [number, number]>();
  while (got.size < 3) {
    const event = await nextEvent(p.server, "receive");
    got.set(text(event.data), [event.channelID, event.flags]);
  }
  assert.deepEqual(got.get("reliable"), [3, PacketFlag.RELIABLE]);
  assert.deepEqual(got.get("unreliable"), [1, 0]);
  assert.deepEqual(got.get("unsequenced"), [2, PacketFlag.UNSEQUENCED]);
});

Deno.test("a 1 MB packet is fragmented and reassembled byte-exact, reliably and with UNRELIABLE_FRAGMENT", async () => {
  await using p = await pair();
  const data = crypto.getRandomValues(new Uint8Array(65536));
  const big = new Uint8Array(1_000_000);
  for (let i = 0; i < big.length; i += data.length) big.set(data.subarray(0, big.length - i), i);
  p.peer.send(0, big, PacketFlag.RELIABLE);
  const reliable = await nextEvent(p.server, "receive");
  assert.deepEqual(reliable.data, big);
  assert.equal(reliable.flags, PacketFlag.RELIABLE);
  // Unreliable: a lost fragment loses the packet, so allow a few attempts.
  const medium = big.subarray(0, 100_000);
  let unreliable: { data: Uint8Array; flags: number } | undefined;
  for (let attempt = 0; attempt < 5 && unreliable === undefined; attempt++) {
    p.peer.send(1, medium, PacketFlag.UNRELIABLE_FRAGMENT);
    unreliable = await nextEvent(p.server, "receive", 1500).catch(() => undefined);
  }
  assert.ok(unreliable, "no unreliable-fragment packet arrived in 5 attempts");
  assert.deepEqual(unreliable.data, medium);
  assert.equal(unreliable.flags, PacketFlag.UNRELIABLE_FRAGMENT);
});

Deno.test(
  "IPv6: a host on ::1 accepts a connection and echoes",
  { ignore: !hasIPv6() },
  async () => {
    await using p = await pair({}, LOOPBACK6);
    assert.equal(p.server.address.hostname, LOOPBACK6);
    p.peer.send(0, "over v6");
    const event = await nextEvent(p.server, "receive");
    assert.equal(text(event.data), "over v6");
    assert.equal(p.remote.address.hostname, LOOPBACK6);
  },
);

Deno.test('the node:dgram socket works like the Deno one (socket: "node")', async () => {
  await using p = await pair({ socket: "node" });
  p.peer.send(2, "via node:dgram");
  assert.equal(text((await nextEvent(p.server, "receive")).data), "via node:dgram");
});

Deno.test("without --unstable-net the host falls back to node:dgram transparently", async () => {
  const module = new URL("../enet/mod.ts", import.meta.url).href;
  const script = `
    import { createHost } from "${module}";
    const server = await createHost({ address: { hostname: "127.0.0.1", port: 0 } });
    const client = await createHost({ address: { hostname: "127.0.0.1", port: 0 }, peerCount: 1 });
    const peer = await client.connect(server.address);
    peer.send(0, "fallback");
    for await (const event of server) {
      if (event.type === "receive") {
        console.log(typeof Deno.listenDatagram, new TextDecoder().decode(event.data));
        break;
      }
    }
    await client.close();
    await server.close();
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--allow-net=127.0.0.1", "--allow-read", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  assert.equal(stdout, "undefined fallback");
});

Deno.test('a vanished peer is reported as disconnect with reason "timeout" within the configured timeout', async () => {
  await using p = await pair();
  p.remote.setTimeout({ limit: 4, minimum: 400, maximum: 800 });
  p.remote.setPingInterval(100);
  const started = performance.now();
  p.peer.reset(); // the client forgets the connection without telling the server
  const event = await nextEvent(p.server, "disconnect", 3000);
  const elapsed = performance.now() - started;
  assert.equal(event.reason, "timeout");
  assert.equal(event.peer, p.remote);
  assert.ok(elapsed < 2000, `took ${elapsed} ms`);
  assert.deepEqual(await p.remote.closed, { reason: "timeout", data: 0 });
});

Deno.test("Host.connect() rejects with TimeoutError (ERR_CONNECT_TIMEOUT) when nobody answers", async () => {
  using silent = silentSocket();
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  const port = (silent.addr as Deno.NetAddr).port;
  await assert.rejects(
    client.connect({ hostname: LOOPBACK4, port }, { timeout: { minimum: 300, maximum: 600 } }),
    (error: unknown) =>
      error instanceof DOMException && error.name === "TimeoutError" &&
      error.message.includes("ERR_CONNECT_TIMEOUT") && error.message.includes("checksum"),
  );
});

Deno.test("Host.connect() rejects with the signal's reason when aborted", async () => {
  using silent = silentSocket();
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  const port = (silent.addr as Deno.NetAddr).port;
  await assert.rejects(
    client.connect({ hostname: LOOPBACK4, port }, { signal: AbortSignal.timeout(100) }),
    (error: unknown) => error instanceof DOMException && error.name === "TimeoutError",
  );
  assert.deepEqual(client.peers, []);
});

Deno.test("Host.connect() throws ERR_PEER_TABLE_FULL when every slot is taken", async () => {
  using silent = silentSocket();
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  const port = (silent.addr as Deno.NetAddr).port;
  const controller = new AbortController();
  const pending = client.connect({ hostname: LOOPBACK4, port }, { signal: controller.signal });
  await assert.rejects(
    client.connect({ hostname: LOOPBACK4, port }),
    (error: unknown) =>
      error instanceof EnetError && error.code === "ERR_PEER_TABLE_FULL" && error.limit === 1,
  );
  controller.abort();
  await assert.rejects(pending);
});

Deno.test("Peer.send() throws typed errors for a bad channel, an oversized packet and a closed peer", async () => {
  await using p = await pair({ maximumPacketSize: 1000 });
  assert.throws(
    () => p.peer.send(4, "x"),
    (error: unknown) =>
      error instanceof EnetRangeError && error.code === "ERR_CHANNEL_OUT_OF_RANGE",
  );
  assert.throws(
    () => p.peer.send(0, new Uint8Array(1001)),
    (error: unknown) =>
      error instanceof EnetRangeError && error.code === "ERR_PACKET_TOO_LARGE" &&
      error.size === 1001 && error.limit === 1000,
  );
  p.peer.disconnectNow(3);
  assert.throws(
    () => p.peer.send(0, "late"),
    (error: unknown) => error instanceof EnetError && error.code === "ERR_PEER_NOT_CONNECTED",
  );
  const event = await nextEvent(p.server, "disconnect");
  assert.deepEqual([event.reason, event.data], ["remote", 3]);
});

Deno.test("disconnect() data reaches the remote and closed resolves on both sides", async () => {
  await using p = await pair();
  p.peer.disconnect(1234);
  const event = await nextEvent(p.server, "disconnect");
  assert.deepEqual([event.reason, event.data], ["remote", 1234]);
  assert.deepEqual(await p.peer.closed, { reason: "local", data: 1234 });
  assert.deepEqual(await p.remote.closed, { reason: "remote", data: 1234 });
  assert.equal(p.peer.state, "disconnected");
});

Deno.test("disconnectLater() delivers everything queued before disconnecting", async () => {
  await using p = await pair();
  for (let i = 0; i < 500; i++) p.peer.send(i % 4, `m${i}`);
  p.peer.disconnectLater(9);
  let received = 0;
  for await (const event of p.server) {
    if (event.type === "receive") received++;
    if (event.type === "disconnect") {
      assert.equal(event.data, 9);
      break;
    }
  }
  assert.equal(received, 500);
});

Deno.test("Host.broadcast() reaches every connected peer, or all but one", async () => {
  await using server = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  const clients = await Promise.all(
    [1, 2, 3].map(() => createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 1 })),
  );
  try {
    await Promise.all(clients.map((c) => c.connect(server.address, { channelCount: 2 })));
    while (server.peers.length < 3) await nextEvent(server, "connect");
    server.broadcast(1, "to all", PacketFlag.RELIABLE);
    for (const client of clients) {
      const event = await nextEvent(client, "receive");
      assert.equal(text(event.data), "to all");
      assert.equal(event.channelID, 1);
    }
    const [excluded] = server.peers;
    server.broadcast(0, "to the others", PacketFlag.RELIABLE, excluded);
    let others = 0;
    for (const client of clients) {
      const event = await nextEvent(client, "receive", 500).catch(() => undefined);
      if (client.address.port === excluded.address.port) {
        assert.equal(event, undefined, "the excluded peer got the broadcast");
      } else {
        assert.equal(text(event!.data), "to the others");
        others++;
      }
    }
    assert.equal(others, 2);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

Deno.test("peer.channel(id) streams carry ordered data both ways and take the channel off host events", async () => {
  await using p = await pair();
  const inbound = p.remote.channel(2).readable.getReader();
  const writer = p.peer.channel(2).writable.getWriter();
  for (let i = 0; i < 2000; i++) await writer.write(new TextEncoder().encode(`chunk ${i}`));
  p.peer.send(1, "on host events");
  for (let i = 0; i < 2000; i++) {
    const { value } = await deadline(inbound.read(), 5000, "stream chunk");
    assert.equal(text(value!), `chunk ${i}`);
  }
  const event = await nextEvent(p.server, "receive");
  assert.equal(event.channelID, 1);
  writer.releaseLock();
  p.peer.disconnect();
  const end = await deadline(inbound.read(), 5000, "stream end");
  assert.equal(end.done, true);
});

Deno.test("peer.sendAcknowledged() resolves once the remote acknowledged every fragment", async () => {
  await using p = await pair();
  await deadline(p.peer.sendAcknowledged(0, new Uint8Array(50_000)), 5000, "acknowledgement");
  const event = await nextEvent(p.server, "receive");
  assert.equal(event.data.length, 50_000);
  assert.equal(p.peer.reliableDataInTransit, 0);
});

Deno.test("peer.sendAcknowledged() rejects when the connection ends first", async () => {
  await using p = await pair();
  p.remote.reset();
  const pending = p.peer.sendAcknowledged(0, "never acknowledged");
  p.peer.disconnectNow();
  await assert.rejects(
    pending,
    (error: unknown) => error instanceof DOMException && error.name === "AbortError",
  );
});

Deno.test("statistics: round trip time, data totals and host counters move", async () => {
  await using p = await pair();
  for (let i = 0; i < 50; i++) await p.peer.sendAcknowledged(0, new Uint8Array(100));
  assert.ok(p.peer.roundTripTime < 500, `rtt ${p.peer.roundTripTime}`);
  assert.ok(p.peer.packetThrottle > 0 && p.peer.packetThrottle <= 1);
  assert.ok(p.client.totalSentPackets > 0 && p.client.totalSentData > 5000);
  assert.ok(p.server.totalReceivedPackets > 0 && p.server.totalReceivedData > 5000);
});

Deno.test("Host.close() disconnects peers and ends iteration", async () => {
  const p = await pair();
  const iteration = Array.fromAsync(p.server);
  await p.client.close();
  const disconnect = await deadline(p.remote.closed, 3000, "remote closed");
  assert.equal(disconnect.reason, "remote");
  await p.server.close();
  const events = await deadline(iteration, 3000, "iteration end");
  assert.ok(events.some((e) => e.type === "disconnect"));
  assert.throws(() => p.server.broadcast(0, "x"), (e: unknown) => e instanceof EnetError);
});

Deno.test("Host.connect() with a per-peer mtu keeps every datagram of that peer within it", async () => {
  let largest = 0;
  await using server = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    intercept: (datagram) => {
      largest = Math.max(largest, datagram.byteLength);
      return "accept";
    },
  });
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 2,
  });
  const peer = await deadline(client.connect(server.address, { mtu: 576 }), 5000, "connect");
  const accepted = await nextEvent(server, "connect");
  assert.equal(peer.mtu, 576);
  assert.equal(accepted.peer.mtu, 576, "the server settles on the smaller offer");
  const payload = new Uint8Array(20_000).map((_, i) => i * 7);
  peer.send(0, payload, PacketFlag.RELIABLE);
  const received = await nextEvent(server, "receive");
  assert.deepEqual(received.data, payload);
  assert.ok(largest > 0 && largest <= 576, `largest datagram ${largest} B`);
  await assert.rejects(client.connect(server.address, { mtu: 100 }), EnetTypeError);
});
