/**
 * `announce()`: keeps an ENet host's entry in a cluster directory current —
 * where it listens, how many peers are connected — and removes it when the
 * host closes. The directory comes from `cluster.directory(name)` of
 * `@netkit/realtime/cluster`; the engine client is whatever that cluster loaded (this file
 * imports only the directory types and the transport-neutral `announceServer()`).
 *
 * @module
 */

import { type Announcement, announceServer } from "../cluster/announce.ts";
import type { Directory, DirectoryAddress } from "../cluster/directory.ts";
import { EnetTypeError } from "./errors.ts";
import type { Host } from "./host.ts";

// The directory's types, so that announce()'s signature is documented here.
export type * from "../cluster/directory.ts";

/**
 * Options of `announce()`.
 *
 * @example
 * ```ts
 * import type { AnnounceOptions } from "@netkit/realtime/enet";
 * const options: AnnounceOptions = { id: "eu-1", capacity: 16, meta: { map: "dust" } };
 * ```
 */
export interface AnnounceOptions {
  /** The entry's id in the directory (unique there; `ERR_DUPLICATE_ID` otherwise). */
  id: string;
  /** Seats in total, usually the `peerCount` the host was created with. */
  capacity: number;
  /**
   * Where clients connect.
   * @default {the host's bound address, protocol "enet"}
   */
  address?: DirectoryAddress;
  /** Free JSON data (map, mode, version…). */
  meta?: Record<string, unknown>;
  /**
   * Milliseconds between two looks at the connected peer count; a change is
   * written to the directory (one write per change, none when idle).
   * @default {250}
   */
  interval?: number;
}

export type { Announcement } from "../cluster/announce.ts";

/**
 * Registers `host` in `directory` and keeps the entry's `seats` equal to
 * its connected peers (checked every `interval` ms, written on change)
 * until the host or the announcement closes, then unregisters it. If the
 * process dies the entry lapses by the directory's `timeout` (5 s by
 * default). Seats a matchmaker holds with `reserve(id, { ttl })` count on
 * top of the connected peers until they lapse or are released.
 *
 * Rejects as `register()` does (`ERR_DUPLICATE_ID`, `ERR_INVALID_ENTRY`, …), and with
 * `EnetTypeError` `ERR_INVALID_OPTION` for an `interval` below 10 ms.
 *
 * @example A game server that can be found
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * import { announce, createHost } from "@netkit/realtime/enet";
 * await using cluster = await connectCluster(); // "nats://…" or "redis://…" across machines
 * await using host = await createHost({ address: { hostname: "127.0.0.1", port: 0 }, peerCount: 16 });
 * await using _announcement = await announce(host, cluster.directory("game"), {
 *   id: "eu-1",
 *   capacity: 16,
 *   meta: { map: "dust" },
 * });
 * console.log(await cluster.directory("game").list()); // [{ id: "eu-1", seats: 0, capacity: 16, … }]
 * ```
 */
export async function announce(
  host: Host,
  directory: Directory,
  options: AnnounceOptions,
): Promise<Announcement> {
  const interval = options.interval ?? 250;
  if (!Number.isInteger(interval) || interval < 10) {
    throw new EnetTypeError(
      "ERR_INVALID_OPTION",
      `Option "interval" must be an integer >= 10, got ${String(interval)}`,
    );
  }
  const bound = host.address;
  return await announceServer(directory, {
    id: options.id,
    address: options.address ?? { hostname: bound.hostname, port: bound.port, protocol: "enet" },
    capacity: options.capacity,
    meta: options.meta,
    interval,
    seats: () => host.peers.length,
    closed: () => host.closed,
  });
}
