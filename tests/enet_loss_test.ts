/**
 * Proof under loss: our ENet through the UDP impairment proxy
 * (tests/_tools/udp_impair.ts) with 10 % loss, 5 % duplication, reordering
 * and 20 ± 10 ms delay each way, ours ↔ ours. (ours ↔ C is in
 * tests/enet_loss_c_test.ts.)
 */
import assert from "node:assert/strict";
import { createHost, type Host, type HostEvent, PacketFlag, type Peer } from "../enet/mod.ts";
import { LOOPBACK4 } from "./_loopback.ts";
import { EventPump } from "./_tools/enet_events.ts";
import { type ImpairmentOptions, UdpImpairProxy } from "./_tools/udp_impair.ts";
import { BAD_NETWORK, bigPayload, checkOrdered, message } from "./_tools/loss_helpers.ts";

interface Setup extends AsyncDisposable {
  server: Host;
  client: Host;
  proxy: UdpImpairProxy;
  peer: Peer;
  serverPeer: () => Peer;
  serverEvents: HostEvent[];
  clientEvents: HostEvent[];
  serverPump: EventPump;
  clientPump: EventPump;
}

/**
 * Our server, the proxy in front of it, our client connected through the
 * proxy. The server echoes every packet back on the same channel with the
 * same flags when `echo` is set.
 */
async function lossySetup(
  { seed, channelCount = 3, echo = false, network = BAD_NETWORK }: {
    seed: number;
    channelCount?: number;
    echo?: boolean;
    network?: Omit<ImpairmentOptions, "target">;
  },
): Promise<Setup> {
  const server = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 4 });
  const proxy = await UdpImpairProxy.start({ target: server.address, seed, ...network });
  const client = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 1 });
  const serverEvents: HostEvent[] = [];
  const clientEvents: HostEvent[] = [];
  let remote: Peer | undefined;
  const serverPump = new EventPump(server, (event) => {
    if (event.type === "connect") remote = event.peer;
    if (event.type === "receive" && echo) {
      event.peer.send(event.channelID, event.data, event.flags);
    } else serverEvents.push(event);
  });
  const clientPump = new EventPump(client, (event) => clientEvents.push(event));
  const peer = await client.connect(proxy.address, { channelCount });
  await serverPump.until(() => remote !== undefined, 10_000, "server connect event");
  return {
    server,
    client,
    proxy,
    peer,
    serverPeer: () => remote!,
    serverEvents,
    clientEvents,
    serverPump,
    clientPump,
    async [Symbol.asyncDispose]() {
      await proxy.close();
      await Promise.all([client.close(), server.close()]);
      await Promise.all([serverPump.done, clientPump.done]);
    },
  };
}

const TOTAL = 10_000;
const CHANNELS = 3;

Deno.test("10 000 reliable messages on 3 channels arrive complete, in order and once through a lossy, duplicating, reordering link", async () => {
  await using setup = await lossySetup({ seed: 11, channelCount: CHANNELS });
  const { peer, serverEvents, serverPump, proxy } = setup;
  const serials = new Array(CHANNELS).fill(0);
  for (let i = 0; i < TOTAL; i++) {
    const channel = i % CHANNELS;
    peer.send(channel, message(serials[channel]++, i), PacketFlag.RELIABLE);
  }
  const receives = () => serverEvents.filter((e) => e.type === "receive");
  await serverPump.until(() => receives().length >= TOTAL, 45_000, "10 000 messages");
  // A duplicate delivery would show up shortly after the last message.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const received = receives() as { channelID: number; data: Uint8Array }[];
  assert.equal(received.length, TOTAL);
  checkOrdered(received, serials);
  const { toServer, toClient } = proxy.stats;
  assert.ok(toServer.lost > 0 && toServer.duplicated > 0 && toServer.reordered > 0);
  assert.ok(toClient.lost > 0, "acknowledgements were lost too");
});

Deno.test("unsequenced messages arrive at most once through a duplicating, reordering link", async () => {
  await using setup = await lossySetup({ seed: 12, channelCount: 1 });
  const { peer, serverEvents, proxy } = setup;
  const count = 2000;
  for (let i = 0; i < count; i++) {
    peer.send(0, message(i, i), PacketFlag.UNSEQUENCED);
    if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // Let the delayed and duplicated copies drain.
  await new Promise((resolve) => setTimeout(resolve, 600));
  const seen = new Set<number>();
  for (const event of serverEvents) {
    if (event.type !== "receive") continue;
    const serial = new DataView(event.data.buffer, event.data.byteOffset).getUint32(0);
    assert.ok(!seen.has(serial), `unsequenced message ${serial} delivered twice`);
    seen.add(serial);
  }
  assert.ok(proxy.stats.toServer.duplicated > 0, "the link duplicated datagrams");
  assert.ok(seen.size > 0 && seen.size < count, `delivered ${seen.size} of ${count}`);
});

Deno.test("1 MB fragmented packets reassemble byte-exact in both directions through the lossy link", async () => {
  await using setup = await lossySetup({ seed: 13, channelCount: 2, echo: true });
  const { peer, clientEvents, clientPump } = setup;
  // One 1 MB packet out, echoed back: ~765 fragments each way.
  const payload = bigPayload(1 << 20, 1);
  peer.send(1, payload, PacketFlag.RELIABLE);
  const echoes = () => clientEvents.filter((e) => e.type === "receive");
  await clientPump.until(() => echoes().length >= 1, 40_000, "the 1 MB echo");
  const [echo] = echoes();
  assert.ok(echo.type === "receive" && echo.channelID === 1);
  assert.deepEqual(echo.data, payload);
});

Deno.test("a 2 s total outage does not disconnect with default timeouts and traffic resumes", async () => {
  await using setup = await lossySetup({ seed: 14, channelCount: 1 });
  const { peer, proxy, serverEvents, serverPump, clientEvents } = setup;
  const outage = proxy.blackout(2000);
  for (let i = 0; i < 20; i++) {
    peer.send(0, message(i, i), PacketFlag.RELIABLE);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await outage;
  for (let i = 20; i < 40; i++) peer.send(0, message(i, i), PacketFlag.RELIABLE);
  const receives = () => serverEvents.filter((e) => e.type === "receive");
  await serverPump.until(
    () => receives().length >= 40,
    20_000,
    "messages sent during and after the outage",
  );
  checkOrdered(receives() as { channelID: number; data: Uint8Array }[], [40]);
  assert.equal(peer.state, "connected");
  assert.equal(setup.serverPeer().state, "connected");
  assert.ok(!clientEvents.some((e) => e.type === "disconnect"));
  assert.ok(!serverEvents.some((e) => e.type === "disconnect"));
  assert.ok(proxy.stats.toServer.blackholed > 0);
});

Deno.test('an outage longer than the configured timeout disconnects both sides with reason "timeout"', async () => {
  await using setup = await lossySetup({ seed: 15, channelCount: 1 });
  const { peer, proxy, serverEvents, clientEvents, serverPump, clientPump } = setup;
  const timeouts = { limit: 32, minimum: 1000, maximum: 2000 };
  peer.setTimeout(timeouts);
  setup.serverPeer().setTimeout(timeouts);
  proxy.blackhole = true;
  const started = performance.now();
  peer.send(0, message(0, 0), PacketFlag.RELIABLE);
  await clientPump.until(
    () => clientEvents.some((e) => e.type === "disconnect"),
    10_000,
    "client timeout",
  );
  const elapsed = performance.now() - started;
  await serverPump.until(
    () => serverEvents.some((e) => e.type === "disconnect"),
    10_000,
    "server timeout",
  );
  const clientDisconnect = clientEvents.find((e) => e.type === "disconnect");
  const serverDisconnect = serverEvents.find((e) => e.type === "disconnect");
  assert.equal(clientDisconnect?.type === "disconnect" && clientDisconnect.reason, "timeout");
  assert.equal(serverDisconnect?.type === "disconnect" && serverDisconnect.reason, "timeout");
  assert.deepEqual(await peer.closed, { reason: "timeout", data: 0 });
  assert.ok(elapsed >= 900 && elapsed < 6000, `timed out after ${elapsed.toFixed(0)} ms`);
});
