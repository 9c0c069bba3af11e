/**
 * `createLocalCluster()`: the in-process cluster, synchronously. It never
 * loads an engine client, so websocket can use it for rooms without a
 * `cluster` option.
 *
 * @module
 */

import { ClusterCore } from "./_core.ts";
import { LocalEngine } from "./_local.ts";
import { clusterSettings, newNodeId } from "./_settings.ts";
import type { ClusterOptions } from "./options.ts";
import type { Cluster } from "./types.ts";

/**
 * Creates an in-process cluster at once (what `connectCluster()` without a
 * URL resolves with). Every object it returns is its own little cluster:
 * share one between servers of a process to share rooms.
 *
 * @example
 * ```ts
 * import { createLocalCluster } from "@netkit/realtime/cluster";
 * await using cluster = createLocalCluster();
 * console.log(cluster.engine); // "local"
 * ```
 */
export function createLocalCluster(options: ClusterOptions = {}): Cluster {
  const core = new ClusterCore("local", newNodeId(), clusterSettings(options));
  core.attach(new LocalEngine(core));
  return core;
}
