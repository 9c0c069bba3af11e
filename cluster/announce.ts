/**
 * `announceServer()`: keeps one server's directory entry current from a seat count the server
 * already has (connected peers, open connections), for any transport.
 *
 * @module
 */

import type {
  Directory,
  DirectoryAddress,
  DirectoryEntry,
  DirectoryEntryUpdate,
} from "./directory.ts";
import { ClusterTypeError } from "./errors.ts";

/**
 * Options of `announceServer()`.
 *
 * @example
 * ```ts
 * import type { AnnounceServerOptions } from "@netkit/realtime/cluster";
 * const connections: unknown[] = [];
 * const options: AnnounceServerOptions = {
 *   id: "ws-1",
 *   address: { hostname: "127.0.0.1", port: 8080, protocol: "ws" },
 *   capacity: 1000,
 *   seats: () => connections.length,
 * };
 * ```
 */
export interface AnnounceServerOptions {
  /** The entry's id (unique in the directory; `ERR_DUPLICATE_ID` otherwise). */
  id: string;
  /** Where clients connect. */
  address: DirectoryAddress;
  /** Seats in total. */
  capacity: number;
  /** Seats taken now (read every `interval`; written on change). */
  seats: () => number;
  /** Free JSON data. */
  meta?: Record<string, unknown>;
  /** Returns `true` once the server closed: the entry is then removed. */
  closed?: () => boolean;
  /**
   * Milliseconds between two reads of `seats()` / `closed()`.
   * @default {250}
   */
  interval?: number;
}

/**
 * A live announcement; `close()` (or the server closing) removes the entry.
 *
 * @example
 * ```ts
 * import { type Announcement, announceServer, connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * const announcement: Announcement = await announceServer(cluster.directory("ws"), {
 *   id: "ws-1",
 *   address: { hostname: "127.0.0.1", port: 8080 },
 *   capacity: 100,
 *   seats: () => 0,
 * });
 * await announcement.close();
 * ```
 */
export interface Announcement extends AsyncDisposable {
  /** The entry's id. */
  readonly id: string;
  /** Changes the entry's address, capacity or meta (seats follow `seats()` by themselves). */
  update(change: Omit<DirectoryEntryUpdate, "seats">): Promise<DirectoryEntry>;
  /** Stops following the server and removes the entry. */
  close(): Promise<void>;
}

/**
 * Registers a server in `directory` and keeps its `seats` equal to `seats()` (read every
 * `interval` ms, written on change) until `closed()` turns true or the announcement closes, then
 * unregisters it. If the process dies the entry lapses within the directory's `timeout`. ENet
 * hosts have `announce()` in `@netkit/realtime/enet`; this is the same for anything else, e.g.
 * a WebSocket server (`seats: () => server.connections.length`).
 *
 * Rejects as `register()` does (`ERR_DUPLICATE_ID`, `ERR_INVALID_ENTRY`, `ERR_META_TOO_LARGE`)
 * and with `ClusterTypeError` `ERR_INVALID_OPTION` for an `interval` under 10 ms.
 *
 * @example A WebSocket node that can be found
 * ```ts
 * import { announceServer, connectCluster } from "@netkit/realtime/cluster";
 * import { serve } from "@netkit/realtime/websocket";
 * await using cluster = await connectCluster();
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * await using _announcement = await announceServer(cluster.directory("ws"), {
 *   id: "ws-1",
 *   address: { hostname: "127.0.0.1", port: server.addr.port, protocol: "ws" },
 *   capacity: 1000,
 *   seats: () => server.connections.length,
 * });
 * ```
 */
export async function announceServer(
  directory: Directory,
  options: AnnounceServerOptions,
): Promise<Announcement> {
  const interval = options.interval ?? 250;
  if (!Number.isInteger(interval) || interval < 10) {
    throw new ClusterTypeError(
      "ERR_INVALID_OPTION",
      `Option "interval" must be an integer >= 10, got ${String(interval)}`,
    );
  }
  const { id } = options;
  let seats = options.seats();
  await directory.register({
    id,
    address: options.address,
    capacity: options.capacity,
    seats,
    meta: options.meta,
  });
  let closing: Promise<void> | undefined;
  let writing = false;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      clearInterval(timer);
      await directory.unregister(id).catch(() => {}); // the cluster may be closed already
    })();
  const timer = setInterval(async () => {
    if (options.closed?.()) return void close();
    const now = options.seats();
    if (now === seats || writing || closing) return;
    writing = true;
    try {
      await directory.update(id, { seats: now });
      seats = now;
    } catch {
      // Engine away or cluster closed: tried again on the next tick.
    } finally {
      writing = false;
    }
  }, interval);
  return {
    id,
    update: (change) => directory.update(id, { ...change, seats: undefined }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
