/**
 * Directory demo: two ENet game servers announce themselves in a cluster
 * directory (over a real nats-server with JetStream when installed, the
 * in-process engine otherwise); a matchmaker watches the list, takes seats
 * atomically and sends a player to the emptiest server; the entry follows
 * the connected peers; a closed server disappears from the list.
 *
 * @module
 */

import { type Cluster, connectCluster, type DirectoryChange } from "../cluster/mod.ts";
import { announce, createHost } from "../enet/mod.ts";
import { startNats } from "./_engine.ts";

/** One line for the tour menu. */
export const description =
  "server directory: ENet hosts announce address + seats, a matchmaker reserves atomically";

function step(text: string): void {
  console.log(`  · ${text}`);
}

/** Runs the demo and returns when everything is closed. */
export default async function demo(): Promise<void> {
  const nats = await startNats({ jetstream: true });
  step(nats ? `nats-server with JetStream at ${nats.url}` : "in-process engine");
  // One cluster connection per "process": the two game servers and the matchmaker.
  const clusters: Cluster[] = [];
  const join = async () => {
    const cluster = await connectCluster(nats?.url);
    clusters.push(cluster);
    return cluster;
  };
  try {
    const [eu, us, matchmaking] = nats
      ? [await join(), await join(), await join()]
      : await join().then((c) => [c, c, c]);

    const hostEu = await createHost({ address: { hostname: "127.0.0.1", port: 0 }, peerCount: 2 });
    const hostUs = await createHost({ address: { hostname: "127.0.0.1", port: 0 }, peerCount: 8 });
    const serve = (host: typeof hostEu) =>
      (async () => {
        for await (const _ of host) { /* game logic */ }
      })();
    const serving = [serve(hostEu), serve(hostUs)];
    await announce(hostEu, eu.directory("game"), {
      id: "eu-1",
      capacity: 2,
      meta: { map: "dust" },
    });
    await announce(hostUs, us.directory("game"), {
      id: "us-1",
      capacity: 8,
      meta: { map: "arena" },
    });

    const games = matchmaking.directory("game");
    const abort = new AbortController();
    const watching = (async () => {
      for await (
        const change of games.watch({ signal: abort.signal }) as AsyncIterable<DirectoryChange>
      ) {
        const e = change.entry;
        step(
          `watch: ${change.type} ${e.id} ${e.address.hostname}:${e.address.port} seats ${e.seats}/${e.capacity}`,
        );
      }
    })();

    // Matchmaking: the emptiest server with a free seat; the seat is held 10 s for the player.
    const candidates = (await games.list()).sort((a, b) =>
      a.seats / a.capacity - b.seats / b.capacity
    );
    const chosen = candidates.find((e) => e.seats < e.capacity)!;
    const held = await games.reserve(chosen.id, { ttl: 10_000 });
    step(`reserve(${chosen.id}, { ttl: 10_000 }) → ${held}`);

    await using player = await createHost({
      address: { hostname: "127.0.0.1", port: 0 },
      peerCount: 1,
    });
    const peer = await player.connect(chosen.address as { hostname: string; port: number });
    await new Promise((resolve) => setTimeout(resolve, 400)); // announce() notices the peer
    step(`player arrived: ${(await games.get(chosen.id))?.seats} seats (1 peer + 1 held)`);
    await games.release(chosen.id); // the player is in: the hold is no longer needed
    step(`after release(): ${(await games.get(chosen.id))?.seats} seat`);
    // Capacity is never exceeded, whoever races: eu-1 has 2 seats, one is taken.
    const tries = await Promise.all([1, 2, 3].map(() => games.reserve("eu-1")));
    step(`3 racing reserve("eu-1") → ${tries.join(", ")}`);
    peer.disconnect();

    await hostEu.close();
    await new Promise((resolve) => setTimeout(resolve, 400));
    step(`after eu-1 closed: ${(await games.list()).map((e) => e.id).join(", ")}`);
    abort.abort();
    await watching;
    await hostUs.close();
    await Promise.all(serving);
  } finally {
    for (const cluster of new Set(clusters)) await cluster.close();
    await nats?.stop();
  }
}

if (import.meta.main) await demo();
