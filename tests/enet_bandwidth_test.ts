/**
 * Bandwidth limits: a host created with `outgoingBandwidth` sends at that rate
 * (within 15 % over 5 s) whatever the application offers, reliable or not, and
 * `setBandwidthLimit()` changes the rate of a running host.
 */
import assert from "node:assert/strict";
import { createHost, type Host, PacketFlag } from "../enet/mod.ts";
import { LOOPBACK4 } from "./_loopback.ts";
import { EventPump } from "./_tools/enet_events.ts";

const LIMIT = 100_000;

/**
 * Offers `offered` bytes/s of 1000-byte packets from a host limited to
 * `LIMIT`; returns the wire bytes/s it sent and the payload bytes/s that
 * arrived over `measureMs`, after `warmupMs`.
 */
async function measure(
  flags: number,
  offered: number,
  { warmupMs = 1000, measureMs = 5000, change }: {
    warmupMs?: number;
    measureMs?: number;
    change?: (host: Host) => void;
  } = {},
): Promise<{ sent: number; received: number }> {
  await using server = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
  let receivedBytes = 0;
  const serverPump = new EventPump(server, (event) => {
    if (event.type === "receive") receivedBytes += event.data.length;
  });
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
    outgoingBandwidth: LIMIT,
  });
  const clientPump = new EventPump(client, () => {});
  const peer = await client.connect(server.address, { channelCount: 1 });
  const payload = new Uint8Array(1000).fill(7);
  const started = performance.now();
  let queued = 0;
  const offer = setInterval(() => {
    const due = Math.floor((performance.now() - started) * offered / 1000 / payload.length);
    while (queued < due) {
      peer.send(0, payload, flags);
      queued++;
    }
  }, 5);
  try {
    await new Promise((resolve) => setTimeout(resolve, warmupMs));
    change?.(client);
    const sentBefore = client.totalSentData, receivedBefore = receivedBytes;
    const from = performance.now();
    await new Promise((resolve) => setTimeout(resolve, measureMs));
    const seconds = (performance.now() - from) / 1000;
    return {
      sent: (client.totalSentData - sentBefore) / seconds,
      received: (receivedBytes - receivedBefore) / seconds,
    };
  } finally {
    clearInterval(offer);
    await client.close();
    await server.close();
    await Promise.all([serverPump.done, clientPump.done]);
  }
}

function assertNear(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= expected * tolerance,
    `${what}: ${(actual / 1000).toFixed(1)} KB/s, expected ${(expected / 1000).toFixed(0)} KB/s ± ${
      tolerance * 100
    } %`,
  );
}

Deno.test("a host limited to 100 KB/s outgoing sends reliable traffic offered at 300 KB/s within 15 % of the limit over 5 s", async () => {
  const { sent, received } = await measure(PacketFlag.RELIABLE, 3 * LIMIT);
  assertNear(sent, LIMIT, 0.15, "wire rate");
  assertNear(received, LIMIT, 0.15, "delivered payload rate");
});

Deno.test("a host limited to 100 KB/s outgoing sends unreliable traffic offered at 300 KB/s within 15 % of the limit over 5 s", async () => {
  const { sent, received } = await measure(0, 3 * LIMIT);
  assertNear(sent, LIMIT, 0.15, "wire rate");
  assertNear(received, LIMIT, 0.15, "delivered payload rate");
});

Deno.test("host.setBandwidthLimit() lowers the outgoing rate of a running host", async () => {
  const { sent } = await measure(PacketFlag.RELIABLE, 3 * LIMIT, {
    measureMs: 3000,
    change: (host) => host.setBandwidthLimit(0, LIMIT / 2),
  });
  assertNear(sent, LIMIT / 2, 0.15, "wire rate after setBandwidthLimit(0, 50 000)");
});
