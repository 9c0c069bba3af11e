/**
 * Rooms for websocket connections: one cluster `RoomHub` per cluster,
 * delivering through `fanOut()`. The rooms logic itself lives in cluster/;
 * this file only wires it up. Private to the module.
 *
 * @module
 */

import { createLocalCluster } from "../cluster/local.ts";
import { RoomHub } from "../cluster/rooms.ts";
import type { Cluster } from "../cluster/types.ts";
import type { Connection } from "./_connection.ts";

/** Hands data to connections without waiting (`fanOut` of `_server_core.ts`). */
export type FanOut = (connections: Iterable<Connection>, data: string | Uint8Array) => void;

const hubs = new WeakMap<Cluster, RoomHub<Connection>>();

/** The hub of `cluster`: one per cluster object, closed when the cluster closes. */
export function hubOf(cluster: Cluster, fanOut: FanOut): RoomHub<Connection> {
  let hub = hubs.get(cluster);
  if (!hub) {
    hub = new RoomHub<Connection>(cluster, { fanOut });
    hubs.set(cluster, hub);
  }
  return hub;
}

let processCluster: Cluster | undefined;

/**
 * The in-process cluster of `handleUpgrade()` connections given no
 * `cluster`: one per process (its engine holds no timers or sockets).
 */
export function processLocalCluster(): Cluster {
  return processCluster ??= createLocalCluster();
}

/** A server's rooms: its `cluster`'s hub, or its own in-process one created on first use. */
export class ServerRooms {
  #cluster: Cluster | undefined;
  #own: Cluster | undefined;
  #hub: RoomHub<Connection> | undefined;
  #fanOut: FanOut;

  constructor(cluster: Cluster | undefined, fanOut: FanOut) {
    this.#cluster = cluster;
    this.#fanOut = fanOut;
  }

  get hub(): RoomHub<Connection> {
    if (this.#hub) return this.#hub;
    const cluster = this.#cluster ?? (this.#own = createLocalCluster());
    return this.#hub = hubOf(cluster, this.#fanOut);
  }

  /** Closes what the server owns (its in-process cluster); a shared cluster stays. */
  async close(): Promise<void> {
    await this.#own?.close();
  }
}
