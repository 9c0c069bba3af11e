/**
 * Options of `connectCluster()`.
 *
 * @module
 */

/**
 * Presence timing: how often a server says it is alive, and when a silent one counts as dead.
 *
 * @example
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster(undefined, {
 *   presence: { heartbeatInterval: 500, timeout: 2_000 },
 * });
 * ```
 */
export interface PresenceOptions {
  /**
   * Milliseconds between two heartbeats of one server.
   * @default {1000}
   */
  heartbeatInterval?: number;
  /**
   * Milliseconds after a server's death (kill -9, cut network) within which
   * its members have left every other server's view. At least twice
   * `heartbeatInterval`.
   * @default {5000}
   */
  timeout?: number;
}

/**
 * Publishes held while the engine is away; beyond these a publish rejects with `ERR_ENGINE_UNAVAILABLE`.
 *
 * @example
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster(undefined, {
 *   publishBuffer: { maxMessages: 100, maxBytes: 64 * 1024 },
 * });
 * ```
 */
export interface PublishBufferOptions {
  /**
   * Messages held at most.
   * @default {1000}
   */
  maxMessages?: number;
  /**
   * Bytes held at most.
   * @default {1048576} (1 MiB)
   */
  maxBytes?: number;
}

/**
 * Options of `connectCluster()`.
 *
 * @example
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster(undefined, {
 *   connectTimeout: 2_000,
 *   maxMessageSize: 64 * 1024,
 * });
 * ```
 */
export interface ClusterOptions {
  /**
   * Milliseconds to reach the engine at start; then `connectCluster()`
   * rejects with `ERR_ENGINE_UNREACHABLE`.
   * @default {5000}
   */
  connectTimeout?: number;
  /**
   * Largest `data` of one publish in bytes (`ERR_MESSAGE_TOO_LARGE` beyond).
   * NATS refuses payloads over its `max_payload` (1 MiB by default).
   * @default {1000000}
   */
  maxMessageSize?: number;
  /**
   * Messages a subscriber may leave unread; one more ends its iteration with
   * `ERR_SUBSCRIPTION_OVERFLOW` (a slow reader never grows memory).
   * @default {10000}
   */
  maxPending?: number;
  /** Bounds of what is held while the engine is away. */
  publishBuffer?: PublishBufferOptions;
  /** Heartbeat and failure detection of room presence. */
  presence?: PresenceOptions;
  /** Closes the cluster (like `close()`) when aborted. */
  signal?: AbortSignal;
}
