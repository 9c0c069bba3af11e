/**
 * The public shape of a cluster connection.
 *
 * @module
 */

import type { Directory, DirectoryOptions } from "./directory.ts";

/**
 * One message received from a subscription.
 *
 * @example
 * ```ts
 * import { type ClusterMessage, connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * const subscription = cluster.subscribe("news");
 * await subscription.ready;
 * await cluster.publish("news", "hi");
 * for await (const message of subscription) {
 *   const m: ClusterMessage = message;
 *   console.log(m.subject, m.data, m.nodeId === cluster.nodeId); // "news" "hi" true
 *   break;
 * }
 * ```
 */
export interface ClusterMessage {
  /** The subject it was published on. */
  readonly subject: string;
  /** The data as published: a `string` stays a string, bytes stay bytes. */
  readonly data: string | Uint8Array;
  /** The `nodeId` of the publishing process. */
  readonly nodeId: string;
}

/**
 * The messages of one subject, in order per publisher, each once. Iterate
 * it; `break`, `unsubscribe()` or disposing it ends the subscription. A
 * reader that leaves more than `maxPending` messages unread ends with
 * `ERR_SUBSCRIPTION_OVERFLOW`.
 *
 * @example
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * await using subscription = cluster.subscribe("chat.lobby");
 * await subscription.ready;
 * await cluster.publish("chat.lobby", "hello");
 * for await (const m of subscription) {
 *   console.log(m.data); // "hello"
 *   break;
 * }
 * ```
 */
export interface ClusterSubscription extends AsyncIterable<ClusterMessage>, AsyncDisposable {
  /** The subject. */
  readonly subject: string;
  /** Settles once the engine delivers what is published from now on. */
  readonly ready: Promise<void>;
  /** Ends the subscription; iteration ends after what was already received. */
  unsubscribe(): Promise<void>;
}

/**
 * The engines `connectCluster()` picks from by URL scheme.
 *
 * @example
 * ```ts
 * import { type ClusterEngine, connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * const engine: ClusterEngine = cluster.engine; // "local"
 * ```
 */
export type ClusterEngine = "local" | "nats" | "redis";

/**
 * A connection of this process to the cluster's engine: plain pub/sub,
 * and what `serve({ cluster })` builds rooms and presence on.
 *
 * @example
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster(); // in-process; "nats://…" or "redis://…" for more
 * console.log(cluster.engine, cluster.nodeId);
 * await cluster.publish("chat.lobby", "hi");
 * ```
 */
export interface Cluster extends AsyncDisposable {
  /** A random id, unique per process (and per `connectCluster()` call). */
  readonly nodeId: string;
  /** The engine carrying the messages. */
  readonly engine: ClusterEngine;
  /** `true` while the engine is reachable (always for `"local"`). */
  readonly connected: boolean;
  /**
   * Publishes `data` on `subject` to every subscriber in the cluster,
   * this process included. Resolves once the engine took it. While the
   * engine is away it is held (up to `publishBuffer`) and sent, in order,
   * on reconnect; beyond that bound it rejects with `ERR_ENGINE_UNAVAILABLE`.
   */
  publish(subject: string, data: string | Uint8Array): Promise<void>;
  /** Subscribes to `subject` (exact match; no wildcards). */
  subscribe(subject: string, options?: { signal?: AbortSignal }): ClusterSubscription;
  /**
   * The directory `name` (servers announcing where they listen and how full
   * they are; see `Directory`). The same object for the same name.
   */
  directory(name: string, options?: DirectoryOptions): Directory;
  /** Disconnects; pending publishes reject with `ERR_CLUSTER_CLOSED`. */
  close(): Promise<void>;
}
