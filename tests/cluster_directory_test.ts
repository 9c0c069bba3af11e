/**
 * Directories: register / update / list / watch / reserve / release /
 * unregister on the in-process engine and on real nats-server (JetStream)
 * and redis-server processes; the seat race across four processes; kill -9
 * of a registering process; bad input with its codes.
 */

import assert from "node:assert/strict";
import {
  announceServer,
  type Cluster,
  ClusterError,
  ClusterRangeError,
  ClusterTypeError,
  connectCluster,
  type DirectoryChange,
} from "../cluster/mod.ts";
import {
  type EngineKind,
  hasEngine,
  startDirectoryEngine,
} from "./cluster_peers/directory_engines.ts";
import { startEngine } from "./cluster_peers/engines.ts";
import { connect, serve } from "../websocket/mod.ts";

const PEER = new URL("./cluster_peers/directory_peer.ts", import.meta.url).pathname;
const address = { hostname: "127.0.0.1", port: 7777 };

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function peer(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PEER, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function firstLine(child: Deno.ChildProcess): Promise<Record<string, unknown>> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return JSON.parse(text.split("\n")[0]);
}

async function assertRejects(
  promise: Promise<unknown>,
  type: new (...args: never[]) => Error,
  code: string,
) {
  await assert.rejects(promise, (error: Error & { code?: string }) => {
    assert.ok(error instanceof type, `${error.name} is not a ${type.name}`);
    assert.equal(error.code, code);
    return true;
  });
}

/** The API, with two cluster connections (two nodes) on one store. */
async function apiChecks(a: Cluster, b: Cluster) {
  const games = a.directory("game");
  const other = b.directory("game");
  assert.equal(a.directory("game"), games, "one object per name");
  const changes: DirectoryChange[] = [];
  const abort = new AbortController();
  const watching = (async () => {
    for await (const change of other.watch({ signal: abort.signal })) changes.push(change);
  })();
  const entry = await games.register({ id: "eu-1", address, capacity: 2, meta: { map: "dust" } });
  assert.deepEqual(entry, {
    id: "eu-1",
    address,
    capacity: 2,
    seats: 0,
    meta: { map: "dust" },
    nodeId: a.nodeId,
  });
  await until("added", () => changes.some((c) => c.type === "added" && c.entry.id === "eu-1"));
  const meta = { map: "arena", tags: [], rules: {}, ratio: 0.1, path: "a/b" };
  await games.update("eu-1", { meta });
  await until("updated", () => changes.some((c) => c.type === "updated"));
  assert.deepEqual(changes.at(-1)?.entry.meta, meta);
  assert.deepEqual((await other.list()).map((e) => [e.id, e.meta, e.nodeId]), [
    ["eu-1", meta, a.nodeId],
  ]);

  assert.equal(await other.reserve("eu-1"), true);
  assert.equal(await other.reserve("eu-1", { ttl: 300 }), true);
  assert.equal(await other.reserve("eu-1"), false, "full at capacity 2");
  assert.equal((await games.get("eu-1"))?.seats, 2);
  await until("the held seat lapses", async () => (await games.get("eu-1"))?.seats === 1);
  // Seat writes (a server-side script on Redis) leave the rest of the entry as it was.
  assert.deepEqual((await games.get("eu-1"))?.meta, meta);
  assert.deepEqual((await games.get("eu-1"))?.address, address);
  assert.equal(await other.release("eu-1"), true);
  assert.equal(await other.release("eu-1"), false, "nothing left to give back");

  // Bad input.
  await assertRejects(
    games.register({ id: "eu-1", address, capacity: 1 }),
    ClusterError,
    "ERR_DUPLICATE_ID",
  );
  await assertRejects(
    other.register({ id: "eu-1", address, capacity: 1 }),
    ClusterError,
    "ERR_DUPLICATE_ID",
  );
  await assertRejects(other.reserve("nope"), ClusterError, "ERR_UNKNOWN_ID");
  await assertRejects(other.update("eu-1", { seats: 1 }), ClusterError, "ERR_NOT_OWNER");
  await assertRejects(other.unregister("eu-1"), ClusterError, "ERR_NOT_OWNER");
  await assertRejects(
    games.update("eu-1", { meta: { blob: "x".repeat(5000) } }),
    ClusterRangeError,
    "ERR_META_TOO_LARGE",
  );
  await assertRejects(
    games.register({ id: "a b", address, capacity: 1 }),
    ClusterTypeError,
    "ERR_INVALID_ENTRY",
  );
  await assertRejects(
    games.register({ id: "x", address, capacity: -1 }),
    ClusterTypeError,
    "ERR_INVALID_ENTRY",
  );
  assert.throws(() => a.directory("no/slash"), ClusterTypeError);

  await games.unregister("eu-1");
  await until("removed", () => changes.some((c) => c.type === "removed"));
  assert.deepEqual(await other.list(), []);
  abort.abort();
  await watching;
}

Deno.test("Directory: register, update, watch, reserve with ttl, release and bad input in one process", async () => {
  await using cluster = await connectCluster();
  // Two directories of one in-process cluster share one store, like two processes would.
  const games = cluster.directory("game");
  await games.register({ id: "a", address, capacity: 1 });
  assert.equal(await games.reserve("a"), true);
  assert.equal(await games.reserve("a"), false);
  const seen: DirectoryChange[] = [];
  for await (const change of games.watch()) {
    seen.push(change);
    break;
  }
  assert.equal(seen[0].type, "added");
  assert.equal(seen[0].entry.seats, 1);
  await games.unregister("a");
  assert.deepEqual(await games.list(), []);
});

for (const kind of ["nats", "redis"] as EngineKind[]) {
  Deno.test({
    name:
      `Directory on ${kind}: the API across two nodes, exactly capacity seats under a 4-process race, and a killed owner gone within 5 s`,
    ignore: !hasEngine(kind),
    async fn(t) {
      await using engine = await startDirectoryEngine(kind);
      await using a = await connectCluster(engine.url);
      await using b = await connectCluster(engine.url);

      await t.step("register, update, list, watch, reserve, release and bad input", async () => {
        await apiChecks(a, b);
      });

      await t.step(
        "4 processes x 25 concurrent reserve() on capacity 10: exactly 10 succeed",
        async () => {
          const games = a.directory("game");
          await games.register({ id: "race", address, capacity: 10 });
          const startAt = Date.now() + 2_500; // after every process has connected
          const children = Array.from(
            { length: 4 },
            () => peer([engine.url, "race", "race", "25", String(startAt)]),
          );
          const results = await Promise.all(children.map(firstLine));
          await Promise.all(children.map((child) => child.status));
          assert.deepEqual(results.flatMap((r) => r.failed as string[]), []);
          const taken = results.reduce((sum, r) => sum + (r.taken as number), 0);
          assert.equal(taken, 10);
          assert.equal((await games.get("race"))?.seats, 10);
          await games.unregister("race");
        },
      );

      await t.step(
        "kill -9 of the registering process: removed from list() and watch() within 5 s",
        async () => {
          const games = b.directory("game");
          const changes: { change: DirectoryChange; at: number }[] = [];
          const abort = new AbortController();
          const watching = (async () => {
            for await (const change of games.watch({ signal: abort.signal })) {
              changes.push({ change, at: Date.now() });
            }
          })();
          const child = peer([engine.url, "hold", "doomed"]);
          try {
            assert.deepEqual(await firstLine(child), { ready: true });
            await until("added", () => changes.some((c) => c.change.type === "added"));
            await new Promise((resolve) => setTimeout(resolve, 1_500)); // a few beats
            assert.equal((await games.list()).length, 1);
            const killedAt = Date.now();
            child.kill("SIGKILL");
            await until("removed", () => changes.some((c) => c.change.type === "removed"), 8_000);
            const removed = changes.find((c) => c.change.type === "removed")!;
            assert.equal(removed.change.entry.id, "doomed");
            assert.ok(removed.at - killedAt <= 5_000, `removed after ${removed.at - killedAt} ms`);
            assert.deepEqual(await a.directory("game").list(), []);
          } finally {
            try {
              child.kill("SIGKILL");
            } catch { /* gone */ }
            await child.status;
            abort.abort();
            await watching;
          }
        },
      );
    },
  });
}

Deno.test({
  name: "Directory on a nats-server without JetStream rejects with ERR_ENGINE_UNAVAILABLE",
  ignore: !hasEngine("nats"),
  async fn() {
    await using engine = await startEngine("nats"); // core NATS only
    await using cluster = await connectCluster(engine.url);
    await assertRejects(
      cluster.directory("game").register({ id: "eu-1", address, capacity: 1 }),
      ClusterError,
      "ERR_ENGINE_UNAVAILABLE",
    );
  },
});

Deno.test("announceServer() keeps a WebSocket node's entry at its connection count and removes it on close", async () => {
  await using cluster = await connectCluster();
  const nodes = cluster.directory("ws");
  const server = serve({ hostname: "127.0.0.1", port: 0 });
  try {
    await using _announcement = await announceServer(nodes, {
      id: "ws-1",
      address: { hostname: "127.0.0.1", port: server.addr.port, protocol: "ws" },
      capacity: 2,
      seats: () => server.connections.length,
      closed: () => server.connections.length > 1, // stands in for "the server closed"
      interval: 20,
    });
    assert.equal((await nodes.get("ws-1"))?.seats, 0);
    await using _one = await connect(`ws://127.0.0.1:${server.addr.port}`);
    await until("seats 1", async () => (await nodes.get("ws-1"))?.seats === 1);
    await using _two = await connect(`ws://127.0.0.1:${server.addr.port}`);
    await until("the entry is gone", async () => (await nodes.list()).length === 0);
    await assertRejects(
      announceServer(nodes, { id: "x", address, capacity: 1, seats: () => 0, interval: 1 }),
      ClusterTypeError,
      "ERR_INVALID_OPTION",
    );
  } finally {
    await server.close();
  }
});

Deno.test({
  name: "Directory on redis: a restart that loses every entry is healed by the owners' heartbeat",
  ignore: !hasEngine("redis"),
  async fn() {
    await using engine = await startEngine("redis"); // no persistence: a restart empties it
    await using owner = await connectCluster(engine.url);
    await using reader = await connectCluster(engine.url);
    await owner.directory("game").register({ id: "eu-1", address, capacity: 3 });
    await engine.restart();
    await until("the entry is back", async () => {
      try {
        return (await reader.directory("game").get("eu-1"))?.nodeId === owner.nodeId;
      } catch {
        return false; // the client is still reconnecting
      }
    }, 8_000);
    // Unregistered entries stay gone.
    await owner.directory("game").unregister("eu-1");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.deepEqual(await reader.directory("game").list(), []);
  },
});
