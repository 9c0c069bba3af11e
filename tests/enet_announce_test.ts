/**
 * enet announce(): a host's directory entry follows its connected peers and
 * goes away when the host closes.
 */

import assert from "node:assert/strict";
import { type ClusterError, connectCluster } from "../cluster/mod.ts";
import { announce, createHost } from "../enet/mod.ts";

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 5_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("announce() registers an ENet host, follows its peer count and unregisters on close", async () => {
  await using cluster = await connectCluster();
  const games = cluster.directory("game");
  const host = await createHost({ address: { hostname: "127.0.0.1", port: 0 }, peerCount: 4 });
  try {
    await using announcement = await announce(host, games, {
      id: "eu-1",
      capacity: 4,
      meta: { map: "dust" },
      interval: 20,
    });
    const [entry] = await games.list();
    assert.deepEqual(
      [entry.id, entry.address, entry.capacity, entry.seats, entry.meta],
      [
        "eu-1",
        { hostname: "127.0.0.1", port: host.address.port, protocol: "enet" },
        4,
        0,
        { map: "dust" },
      ],
    );
    await assert.rejects(
      announce(host, games, { id: "eu-1", capacity: 4 }),
      (error: ClusterError) => error.code === "ERR_DUPLICATE_ID",
    );
    await assert.rejects(
      announce(host, games, { id: "eu-2", capacity: 4, interval: 5 }),
      (error: TypeError & { code: string }) => error.code === "ERR_INVALID_OPTION",
    );

    await using client = await createHost({
      address: { hostname: "127.0.0.1", port: 0 },
      peerCount: 1,
    });
    const serving = (async () => {
      for await (const _ of host) { /* the host's own event loop */ }
    })();
    const peer = await client.connect(host.address);
    await until("seats 1", async () => (await games.get("eu-1"))?.seats === 1);
    await announcement.update({ meta: { map: "arena" } });
    assert.deepEqual((await games.get("eu-1"))?.meta, { map: "arena" });
    peer.disconnect();
    await until("seats 0", async () => (await games.get("eu-1"))?.seats === 0);

    await host.close();
    await serving;
    await until("the entry is gone", async () => (await games.list()).length === 0);
  } finally {
    await host.close();
  }
});
