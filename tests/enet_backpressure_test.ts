/**
 * What a host holds for a slow application, over real loopback sockets: one
 * event queue per connection served fairly, and the per-peer and host-wide
 * bounds on data waiting to be consumed, enforced on the wire as C does
 * (reliable commands over the bound go unacknowledged, so the sender
 * retransmits them once the application has caught up).
 */
import assert from "node:assert/strict";
import { until } from "./_tools/until.ts";
import { createHost, type Host, type HostEvent, PacketFlag, type Peer } from "../enet/mod.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

async function connected(server: Host, clients: Host[]): Promise<Peer[]> {
  const peers: Peer[] = [];
  for (const client of clients) {
    peers.push(await deadline(client.connect(server.address), 5000, "connect"));
  }
  await until(() => server.peers.length === clients.length, 5000, "server-side connects");
  server.drainEvents();
  return peers;
}

const packet = (index: number, size: number) => {
  const data = new Uint8Array(size);
  new DataView(data.buffer).setUint32(0, index);
  return data;
};

Deno.test("a peer's backlog of events delays another peer's event by one turn, not by the backlog", async () => {
  await using server = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  await using busy = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 1 });
  await using quiet = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 1 });
  const [busyPeer, quietPeer] = await connected(server, [busy, quiet]);
  for (let i = 0; i < 2000; i++) busyPeer.send(0, packet(i, 16), PacketFlag.RELIABLE);
  await until(() => server.waitingPackets === 2000, 5000, "the backlog to arrive");
  quietPeer.send(0, new TextEncoder().encode("quiet"), PacketFlag.RELIABLE);
  await until(() => server.waitingPackets === 2001, 5000, "the quiet packet to arrive");
  const events = server.drainEvents() as Extract<HostEvent, { type: "receive" }>[];
  assert.equal(events.length, 2001);
  const at = events.findIndex((event) => event.data.length === 5);
  assert.ok(at <= 1, `the quiet peer's packet came out at position ${at}`);
  // The busy peer's packets still come in order.
  const order = events.filter((event) => event.data.length === 16).map((event) =>
    new DataView(event.data.buffer, event.data.byteOffset).getUint32(0)
  );
  assert.deepEqual(order, Array.from({ length: 2000 }, (_, i) => i));
  assert.equal(server.waitingPackets, 0);
  assert.equal(server.waitingData, 0);
});

Deno.test("data over maximumWaitingData waits unacknowledged on the sender and arrives complete once consumed", async () => {
  await using server = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    maximumWaitingData: 32 * 1024,
    maximumWaitingPackets: 1000,
  });
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  const [peer] = await connected(server, [client]);
  const remote = server.peers[0];
  for (let i = 0; i < 200; i++) peer.send(0, packet(i, 1024), PacketFlag.RELIABLE);
  await until(() => server.waitingData >= 31 * 1024, 5000, "the bound to fill");
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.ok(server.waitingData <= 32 * 1024, `${server.waitingData} bytes waiting`);
  assert.ok(remote.waitingData <= 32 * 1024);
  assert.ok(peer.reliableDataInTransit > 0, "the rest is still unacknowledged on the sender");
  // The application catches up: the sender's retransmissions are taken in order.
  const received: number[] = [];
  await deadline(
    (async () => {
      for await (const event of server) {
        if (event.type !== "receive") continue;
        received.push(new DataView(event.data.buffer, event.data.byteOffset).getUint32(0));
        if (received.length === 200) break;
      }
    })(),
    10_000,
    "all 200 packets",
  );
  assert.deepEqual(received, Array.from({ length: 200 }, (_, i) => i));
  assert.equal(peer.state, "connected");
});

Deno.test("over maximumHostWaitingData a peer is held to its fair share while another still gets in", async () => {
  await using server = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    maximumHostWaitingData: 64 * 1024,
  });
  await using heavy = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 1 });
  await using light = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 1 });
  const [heavyPeer, lightPeer] = await connected(server, [heavy, light]);
  for (let i = 0; i < 300; i++) heavyPeer.send(0, packet(i, 1024), PacketFlag.RELIABLE);
  await until(() => server.waitingData >= 63 * 1024, 5000, "the host budget to fill");
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(server.waitingData <= 64 * 1024, `${server.waitingData} bytes waiting`);
  // The light peer is under its share (64 KiB ÷ 2 peers): its packets are taken.
  for (let i = 0; i < 8; i++) lightPeer.send(0, packet(i, 1024), PacketFlag.RELIABLE);
  await until(() => server.waitingPackets >= 64 + 8, 5000, "the light peer's packets");
  assert.ok(server.waitingData <= 2 * 64 * 1024);
});
