/**
 * Proof under loss against C libenet 1.3.17: our host ↔ the C helper
 * (tests/enet_peers/enet_peer.c) through the UDP impairment proxy with 10 %
 * loss, 5 % duplication, reordering and 20 ± 10 ms delay each way.
 */
import assert from "node:assert/strict";
import { createHost, type HostEvent, PacketFlag, type Peer } from "../enet/mod.ts";
import { LOOPBACK4 } from "./_loopback.ts";
import { EventPump } from "./_tools/enet_events.ts";
import { UdpImpairProxy } from "./_tools/udp_impair.ts";
import { buildCPeer, LineProcess, startServer } from "./enet_peers/peers.ts";
import { BAD_NETWORK, bigPayload, checkOrdered, message } from "./_tools/loss_helpers.ts";

// Built once for the whole file.
const buildDir = Deno.makeTempDirSync({ prefix: "netkit-enet-loss-c-" });
const binary = await buildCPeer(buildDir);
addEventListener("unload", () => {
  try {
    Deno.removeSync(buildDir, { recursive: true });
  } catch { /* gone */ }
});

/** Our client → proxy → C echo server. */
async function withCEchoServer(
  seed: number,
  body: (
    context: {
      proxy: UdpImpairProxy;
      server: LineProcess;
      peer: Peer;
      events: HostEvent[];
      pump: EventPump;
    },
  ) => Promise<void>,
  channelCount = 3,
): Promise<void> {
  const { process: server, port } = await startServer(binary, ["server", "--port", "0"]);
  await using _server = server;
  await using proxy = await UdpImpairProxy.start({
    target: { hostname: LOOPBACK4, port },
    seed,
    ...BAD_NETWORK,
  });
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  const events: HostEvent[] = [];
  const pump = new EventPump(client, (event) => events.push(event));
  try {
    const peer = await client.connect(proxy.address, { channelCount });
    await body({ proxy, server, peer, events, pump });
  } finally {
    await proxy.close();
    await client.close();
    await pump.done;
  }
}

const receives = (events: HostEvent[]) =>
  events.filter((e): e is Extract<HostEvent, { type: "receive" }> => e.type === "receive");

Deno.test("ours → C echo server: 10 000 reliable messages on 3 channels come back complete, in order and once through the lossy link", async () => {
  await withCEchoServer(21, async ({ peer, events, pump, proxy }) => {
    const serials = [0, 0, 0];
    for (let i = 0; i < 10_000; i++) {
      const channel = i % 3;
      peer.send(channel, message(serials[channel]++, i), PacketFlag.RELIABLE);
    }
    await pump.until(() => receives(events).length >= 10_000, 50_000, "10 000 echoes");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(receives(events).length, 10_000);
    checkOrdered(receives(events), serials);
    assert.ok(proxy.stats.toServer.lost > 0 && proxy.stats.toClient.duplicated > 0);
  });
});

Deno.test("C client → our server: 10 000 reliable messages on 3 channels arrive complete, in order and once through the lossy link", async () => {
  await using server = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 4,
  });
  const events: HostEvent[] = [];
  const pump = new EventPump(server, (event) => events.push(event));
  await using proxy = await UdpImpairProxy.start({
    target: server.address,
    seed: 22,
    ...BAD_NETWORK,
  });
  const client = new LineProcess(binary, [
    "client",
    "--connect",
    `${proxy.address.hostname}:${proxy.address.port}`,
    "--channels",
    "3",
  ]);
  try {
    await client.waitFor((line) => line.startsWith("CONNECT"), 1, 15_000);
    await client.send(`burst 10000 3 ${PacketFlag.RELIABLE} 24`);
    await pump.until(() => receives(events).length >= 10_000, 50_000, "10 000 messages from C");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const got = receives(events);
    assert.equal(got.length, 10_000);
    // burst: packet k goes on channel k % 3 and starts with k (u32 BE).
    const next = [0, 1, 2];
    for (const { channelID, data } of got) {
      const k = new DataView(data.buffer, data.byteOffset).getUint32(0);
      assert.equal(k, next[channelID], `channel ${channelID}`);
      next[channelID] += 3;
    }
    assert.ok(proxy.stats.toServer.lost > 0 && proxy.stats.toServer.duplicated > 0);
    await client.send("quit");
  } finally {
    await proxy.close();
    await client[Symbol.asyncDispose]();
    await server.close();
    await pump.done;
  }
});

Deno.test("ours ↔ C: unsequenced messages come back at most once and a 1 MB packet reassembles byte-exact both ways through the lossy link", async () => {
  await withCEchoServer(23, async ({ peer, events, pump }) => {
    for (let i = 0; i < 1000; i++) {
      peer.send(0, message(i, i), PacketFlag.UNSEQUENCED);
      if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 800));
    const seen = new Set<number>();
    for (const { data } of receives(events)) {
      const serial = new DataView(data.buffer, data.byteOffset).getUint32(0);
      assert.ok(!seen.has(serial), `unsequenced ${serial} twice`);
      seen.add(serial);
    }
    assert.ok(seen.size > 0, "some unsequenced messages made it");
    events.length = 0;

    const payload = bigPayload(1 << 20, 3);
    peer.send(1, payload, PacketFlag.RELIABLE);
    await pump.until(
      () => receives(events).some((e) => e.data.length === payload.length),
      40_000,
      "1 MB echo from C",
    );
    const echo = receives(events).find((e) => e.data.length === payload.length)!;
    assert.equal(echo.channelID, 1);
    assert.deepEqual(echo.data, payload);
  });
});

Deno.test('ours ↔ C: a 2 s total outage disconnects neither side; a longer one than our configured timeout ends ours with "timeout"', async () => {
  await withCEchoServer(24, async ({ peer, events, pump, proxy, server }) => {
    const outage = proxy.blackout(2000);
    for (let i = 0; i < 10; i++) {
      peer.send(0, message(i, i), PacketFlag.RELIABLE);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await outage;
    for (let i = 10; i < 20; i++) peer.send(0, message(i, i), PacketFlag.RELIABLE);
    await pump.until(() => receives(events).length >= 20, 20_000, "echoes after the outage");
    checkOrdered(receives(events), [20]);
    assert.equal(peer.state, "connected");
    assert.ok(!server.lines.some((line) => line.startsWith("DISCONNECT")), "C kept the peer");

    peer.setTimeout({ limit: 32, minimum: 1000, maximum: 2000 });
    proxy.blackhole = true;
    peer.send(0, message(20, 20), PacketFlag.RELIABLE);
    await pump.until(() => events.some((e) => e.type === "disconnect"), 10_000, "our timeout");
    const disconnect = events.find((e) => e.type === "disconnect");
    assert.ok(disconnect?.type === "disconnect" && disconnect.reason === "timeout");
  }, 1);
});
