/**
 * `connectCluster()`: joins this process to a cluster over NATS, Redis or
 * (without a URL) nothing at all.
 *
 * @module
 */

import { ClusterCore } from "./_core.ts";
import type { EngineConnector, EngineName } from "./_engine.ts";
import { LocalEngine } from "./_local.ts";
import { clusterSettings, newNodeId } from "./_settings.ts";
import { ClusterTypeError } from "./errors.ts";
import type { ClusterOptions } from "./options.ts";
import type { Cluster } from "./types.ts";

const SCHEMES: Record<string, EngineName> = {
  "nats:": "nats",
  "redis:": "redis",
};

/** Parses and checks a cluster URL; `undefined` means in-process. */
function engineOf(url: string | URL | undefined): { name: EngineName; url?: URL } {
  if (url === undefined || url === "" || url === "local:" || url === "memory:") {
    return { name: "local" };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ClusterTypeError("ERR_INVALID_URL", `Invalid cluster URL "${String(url)}"`, {
      cause: error,
    });
  }
  const name = SCHEMES[parsed.protocol];
  if (!name) {
    throw new ClusterTypeError(
      "ERR_UNSUPPORTED_SCHEME",
      `Unsupported cluster URL scheme "${parsed.protocol}"; use nats:, redis: or no URL`,
    );
  }
  if (parsed.hostname === "") {
    throw new ClusterTypeError("ERR_INVALID_URL", `Cluster URL "${parsed.href}" has no host`);
  }
  return { name, url: parsed };
}

/**
 * Connects this process to a cluster, choosing the engine by URL scheme:
 * `nats://host:4222` (core NATS), `redis://[user:pass@]host:6379[/db]`
 * (Redis pub/sub, sharded on Redis 7+), or no URL for the in-process engine
 * that needs no server. The engine client (`@nats-io/transport-node`,
 * `ioredis`) is loaded only when its scheme is used.
 *
 * Rejects with `ClusterTypeError` `ERR_INVALID_URL` / `ERR_UNSUPPORTED_SCHEME`
 * for a bad URL, `ERR_INVALID_OPTION` for a bad option, and `ClusterError`
 * `ERR_ENGINE_UNREACHABLE` when the engine does not answer within
 * `connectTimeout`. Once connected it reconnects and resubscribes by itself.
 *
 * @example Publish and subscribe in one process
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster(); // or "nats://127.0.0.1:4222", "redis://127.0.0.1:6379"
 * const subscription = cluster.subscribe("chat.lobby");
 * await subscription.ready;
 * await cluster.publish("chat.lobby", "hi");
 * for await (const m of subscription) {
 *   console.log(m.subject, m.data, m.nodeId); // "chat.lobby" "hi" "…"
 *   break;
 * }
 * ```
 */
export async function connectCluster(
  url?: string | URL,
  options: ClusterOptions = {},
): Promise<Cluster> {
  const { name, url: parsed } = engineOf(url);
  const settings = clusterSettings(options);
  const core = new ClusterCore(name, newNodeId(), settings);
  if (name === "local") {
    core.attach(new LocalEngine(core));
  } else {
    // Loaded on demand so that neither the root module nor websocket pulls in the clients.
    const connect: EngineConnector = name === "nats"
      ? (await import("./_nats.ts")).connectNats
      : (await import("./_redis.ts")).connectRedis;
    core.attach(
      await connect(parsed!, core, {
        nodeId: core.nodeId,
        connectTimeout: settings.connectTimeout,
      }),
    );
  }
  const { signal } = settings;
  if (signal) {
    if (signal.aborted) await core.close();
    else signal.addEventListener("abort", () => void core.close(), { once: true });
  }
  return core;
}
