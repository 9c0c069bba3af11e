/**
 * Seeded fuzzing of a live host: 100 000 random and mutated datagrams (the
 * mutations start from real traffic captured on the wire) thrown at a server
 * with connected peers, from a stranger's address and from a connected
 * peer's own address (spoofed through the proxy), plus some at that client.
 */
import assert from "node:assert/strict";
import { createHost, type HostEvent, PacketFlag, type Peer } from "../enet/mod.ts";
import { LOOPBACK4 } from "./_loopback.ts";
import { EventPump } from "./_tools/enet_events.ts";
import { UdpImpairProxy } from "./_tools/udp_impair.ts";
import { prng } from "./_tools/prng.ts";

const INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0x0C, 0x0D, 0x88, 0x8C, 0x40, 0xC0];

/** One mutated copy of a captured datagram. */
function mutate(random: () => number, corpus: Uint8Array[]): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  let data = corpus[int(corpus.length)].slice();
  const rounds = 1 + int(4);
  for (let round = 0; round < rounds; round++) {
    const at = data.length > 0 ? int(data.length) : 0;
    switch (int(9)) {
      case 0: // flip a bit
        if (data.length) data[at] ^= 1 << int(8);
        break;
      case 1: // interesting byte
        if (data.length) data[at] = INTERESTING[int(INTERESTING.length)];
        break;
      case 2: // random byte
        if (data.length) data[at] = int(256);
        break;
      case 3: // truncate
        data = data.slice(0, int(data.length + 1));
        break;
      case 4: { // append random tail
        const tail = new Uint8Array(1 + int(64)).map(() => int(256));
        const grown = new Uint8Array(data.length + tail.length);
        grown.set(data);
        grown.set(tail, data.length);
        data = grown;
        break;
      }
      case 5: { // overwrite a 16/32-bit field with an extreme value (lengths, counts, offsets)
        const view = new DataView(data.buffer);
        if (data.length >= at + 4) {
          view.setUint32(at, [0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x02000000][int(5)]);
        } else if (data.length >= at + 2) view.setUint16(at, [0, 0xFFFF, 0x8000][int(3)]);
        break;
      }
      case 6: { // splice: head of this one, tail of another
        const other = corpus[int(corpus.length)];
        const cut = int(other.length + 1);
        const spliced = new Uint8Array(at + other.length - cut);
        spliced.set(data.subarray(0, at));
        spliced.set(other.subarray(cut), at);
        data = spliced;
        break;
      }
      case 7: { // repeat a slice (duplicated commands)
        const from = int(data.length + 1), to = from + int(data.length - from + 1);
        const repeated = new Uint8Array(data.length + (to - from));
        repeated.set(data.subarray(0, to));
        repeated.set(data.subarray(from), to);
        data = repeated;
        break;
      }
      default: // clear the compressed / sent-time header bits or set them
        if (data.length) data[0] ^= [0x40, 0x80, 0xC0][int(3)];
    }
  }
  return data.length > 4096 ? data.subarray(0, 4096) : data;
}

function randomDatagram(random: () => number, victimPeerID: number): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  const data = new Uint8Array(int(1500)).map(() => int(256));
  // Half of them get a plausible header for a real peer slot, so they reach command parsing.
  if (data.length >= 2 && random() < 0.5) {
    const peerID = (int(4) === 0 ? 0xFFF : victimPeerID) | (int(4) << 12) | (int(2) << 15);
    data[0] = peerID >> 8;
    data[1] = peerID & 0xFF;
  }
  return data;
}

const TOTAL = 100_000;

Deno.test("100 000 random and mutated datagrams neither crash nor bloat a host, and its peers keep exchanging", async () => {
  const options = {
    compression: "range-coder" as const,
    maximumPacketSize: 1 << 20,
    maximumWaitingData: 2 << 20,
  };
  await using server = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 32,
    ...options,
  });
  const serverEvents: HostEvent[] = [];
  // ENet has no authentication: a spoofed datagram carrying the victim's address, peer ID and
  // session bits whose bytes parse as a DISCONNECT ends the victim, as it does in C, and forged
  // CONNECTs from its address open peers that later fuzz ends again. A receive queued before
  // such an end is consumed after it, when the peer can no longer send: it is not echoed then.
  // The bystander is never spoofed, so its echoes stay complete (checked below).
  const serverPump = new EventPump(server, (event) => {
    if (event.type !== "receive") serverEvents.push(event);
    else if (event.peer.state === "connected") {
      event.peer.send(event.channelID, event.data, event.flags);
    }
  });

  // Capture real traffic between a client and the server: handshake, all send kinds,
  // fragments, acks, pings, disconnect.
  const corpus: Uint8Array[] = [];
  let victimPeerID = -1;
  await using proxy = await UdpImpairProxy.start({
    target: server.address,
    tap: (direction, data) => {
      if (corpus.length < 5000) corpus.push(data.slice());
      // The header's peer ID toward the server is the victim's slot there.
      const peerID = data.length >= 2 ? ((data[0] << 8) | data[1]) & 0xFFF : 0xFFF;
      if (direction === "toServer" && peerID !== 0xFFF && victimPeerID < 0) victimPeerID = peerID;
    },
  });
  await using victimHost = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 2,
    ...options,
  });
  const victimEvents: HostEvent[] = [];
  const victimPump = new EventPump(victimHost, (event) => victimEvents.push(event));
  const victim = await victimHost.connect(proxy.address, { channelCount: 4, data: 7 });
  const kinds = [PacketFlag.RELIABLE, 0, PacketFlag.UNSEQUENCED, PacketFlag.UNRELIABLE_FRAGMENT];
  for (let i = 0; i < 200; i++) {
    const size = i % 20 === 0 ? 5000 : 10 + i;
    victim.send(i % 4, new Uint8Array(size).fill(i), kinds[i % 4]);
  }
  await victimPump.until(
    () => victimEvents.filter((e) => e.type === "receive").length >= 100,
    10_000,
    "capture traffic echoes",
  );
  await new Promise((resolve) => setTimeout(resolve, 700)); // a keep-alive ping or two
  // A second connection through the proxy that ends: CONNECT, VERIFY_CONNECT, DISCONNECT.
  {
    await using shortLived = await createHost({
      address: { hostname: LOOPBACK4, port: 0 },
      peerCount: 1,
      ...options,
    });
    const pump = new EventPump(shortLived, () => {});
    const peer = await shortLived.connect(proxy.address, { channelCount: 2 });
    peer.disconnect(5);
    await peer.closed;
    await shortLived.close();
    await pump.done;
  }
  assert.ok(corpus.length > 50, `captured ${corpus.length} datagrams`);
  assert.ok(victimPeerID >= 0, "saw the victim's peer ID");

  // A bystander connected directly keeps a reliable exchange going through it all.
  await using bystanderHost = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
    ...options,
  });
  const echoes: number[] = [];
  const bystanderPump = new EventPump(bystanderHost, (event) => {
    if (event.type === "receive") {
      echoes.push(new DataView(event.data.buffer, event.data.byteOffset).getUint32(0));
    }
  });
  const bystander: Peer = await bystanderHost.connect(server.address, { channelCount: 1 });
  let sent = 0;
  const ticker = setInterval(() => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setUint32(0, sent++);
    bystander.send(0, data, PacketFlag.RELIABLE);
  }, 20);

  using attacker = Object.assign(
    Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK4, port: 0 }),
    {
      [Symbol.dispose](this: Deno.DatagramConn) {
        this.close();
      },
    },
  );
  const random = prng(0x5EED);
  const target = { transport: "udp" as const, ...server.address };
  const heapBefore = Deno.memoryUsage().heapUsed;
  const receivedBefore = server.totalReceivedPackets;
  let toServer = 0;
  try {
    for (let i = 0; i < TOTAL; i++) {
      const roll = random();
      const data = roll < 0.25 ? randomDatagram(random, victimPeerID) : mutate(random, corpus);
      const route = random();
      if (route < 0.45) {
        await attacker.send(data, target);
        toServer++;
      } else if (route < 0.9) {
        await proxy.injectToServer(data);
        toServer++;
      } else {
        await proxy.injectToClient(data);
      }
      // Let the hosts drain their sockets so the datagrams are parsed, not dropped by the kernel.
      if (i % 64 === 63) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    clearInterval(ticker);
  }
  const processed = server.totalReceivedPackets - receivedBefore;
  assert.ok(processed >= toServer * 0.9, `server read ${processed} of ${toServer} fuzz datagrams`);
  const heapGrowth = Deno.memoryUsage().heapUsed - heapBefore;
  assert.ok(heapGrowth < 64 * 1024 * 1024, `heap grew by ${(heapGrowth / 1048576).toFixed(1)} MiB`);
  assert.equal(serverPump.error, undefined);
  assert.equal(victimPump.error, undefined);
  assert.equal(bystanderPump.error, undefined);

  // The bystander's exchange went on, complete and in order, and still works.
  const target2 = sent + 20;
  for (; sent < target2;) {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setUint32(0, sent++);
    bystander.send(0, data, PacketFlag.RELIABLE);
  }
  await bystanderPump.until(() => echoes.length >= sent, 10_000, "bystander echoes");
  assert.deepEqual(echoes, Array.from({ length: sent }, (_, i) => i));
  assert.equal(bystander.state, "connected");
  const bystanderPort = bystanderHost.address.port;
  assert.deepEqual(
    serverEvents.filter((e) => e.type === "disconnect" && e.peer.address.port === bystanderPort),
    [],
    "the server never dropped the bystander",
  );

  // The victim either still works or was told it is gone; never silently wedged.
  if (victim.state === "connected") {
    const before = victimEvents.length;
    victim.send(0, new Uint8Array([1, 2, 3]), PacketFlag.RELIABLE);
    await victimPump.until(
      () => victimEvents.slice(before).some((e) => e.type === "receive" || e.type === "disconnect"),
      10_000,
      "victim echo or disconnect",
    );
  }

  await Promise.all([victimHost.close(), bystanderHost.close(), proxy.close(), server.close()]);
  await Promise.all([serverPump.done, victimPump.done, bystanderPump.done]);
});
