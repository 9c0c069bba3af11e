/**
 * Host features beyond plain delivery, ours↔ours over loopback: the
 * intercept hook, checksum and range coder between our own hosts, runtime
 * channel and bandwidth limits, throttle configuration and the
 * checksum-mismatch hint of a failed connect.
 */
import assert from "node:assert/strict";
import { createHost, PacketFlag } from "../enet/mod.ts";
import { LOOPBACK4 } from "./_loopback.ts";
import { nextEvent } from "./_tools/enet_events.ts";

const text = (data: Uint8Array) => new TextDecoder().decode(data);

Deno.test("intercept sees every datagram and can drop or consume it", async () => {
  let seen = 0;
  let dropping = false;
  await using server = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    intercept: (datagram, address) => {
      seen++;
      assert.equal(address.hostname, LOOPBACK4);
      if (datagram.length === 5 && text(datagram) === "PROBE") return "handled";
      return dropping ? "drop" : "accept";
    },
  });
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  const peer = await client.connect(server.address);
  await nextEvent(server, "connect");
  const probe = Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK4, port: 0 });
  try {
    await probe.send(new TextEncoder().encode("PROBE"), { transport: "udp", ...server.address });
  } finally {
    probe.close();
  }
  peer.send(0, "accepted");
  assert.equal(text((await nextEvent(server, "receive")).data), "accepted");
  assert.ok(seen >= 3);
  dropping = true;
  peer.send(0, "dropped");
  await assert.rejects(nextEvent(server, "receive", 300));
});

for (
  const [name, options] of [
    ["checksum", { checksum: true }],
    ["range coder", { compression: "range-coder" as const }],
    ["checksum and range coder", { checksum: true, compression: "range-coder" as const }],
  ] as const
) {
  Deno.test(`our hosts talk with ${name} on both sides, text, random and zero payloads intact`, async () => {
    await using server = await createHost({
      address: { hostname: LOOPBACK4, port: 0 },
      ...options,
    });
    await using client = await createHost({
      address: { hostname: LOOPBACK4, port: 0 },
      peerCount: 1,
      ...options,
    });
    const peer = await client.connect(server.address, { channelCount: 2 });
    const payloads = [
      new TextEncoder().encode("the quick brown fox ".repeat(40)),
      crypto.getRandomValues(new Uint8Array(900)),
      new Uint8Array(5000),
    ];
    for (const payload of payloads) peer.send(1, payload, PacketFlag.RELIABLE);
    for (const payload of payloads) {
      assert.deepEqual((await nextEvent(server, "receive")).data, payload);
    }
  });
}

Deno.test("a checksum mismatch makes connect() time out with a hint naming checksum and compression", async () => {
  await using server = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    checksum: true,
  });
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  await assert.rejects(
    client.connect(server.address, { timeout: { minimum: 300, maximum: 600 } }),
    (error: unknown) =>
      error instanceof DOMException && error.name === "TimeoutError" &&
      /checksum/.test(error.message) && /compression/.test(error.message),
  );
});

Deno.test("setChannelLimit() caps the channels of new connections", async () => {
  await using server = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  server.setChannelLimit(2);
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  const peer = await client.connect(server.address, { channelCount: 8 });
  assert.equal(peer.channelCount, 2);
});

Deno.test("configureThrottle() and setBandwidthLimit() keep the connection working", async () => {
  await using server = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  const peer = await client.connect(server.address);
  peer.configureThrottle(1000, 4, 4);
  server.setBandwidthLimit(1_000_000, 1_000_000);
  for (let i = 0; i < 20; i++) await peer.sendAcknowledged(0, new Uint8Array(1000));
  let received = 0;
  while (received < 20) {
    await nextEvent(server, "receive");
    received++;
  }
  assert.equal(peer.state, "connected");
});
