/**
 * cluster/ demo: two WebSocket servers share rooms over a real nats-server
 * (started on a free port when installed; the in-process engine otherwise),
 * four members join one room, messages reach each of them exactly once,
 * `count()` sees the whole cluster, and a closed server's members leave.
 *
 * @module
 */

import { type Cluster, connectCluster } from "../cluster/mod.ts";
import { connect, serve, type WebSocketServer } from "../websocket/mod.ts";
import { startNats } from "./_engine.ts";

/** One line for the tour menu. */
export const description =
  "scale-out rooms on NATS/Redis: join, to(room).send, except, count across servers";

function step(text: string): void {
  console.log(`  · ${text}`);
}

/** Accepts members and puts each into the room its path names (`/?room=lobby`). */
async function acceptMembers(server: WebSocketServer): Promise<void> {
  for await (const conn of server) {
    const room = new URL(conn.path, "http://x").searchParams.get("room") ?? "lobby";
    await conn.join(room);
    await conn.send(`joined ${room}`);
  }
}

/** Runs the demo over 127.0.0.1 and returns when everything is closed. */
export default async function demo(): Promise<void> {
  const nats = await startNats();
  step(
    nats ? `started nats-server at ${nats.url}` : "nats-server not installed: in-process engine",
  );
  // Two processes in real life; here two cluster connections in one process behave the same.
  const clusters: Cluster[] = nats
    ? [await connectCluster(nats.url), await connectCluster(nats.url)]
    : [await connectCluster()].flatMap((c) => [c, c]);
  const servers = clusters.map((cluster) => serve({ hostname: "127.0.0.1", port: 0, cluster }));
  const accepting = servers.map(acceptMembers);
  step(`servers on ports ${servers.map((s) => s.addr.port).join(" and ")}`);

  const members = await Promise.all(
    [0, 1, 2, 3].map(async (i) => {
      const ws = await connect(`ws://127.0.0.1:${servers[i % 2].addr.port}/?room=lobby`);
      const inbox: string[] = [];
      const joined = Promise.withResolvers<void>();
      (async () => {
        for await (const message of ws.readable) {
          if (message === "joined lobby") joined.resolve();
          else inbox.push(message as string);
        }
      })();
      await joined.promise;
      return { ws, inbox };
    }),
  );
  while ((await servers[0].to("lobby").count()) < 4) await new Promise((r) => setTimeout(r, 20));
  step(`count() from either server: ${await servers[1].to("lobby").count()} members`);

  await servers[0].to("lobby").send("hello from server 0");
  await servers[1].to("lobby").send("hello from server 1");
  const firstOnServer1 = servers[1].connections[0];
  await servers[0].to("lobby").except(firstOnServer1).send("not for one member of server 1");
  while (members.reduce((n, m) => n + m.inbox.length, 0) < 11) {
    await new Promise((r) => setTimeout(r, 20));
  }
  members.forEach((m, i) => step(`member ${i} (server ${i % 2}) got: ${m.inbox.join(" | ")}`));

  await servers[1].close();
  while ((await servers[0].to("lobby").count()) > 2) await new Promise((r) => setTimeout(r, 20));
  step(`server 1 closed: count() from server 0 is now ${await servers[0].to("lobby").count()}`);

  await servers[0].close();
  await Promise.all(accepting);
  for (const m of members) await m.ws.closed;
  for (const cluster of new Set(clusters)) await cluster.close();
  await nats?.stop();
}
