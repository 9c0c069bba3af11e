/**
 * A directory process for the tests and bench. Prints one JSON line per
 * result on stdout.
 *
 *   directory_peer.ts URL race ID COUNT START_AT   COUNT concurrent reserve(ID) at START_AT (ms
 *                                                  since the epoch); prints { taken, failed }
 *   directory_peer.ts URL hold ID                  registers ID, prints { ready }, then waits to
 *                                                  be killed
 *
 * @module
 */

import { connectCluster } from "../../cluster/mod.ts";

const [url, mode, id, count, startAt] = Deno.args;
const cluster = await connectCluster(url);
const games = cluster.directory("game");

if (mode === "race") {
  await games.get(id); // opens the store before the start line
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
  const started = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: Number(count) }, () => games.reserve(id)),
  );
  const ms = performance.now() - started;
  const taken = results.filter((r) => r.status === "fulfilled" && r.value).length;
  const failed = results.filter((r) => r.status === "rejected").map((r) => String(r.reason));
  console.log(JSON.stringify({ taken, failed, ms }));
  await cluster.close();
} else if (mode === "hold") {
  await games.register({
    id,
    address: { hostname: "127.0.0.1", port: 7777 },
    capacity: 10,
    meta: { pid: Deno.pid },
  });
  console.log(JSON.stringify({ ready: true }));
  await new Promise(() => {}); // until killed
}
