/**
 * The public names issues 11 and 12 pin, used exactly as written there. Never
 * run: `deno check tests/` in CI compiles it, so renaming or reshaping any of
 * them fails CI.
 */
import { connectCluster } from "../cluster/mod.ts";
import { serve } from "../websocket/mod.ts";
import { createMaster, serveMaster } from "../webrtc/mod.ts";
import { connectSlave } from "../webrtc/slave.ts";

/** Uses every pinned name once. */
export async function pinned(): Promise<void> {
  await using cluster = await connectCluster("nats://127.0.0.1:4222");
  const local = await connectCluster();
  await local.close();
  const id: string = cluster.nodeId;
  await cluster.publish("chat.lobby", "x");
  await cluster.publish("chat.lobby", new Uint8Array(1));
  for await (const m of cluster.subscribe("chat.lobby")) {
    const s: string = m.subject;
    const d: string | Uint8Array = m.data;
    const n: string = m.nodeId;
    console.log(id, s, d, n);
  }
  await using server = serve({ port: 8080, cluster });
  for await (const conn of server) {
    await conn.join("lobby");
    await conn.leave("lobby");
    const rooms: ReadonlySet<string> = conn.rooms;
    await server.to("lobby").send("hi");
    await server.to("lobby").except(conn).send("hi");
    const count: number = await server.to("lobby").count();
    console.log(rooms, count);
  }
  const games = cluster.directory("game");
  await games.register({
    id: "eu-1",
    address: { hostname: "h", port: 1 },
    capacity: 10,
    meta: { map: "dust" },
  });
  await games.update("eu-1", { meta: { map: "arena" } });
  const entries = await games.list();
  const e = entries[0];
  console.log(e.id, e.address, e.capacity, e.seats, e.meta, e.nodeId);
  for await (const change of games.watch()) {
    const t: "added" | "updated" | "removed" = change.type;
    console.log(t, change.entry);
  }
  const ok: boolean = await games.reserve("eu-1");
  await games.release("eu-1");
  await games.unregister("eu-1");
  const master = createMaster({ cluster });
  const served = serveMaster({ hostname: "127.0.0.1", port: 0, cluster });
  const slave = await connectSlave(["ws://a:8081", "ws://b:8081"], { userData: { a: 1 } });
  console.log(ok, master, served, slave);
}
