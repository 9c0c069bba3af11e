/**
 * Presence and rooms API: join/leave events, count() and members() across
 * hubs, a configurable failure timeout, bad room names, and rooms for
 * handleUpgrade() connections.
 */

import assert from "node:assert/strict";
import {
  type Cluster,
  ClusterRangeError,
  ClusterTypeError,
  connectCluster,
  type PresenceEvent,
  RoomHub,
} from "../cluster/mod.ts";
import { connect, handleUpgrade, rooms, serve } from "../websocket/mod.ts";
import { deadline } from "./_loopback.ts";
import { hasEngine, startEngine } from "./cluster_peers/engines.ts";

const SERVER_SCRIPT = new URL("./cluster_peers/room_server.ts", import.meta.url).pathname;

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A hub whose members are plain objects with an inbox. */
function inboxHub(cluster: Cluster) {
  return new RoomHub<{ name: string; inbox: (string | Uint8Array)[] }>(cluster, {
    fanOut: (members, data) => {
      for (const member of members) member.inbox.push(data);
    },
  });
}

Deno.test("RoomHub: join, send, except, leave and watch on the in-process engine", async () => {
  await using cluster = await connectCluster();
  await using hub = inboxHub(cluster);
  const alice = { name: "alice", inbox: [] as (string | Uint8Array)[] };
  const bob = { name: "bob", inbox: [] as (string | Uint8Array)[] };
  const events: PresenceEvent[] = [];
  const watch = hub.to("lobby").watch();
  const watching = (async () => {
    for await (const event of watch) events.push(event);
  })();
  await hub.join(alice, "lobby");
  await hub.join(bob, "lobby");
  await hub.join(bob, "lobby"); // twice is once
  assert.equal(await hub.to("lobby").count(), 2);
  assert.deepEqual(hub.roomsOf(bob), new Set(["lobby"]));
  await hub.to("lobby").send("hi");
  await hub.to("lobby").except(alice).send(new Uint8Array([7]));
  assert.deepEqual(alice.inbox, ["hi"]);
  assert.deepEqual(bob.inbox, ["hi", new Uint8Array([7])]);
  assert.equal(await hub.to("lobby").except(hub.memberId(bob)).count(), 1);
  await hub.leave(alice, "lobby");
  await hub.to("lobby").send("after");
  assert.deepEqual(alice.inbox, ["hi"]);
  await hub.leaveAll(bob);
  assert.equal(await hub.to("lobby").count(), 0);
  watch.stop();
  await watching;
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.member.id === hub.memberId(alice) ? "alice" : "bob"}`),
    ["join alice", "join bob", "leave alice", "leave bob"],
  );
});

Deno.test("RoomHub and server.to() refuse bad room names with typed codes", async () => {
  await using cluster = await connectCluster();
  await using hub = inboxHub(cluster);
  const member = { name: "m", inbox: [] };
  const bad: [unknown, string, typeof ClusterTypeError | typeof ClusterRangeError][] = [
    ["", "ERR_INVALID_ROOM_NAME", ClusterTypeError],
    ["a b", "ERR_INVALID_ROOM_NAME", ClusterTypeError],
    ["a*", "ERR_INVALID_ROOM_NAME", ClusterTypeError],
    ["a>", "ERR_INVALID_ROOM_NAME", ClusterTypeError],
    ["{tag}", "ERR_INVALID_ROOM_NAME", ClusterTypeError],
    ["a\nb", "ERR_INVALID_ROOM_NAME", ClusterTypeError],
    ["r".repeat(129), "ERR_ROOM_NAME_TOO_LONG", ClusterRangeError],
  ];
  for (const [room, code, kind] of bad) {
    await assert.rejects(
      hub.join(member, room as string),
      (error: unknown) => error instanceof kind && (error as ClusterTypeError).code === code,
    );
    assert.throws(
      () => hub.to(room as string),
      (error: unknown) => error instanceof kind && (error as ClusterTypeError).code === code,
    );
  }
  await using server = serve({ hostname: "127.0.0.1", port: 0 });
  assert.throws(
    () => server.to("r".repeat(200)),
    (error: unknown) =>
      error instanceof ClusterRangeError && error.code === "ERR_ROOM_NAME_TOO_LONG",
  );
  await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  for await (const conn of server) {
    await assert.rejects(
      conn.join("bad room"),
      (error: unknown) =>
        error instanceof ClusterTypeError && error.code === "ERR_INVALID_ROOM_NAME",
    );
    assert.equal(conn.rooms.size, 0);
    break;
  }
  await ws.close();
});

Deno.test({
  name:
    "RoomHub (nats): a remote join and leave arrive as events; a closed hub's members leave at once",
  ignore: !hasEngine("nats"),
  async fn() {
    await using engine = await startEngine("nats");
    await using a = await connectCluster(engine.url);
    const b = await connectCluster(engine.url);
    await using hubA = inboxHub(a);
    const hubB = inboxHub(b);
    await Promise.all([hubA.ready, hubB.ready]);
    const events: string[] = [];
    const watch = hubA.to("lobby").watch();
    const watching = (async () => {
      for await (const event of watch) events.push(`${event.type} ${event.member.node}`);
    })();
    const carol = { name: "carol", inbox: [] as (string | Uint8Array)[] };
    await hubB.join(carol, "lobby");
    await until("carol seen by A", async () => (await hubA.to("lobby").count()) === 1);
    const [listed] = await hubA.to("lobby").members();
    assert.equal(listed.node, hubB.id);
    assert.equal(listed.id, hubB.memberId(carol));
    await hubA.to("lobby").send("from A");
    await until("carol got it", () => carol.inbox.length === 1);
    await b.close(); // its hub says goodbye: no timeout needed
    await until("carol gone", async () => (await hubA.to("lobby").count()) === 0, 1_000);
    watch.stop();
    await watching;
    assert.deepEqual(events, [`join ${hubB.id}`, `leave ${hubB.id}`]);
  },
});

Deno.test({
  name: "presence.timeout is configurable: a killed server's members leave within 1.5 s",
  ignore: !hasEngine("nats"),
  async fn() {
    await using engine = await startEngine("nats");
    await using cluster = await connectCluster(engine.url, {
      presence: { heartbeatInterval: 300, timeout: 1_500 },
    });
    await using hub = inboxHub(cluster);
    await hub.ready;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SERVER_SCRIPT, engine.url],
      env: { NETKIT_PRESENCE_TIMEOUT: "1500" },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      const { port } = JSON.parse((await deadline(lines.read(), 20_000, "server start")).value!);
      await using ws = await connect(`ws://127.0.0.1:${port}/member?room=lobby`);
      await until("member seen", async () => (await hub.to("lobby").count()) === 1);
      const events: PresenceEvent[] = [];
      const watch = hub.to("lobby").watch();
      const watching = (async () => {
        for await (const event of watch) events.push(event);
      })();
      const killedAt = Date.now();
      child.kill("SIGKILL");
      await child.status;
      await until("member reaped", async () => (await hub.to("lobby").count()) === 0, 5_000);
      const took = Date.now() - killedAt;
      assert.ok(took <= 1_800, `reaped within the configured 1.5 s (took ${took} ms)`);
      watch.stop();
      await watching;
      assert.deepEqual(events.map((e) => e.type), ["leave"]);
      await ws.closed;
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await lines.cancel().catch(() => {});
    }
  },
});

Deno.test("handleUpgrade() connections join rooms; rooms(cluster).to() reaches them", async () => {
  await using cluster = await connectCluster();
  const joined = Promise.withResolvers<void>();
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { response, connection } = handleUpgrade(request, { cluster });
    connection.join("lobby").then(joined.resolve, joined.reject);
    return response;
  });
  try {
    await using ws = await connect(`ws://127.0.0.1:${http.addr.port}/`);
    await joined.promise;
    assert.equal(await rooms(cluster).to("lobby").count(), 1);
    await rooms(cluster).to("lobby").send("hello");
    const reader = ws.readable.getReader();
    assert.equal((await deadline(reader.read(), 5_000, "room message")).value, "hello");
    reader.releaseLock();
    await ws.close();
    await until("left on close", async () => (await rooms(cluster).to("lobby").count()) === 0);
  } finally {
    await http.shutdown();
  }
});

Deno.test("serve() without a cluster has rooms of its own: members get sends, other servers do not", async () => {
  await using a = serve({ hostname: "127.0.0.1", port: 0 });
  await using b = serve({ hostname: "127.0.0.1", port: 0 });
  const joinAll = async (server: typeof a) => {
    for await (const conn of server) {
      await conn.join("lobby");
      await conn.send("joined");
    }
  };
  const accepting = [joinAll(a), joinAll(b)];
  const open = async (port: number) => {
    const ws = await connect(`ws://127.0.0.1:${port}/`);
    const reader = ws.readable.getReader();
    assert.equal((await deadline(reader.read(), 5_000, "joined")).value, "joined");
    return { ws, reader };
  };
  const [one, two, other] = [
    await open(a.addr.port),
    await open(a.addr.port),
    await open(b.addr.port),
  ];
  assert.equal(await a.to("lobby").count(), 2);
  assert.equal(await b.to("lobby").count(), 1);
  await a.to("lobby").except(a.connections[0]).send("not for the first");
  await a.to("lobby").send("for both");
  assert.equal((await deadline(one.reader.read(), 5_000, "message")).value, "for both");
  assert.equal((await deadline(two.reader.read(), 5_000, "message")).value, "not for the first");
  assert.equal((await deadline(two.reader.read(), 5_000, "message")).value, "for both");
  await b.to("lobby").send("only b");
  assert.equal((await deadline(other.reader.read(), 5_000, "message")).value, "only b");
  for (const { ws, reader } of [one, two, other]) {
    reader.releaseLock();
    await ws.close();
  }
  await a.close();
  await b.close();
  await Promise.all(accepting);
});

for (const kind of ["nats", "redis"] as const) {
  Deno.test({
    name: `RoomHub (${kind}): the engine carries a room's subject only while it has local members`,
    ignore: !hasEngine(kind),
    async fn() {
      await using engine = await startEngine(kind);
      await using cluster = await connectCluster(engine.url);
      await using hub = inboxHub(cluster);
      await hub.ready;
      const rooms = async () =>
        (await engine.subscriptions()).filter((subject) => subject.startsWith("_nk.r.")).sort();
      assert.deepEqual(await rooms(), []);
      const alice = { name: "alice", inbox: [] };
      const bob = { name: "bob", inbox: [] };
      await hub.join(alice, "lobby");
      await hub.join(bob, "lobby");
      await hub.join(bob, "game.7");
      await until("two room subjects", async () => (await rooms()).length === 2);
      assert.deepEqual(await rooms(), ["_nk.r.game.7", "_nk.r.lobby"]);
      await hub.leave(alice, "lobby");
      assert.deepEqual(await rooms(), ["_nk.r.game.7", "_nk.r.lobby"], "bob is still in lobby");
      await hub.leaveAll(bob);
      await until("no room subjects", async () => (await rooms()).length === 0);
    },
  });
}
