/**
 * ENet tour: a game-style server and two clients over loopback. Shows
 * connect data, reliable chat on one channel, unreliable sequenced position
 * updates on another, a 200 KB level download reassembled from fragments,
 * a web-stream channel, round-trip statistics and disconnect data.
 *
 * @module
 */

import { createHost, type Host, PacketFlag, type Peer } from "../enet/mod.ts";

/** One line for the tour menu. */
export const description =
  "ENet reliable UDP: channels, unreliable updates, 200 KB fragments, streams, RTT";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function runServer(server: Host): Promise<void> {
  for await (const event of server) {
    switch (event.type) {
      case "connect":
        console.log(
          `  server: player #${event.data} connected from port ${event.peer.address.port}`,
        );
        break;
      case "receive":
        if (event.channelID === 0) {
          const line = decoder.decode(event.data);
          console.log(`  server: chat "${line}" → broadcast`);
          server.broadcast(0, `echo: ${line}`, PacketFlag.RELIABLE);
          if (line === "download level") {
            const level = new Uint8Array(200_000).map((_, i) => i % 251);
            event.peer.send(2, level, PacketFlag.RELIABLE);
          }
        }
        break;
      case "disconnect":
        console.log(`  server: player left (${event.reason}, data ${event.data})`);
        break;
    }
  }
}

/** Runs the demo and returns when everything is closed. */
export default async function demo(): Promise<void> {
  await using server = await createHost({
    address: { hostname: "127.0.0.1", port: 0 },
    peerCount: 8,
    channelLimit: 4,
  });
  console.log(`  server listening on ${server.address.hostname}:${server.address.port}`);
  const serving = runServer(server);

  await using alice = await createHost({
    address: { hostname: "127.0.0.1", port: 0 },
    peerCount: 1,
  });
  await using bob = await createHost({ address: { hostname: "127.0.0.1", port: 0 }, peerCount: 1 });
  const alicePeer: Peer = await alice.connect(server.address, { channelCount: 4, data: 1 });
  const bobPeer: Peer = await bob.connect(server.address, { channelCount: 4, data: 2 });

  // Unreliable sequenced position updates: late ones are dropped, never reordered.
  for (let tick = 0; tick < 20; tick++) alicePeer.send(1, encoder.encode(`pos ${tick}`), 0);

  alicePeer.send(0, "hello from alice", PacketFlag.RELIABLE);
  bobPeer.send(0, "download level", PacketFlag.RELIABLE);

  const bobInbox = (async () => {
    let echoes = 0, level = false;
    for await (const event of bob) {
      if (event.type !== "receive") continue;
      if (event.channelID === 2) {
        level = event.data.every((byte, i) => byte === i % 251);
        console.log(`  bob: level of ${event.data.length} bytes reassembled, intact: ${level}`);
      } else {
        console.log(`  bob: ${decoder.decode(event.data)}`);
        echoes++;
      }
      if (echoes >= 2 && level) return;
    }
  })();
  await bobInbox;

  // A channel as web streams: reliable writes with backpressure.
  const writer = alicePeer.channel(3).writable.getWriter();
  for (let i = 0; i < 3; i++) await writer.write(encoder.encode(`stream chunk ${i}`));
  writer.releaseLock();
  await alicePeer.sendAcknowledged(0, "acknowledged chat line");
  console.log(
    `  alice: RTT ${alicePeer.roundTripTime} ms (±${alicePeer.roundTripTimeVariance}), ` +
      `sent ${alice.totalSentPackets} datagrams / ${alice.totalSentData} bytes`,
  );

  alicePeer.disconnect(1001);
  console.log(`  alice: closed`, await alicePeer.closed);
  bobPeer.disconnect(1002);
  await bobPeer.closed;
  await alice.close();
  await bob.close();
  await server.close();
  await serving;
}

if (import.meta.main) await demo();
