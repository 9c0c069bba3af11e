/**
 * connectCluster(): pub/sub on the in-process engine and on real
 * nats-server / redis-server processes, engine restarts, held publishes
 * and bad input.
 */

import assert from "node:assert/strict";
import {
  type Cluster,
  ClusterError,
  ClusterRangeError,
  ClusterTypeError,
  connectCluster,
} from "../cluster/mod.ts";
import { deadline } from "./_loopback.ts";
import { EngineProcess, freePort, hasEngine, startEngine } from "./cluster_peers/engines.ts";

type Kind = "local" | "nats" | "redis";
const KINDS: Kind[] = ["local", "nats", "redis"];

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Reads `n` messages (or until `ms`) from a subscription. */
async function collect(
  subscription: AsyncIterable<{ data: string | Uint8Array; nodeId: string }>,
  n: number,
  ms = 10_000,
): Promise<(string | Uint8Array)[]> {
  const out: (string | Uint8Array)[] = [];
  const iterator = subscription[Symbol.asyncIterator]();
  await deadline(
    (async () => {
      while (out.length < n) {
        const { value, done } = await iterator.next();
        if (done) break;
        out.push(value.data);
      }
    })(),
    ms,
    `${n} messages`,
  );
  return out;
}

for (const kind of KINDS) {
  Deno.test({
    name:
      `cluster (${kind}): publish reaches every subscriber once, in order, text and bytes intact`,
    ignore: kind !== "local" && !hasEngine(kind),
    async fn() {
      await using engine = kind === "local" ? undefined : await startEngine(kind);
      await using a = await connectCluster(engine?.url);
      // In-process: both sides share one cluster object; with an engine, two connections.
      const b: Cluster = kind === "local" ? a : await connectCluster(engine?.url);
      await using _b = kind === "local" ? undefined : b;
      assert.equal(a.engine, kind);
      assert.notEqual(a.nodeId, kind === "local" ? "" : b.nodeId);
      await using sub = b.subscribe("chat.lobby");
      await sub.ready;
      await a.publish("chat.lobby", new Uint8Array([1, 2, 3]));
      for (let i = 0; i < 300; i++) await a.publish("chat.lobby", `m${i}`);
      const got = await collect(sub, 301);
      assert.deepEqual(got[0], new Uint8Array([1, 2, 3]));
      assert.deepEqual(got.slice(1), Array.from({ length: 300 }, (_, i) => `m${i}`));
      const iterator = sub[Symbol.asyncIterator]();
      const extra = await Promise.race([
        iterator.next().then(() => "more"),
        new Promise((resolve) => setTimeout(() => resolve("none"), 200)),
      ]);
      assert.equal(extra, "none", "no duplicate arrived");
      await sub.unsubscribe();
    },
  });

  Deno.test({
    name: `cluster (${kind}): a message carries the publisher's nodeId, the publisher hears itself`,
    ignore: kind !== "local" && !hasEngine(kind),
    async fn() {
      await using engine = kind === "local" ? undefined : await startEngine(kind);
      await using cluster = await connectCluster(engine?.url);
      const sub = cluster.subscribe("news");
      await sub.ready;
      await cluster.publish("news", "hi");
      for await (const m of sub) {
        assert.equal(m.subject, "news");
        assert.equal(m.data, "hi");
        assert.equal(m.nodeId, cluster.nodeId);
        break;
      }
    },
  });

  Deno.test({
    name: `cluster (${kind}): a reader that never reads ends with ERR_SUBSCRIPTION_OVERFLOW`,
    ignore: kind !== "local" && !hasEngine(kind),
    async fn() {
      await using engine = kind === "local" ? undefined : await startEngine(kind);
      await using cluster = await connectCluster(engine?.url, { maxPending: 50 });
      await using sub = cluster.subscribe("flood");
      await sub.ready;
      for (let i = 0; i < 200; i++) await cluster.publish("flood", `m${i}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const got: unknown[] = [];
      await assert.rejects(
        async () => {
          for await (const m of sub) got.push(m.data);
        },
        (error: unknown) =>
          error instanceof ClusterRangeError && error.code === "ERR_SUBSCRIPTION_OVERFLOW",
      );
      assert.equal(got.length, 50, "what was queued before the overflow is still handed out");
    },
  });
}

for (const kind of ["nats", "redis"] as const) {
  Deno.test({
    name:
      `cluster (${kind}): after an engine restart it resubscribes, flushes held publishes, no duplicates`,
    ignore: !hasEngine(kind),
    async fn() {
      await using engine = await startEngine(kind);
      await using a = await connectCluster(engine.url);
      await using b = await connectCluster(engine.url);
      await using sub = b.subscribe("room");
      await sub.ready;
      const seen: string[] = [];
      const reading = (async () => {
        for await (const m of sub) seen.push(m.data as string);
      })();
      for (let i = 0; i < 10; i++) await a.publish("room", `before${i}`);
      await until("10 before", () => seen.length === 10);

      await engine.kill();
      await until("both to notice", () => !a.connected && !b.connected);
      // Held while away (publishBuffer), sent in order on reconnect.
      const held = Array.from({ length: 5 }, (_, i) => a.publish("room", `held${i}`));
      await engine.start();
      await until("reconnect", () => a.connected && b.connected, 15_000);
      await Promise.all(held);
      for (let i = 0; i < 10; i++) await a.publish("room", `after${i}`);
      await until("after9", () => seen.includes("after9"));
      await sub.unsubscribe();
      await reading;
      assert.equal(new Set(seen).size, seen.length, `no duplicates: ${seen}`);
      const after = seen.filter((s) => s.startsWith("after"));
      assert.deepEqual(after, Array.from({ length: 10 }, (_, i) => `after${i}`));
      // Held ones are flushed in order once every server had time to resubscribe (RESUME_SETTLE_MS).
      const heldSeen = seen.filter((s) => s.startsWith("held"));
      assert.deepEqual(heldSeen, Array.from({ length: 5 }, (_, i) => `held${i}`));
      assert.ok(seen.indexOf("held4") < seen.indexOf("after0"), "held ones come before later ones");
    },
  });

  Deno.test({
    name:
      `cluster (${kind}): beyond publishBuffer a publish while the engine is away rejects with ERR_ENGINE_UNAVAILABLE`,
    ignore: !hasEngine(kind),
    async fn() {
      await using engine = await startEngine(kind);
      await using cluster = await connectCluster(engine.url, {
        publishBuffer: { maxMessages: 3, maxBytes: 1024 },
      });
      await engine.kill();
      await until("disconnect", () => !cluster.connected);
      const held = [0, 1, 2].map((i) =>
        cluster.publish("x", `h${i}`).then(() => undefined, (error) => error)
      );
      await assert.rejects(
        cluster.publish("x", "one too many"),
        (error: unknown) =>
          error instanceof ClusterError && error.code === "ERR_ENGINE_UNAVAILABLE",
      );
      await cluster.close();
      for (const error of await Promise.all(held)) {
        assert.ok(
          error instanceof ClusterError && error.code === "ERR_CLUSTER_CLOSED",
          String(error),
        );
      }
    },
  });

  Deno.test({
    name: `connectCluster("${kind}://…") rejects with ERR_ENGINE_UNREACHABLE within connectTimeout`,
    ignore: !hasEngine(kind),
    async fn() {
      const started = Date.now();
      await assert.rejects(
        connectCluster(`${kind}://127.0.0.1:${freePort()}`, { connectTimeout: 500 }),
        (error: unknown) =>
          error instanceof ClusterError && error.code === "ERR_ENGINE_UNREACHABLE",
      );
      assert.ok(Date.now() - started < 5_000, "it gave up in time");
    },
  });
}

Deno.test("connectCluster() rejects a bad URL, an unknown scheme and bad options with typed codes", async () => {
  const cases: [string | undefined, object, string][] = [
    ["not a url", {}, "ERR_INVALID_URL"],
    ["amqp://127.0.0.1", {}, "ERR_UNSUPPORTED_SCHEME"],
    [undefined, { connectTimeout: -1 }, "ERR_INVALID_OPTION"],
    [undefined, { presence: { heartbeatInterval: 1000, timeout: 1500 } }, "ERR_INVALID_OPTION"],
  ];
  for (const [url, options, code] of cases) {
    await assert.rejects(
      connectCluster(url, options),
      (error: unknown) => error instanceof ClusterTypeError && error.code === code,
      `${url} ${JSON.stringify(options)}`,
    );
  }
});

Deno.test("cluster.publish() and subscribe() refuse bad subjects and data with typed codes", async () => {
  await using cluster = await connectCluster();
  const bad: [unknown, string, typeof TypeError | typeof RangeError][] = [
    ["", "ERR_INVALID_SUBJECT", TypeError],
    ["a b", "ERR_INVALID_SUBJECT", TypeError],
    ["a.*", "ERR_INVALID_SUBJECT", TypeError],
    ["a.>", "ERR_INVALID_SUBJECT", TypeError],
    ["a..b", "ERR_INVALID_SUBJECT", TypeError],
    ["_nk.p", "ERR_INVALID_SUBJECT", TypeError],
    ["x".repeat(257), "ERR_SUBJECT_TOO_LONG", RangeError],
  ];
  for (const [subject, code, kind] of bad) {
    await assert.rejects(
      cluster.publish(subject as string, "x"),
      (error: unknown) => error instanceof kind && (error as ClusterTypeError).code === code,
    );
    assert.throws(
      () => cluster.subscribe(subject as string),
      (error: unknown) => error instanceof kind && (error as ClusterTypeError).code === code,
    );
  }
  await assert.rejects(
    cluster.publish("ok", 42 as unknown as string),
    (error: unknown) => error instanceof ClusterTypeError && error.code === "ERR_INVALID_DATA",
  );
  await using small = await connectCluster(undefined, { maxMessageSize: 10 });
  await assert.rejects(
    small.publish("ok", "x".repeat(11)),
    (error: unknown) =>
      error instanceof ClusterRangeError && error.code === "ERR_MESSAGE_TOO_LARGE",
  );
});

Deno.test("EngineProcess keeps its URL across a restart", async () => {
  if (!hasEngine("nats")) return;
  await using engine = new EngineProcess("nats");
  await engine.start();
  const url = engine.url;
  await engine.restart();
  assert.equal(engine.url, url);
});
