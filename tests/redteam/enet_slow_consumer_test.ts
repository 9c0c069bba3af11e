/**
 * Red team, enet row 18: peers blasting 1 KB reliable packets at an
 * application that consumes them slowly (20 ms per packet, on the host's
 * event iterator) while legitimate clients connect and get their pings
 * echoed. Scaled down from 30 peers to 16 (the blasters run in the test
 * process on a shared machine).
 */
import assert from "node:assert/strict";
import { assertHeld, probeDuring, startServer } from "./_harness.ts";
import { blastPeers, echoProbe } from "./attacks/enet.ts";

const SERVER = new URL("./servers/enet_app.ts", import.meta.url);

interface Stats {
  peers: number;
  waitingData: number;
  waitingPackets: number;
  maxPeerWaitingData: number;
  gaps: number;
}

Deno.test("peers blasting a slow application delay only themselves: probes are answered, memory stays bounded, nothing is lost", async () => {
  await using server = await startServer(SERVER, ["slow"]);
  const target = { hostname: server.info.hostname as string, port: server.info.port as number };
  const attack = new AbortController();
  const pending = new Set<Promise<void>>();
  const blasting = blastPeers(target, { peers: 16, size: 1024, signal: attack.signal });
  // Let the backlog build before probing.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const stop = setTimeout(() => attack.abort(), 5000);
  const ping = new TextEncoder().encode("ping");
  const probes = await probeDuring(echoProbe(target, ping, pending), attack.signal);
  clearTimeout(stop);
  await Promise.all(pending);
  const blasters = await blasting;
  const stats = server.lines.map((line) => JSON.parse(line) as Stats);
  const last = stats.at(-1)!;
  const written = blasters.reduce((n, b) => n + b.written, 0);
  console.log(
    `slow consumer: ${blasters.length} blasters wrote ${written} packets ` +
      `(${blasters.map((b) => b.outcome).join(",")}); probes ${probes.answered}/${probes.sent}; ` +
      `server max RSS ${(server.maxRss / 2 ** 20).toFixed(0)} MiB, waiting ` +
      `${(Math.max(...stats.map((s) => s.waitingData)) / 2 ** 20).toFixed(1)} MiB max / ` +
      `${Math.max(...stats.map((s) => s.waitingPackets))} packets max, ` +
      `largest per peer ${(last.maxPeerWaitingData / 2 ** 20).toFixed(1)} MiB, gaps ${last.gaps}`,
  );
  assertHeld(server, probes, "blasting peers at a slow application");
  // The offenders' outcome: their packets wait unacknowledged on their side (back-pressure
  // on the wire), none is lost, and the host-wide backlog stays under its bound.
  assert.equal(last.gaps, 0, "the application saw every blaster packet in order");
  assert.ok(
    Math.max(...stats.map((s) => s.waitingData)) <= 2 * 64 * 2 ** 20,
    "host-wide waiting data stays within twice maximumHostWaitingData",
  );
  assert.ok(written > 0);
  // A blaster kept over its bound longer than its timeout (5 s minimum) gives up on its
  // own side with reason "timeout", as a C sender would; none is cut off by the server.
  for (const blaster of blasters) {
    assert.ok(["open", "timeout"].includes(blaster.outcome), `blaster ended: ${blaster.outcome}`);
  }
});
