/**
 * Directories: servers (ENet hosts, WebRTC slaves, WebSocket nodes, …)
 * announce where they listen and how full they are; matchmakers list,
 * watch and take seats atomically. `cluster.directory(name)` opens one.
 *
 * @module
 */

/**
 * Where a server listens.
 *
 * @example
 * ```ts
 * import type { DirectoryAddress } from "@netkit/realtime/cluster";
 * const address: DirectoryAddress = { hostname: "10.0.0.7", port: 7777, protocol: "enet" };
 * ```
 */
export interface DirectoryAddress {
  /** Host name or IP address clients connect to. */
  hostname: string;
  /** Port clients connect to. */
  port: number;
  /** Free-form transport hint (`"enet"`, `"ws"`, `"webrtc"`, …). */
  protocol?: string;
}

/**
 * What `register()` takes.
 *
 * @example
 * ```ts
 * import type { DirectoryEntryInit } from "@netkit/realtime/cluster";
 * const init: DirectoryEntryInit = {
 *   id: "eu-1",
 *   address: { hostname: "127.0.0.1", port: 7777 },
 *   capacity: 10,
 *   meta: { map: "dust" },
 * };
 * ```
 */
export interface DirectoryEntryInit {
  /** Unique in the directory: 1–128 of `A-Z a-z 0-9 _ - .` (not starting or ending with `.`). */
  id: string;
  /** Where clients connect. */
  address: DirectoryAddress;
  /** Seats in total (an integer ≥ 0). */
  capacity: number;
  /**
   * Seats taken at registration.
   * @default {0}
   */
  seats?: number;
  /** Free JSON data (map, mode, region, version…); at most `maxMetaBytes` as JSON. */
  meta?: Record<string, unknown>;
}

/**
 * What `update()` may change; omitted fields stay as they are.
 *
 * @example
 * ```ts
 * import type { DirectoryEntryUpdate } from "@netkit/realtime/cluster";
 * const change: DirectoryEntryUpdate = { seats: 3, meta: { map: "arena" } };
 * ```
 */
export interface DirectoryEntryUpdate {
  /** A new address. */
  address?: DirectoryAddress;
  /** A new capacity. */
  capacity?: number;
  /** Seats taken as the server counts them (its connected players). Held reservations count on top. */
  seats?: number;
  /** Replaces `meta` as a whole. */
  meta?: Record<string, unknown>;
}

/**
 * One server as every process sees it.
 *
 * @example
 * ```ts
 * import { connectCluster, type DirectoryEntry } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * const entries: DirectoryEntry[] = await cluster.directory("game").list();
 * for (const e of entries) console.log(e.id, e.seats, "/", e.capacity);
 * ```
 */
export interface DirectoryEntry {
  /** The id it was registered under. */
  readonly id: string;
  /** Where clients connect. */
  readonly address: DirectoryAddress;
  /** Seats in total. */
  readonly capacity: number;
  /** Seats taken: what the server reports plus reservations not yet lapsed. */
  readonly seats: number;
  /** The free data given at registration or last update. */
  readonly meta: Record<string, unknown>;
  /** `nodeId` of the process that registered it (and keeps it alive). */
  readonly nodeId: string;
}

/**
 * One change seen by `watch()`.
 *
 * @example
 * ```ts
 * import type { DirectoryChange } from "@netkit/realtime/cluster";
 * function log(change: DirectoryChange): void {
 *   console.log(change.type, change.entry.id);
 * }
 * ```
 */
export interface DirectoryChange {
  /** `"added"`: new (or first seen); `"updated"`: any field changed; `"removed"`: unregistered or its process stopped beating. */
  readonly type: "added" | "updated" | "removed";
  /** The entry (for `"removed"`, as it was last seen). */
  readonly entry: DirectoryEntry;
}

/**
 * Options of `reserve()`.
 *
 * @example
 * ```ts
 * import type { ReserveOptions } from "@netkit/realtime/cluster";
 * const hold: ReserveOptions = { ttl: 15_000 }; // lapses unless released before
 * ```
 */
export interface ReserveOptions {
  /**
   * Milliseconds after which the seat frees itself. Without it the seat is
   * taken until `release()` (or until the server reports `seats` anew).
   */
  ttl?: number;
}

/**
 * Options of `cluster.directory(name, options)` (first call per name wins).
 *
 * @example
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * const games = cluster.directory("game", { heartbeatInterval: 500, timeout: 2_000 });
 * ```
 */
export interface DirectoryOptions {
  /**
   * Milliseconds between two heartbeats of a registering process, and
   * between two reads of the store by a watcher.
   * @default {1000}
   */
  heartbeatInterval?: number;
  /**
   * Milliseconds within which an entry of a dead process (kill -9, cut
   * network) is gone from `list()` and reported `"removed"` by every
   * `watch()`. At least twice `heartbeatInterval`.
   * @default {5000}
   */
  timeout?: number;
  /**
   * Largest `meta` in bytes of JSON (`ERR_META_TOO_LARGE` beyond).
   * @default {4096}
   */
  maxMetaBytes?: number;
}

/**
 * A directory of servers shared by every process of the cluster. Entries
 * live while the registering process beats (every `heartbeatInterval`);
 * after a crash they are gone everywhere within `timeout`. `reserve()` is
 * atomic on every engine (compare-and-swap on NATS KV, a Lua script on
 * Redis): N racing callers on a server with capacity C get exactly C `true`.
 *
 * @example
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster(); // "nats://…" (JetStream on) or "redis://…"
 * const games = cluster.directory("game");
 * await games.register({
 *   id: "eu-1",
 *   address: { hostname: "127.0.0.1", port: 7777 },
 *   capacity: 10,
 *   meta: { map: "dust" },
 * });
 * await games.update("eu-1", { meta: { map: "arena" } });
 * if (await games.reserve("eu-1", { ttl: 15_000 })) console.log("seat taken");
 * console.log(await games.list()); // [{ id: "eu-1", seats: 1, capacity: 10, … }]
 * await games.unregister("eu-1");
 * ```
 */
export interface Directory {
  /** The directory's name. */
  readonly name: string;
  /**
   * Adds an entry owned by this process and keeps it alive. Rejects with
   * `ERR_DUPLICATE_ID` when the id is taken by a live entry,
   * `ERR_INVALID_ENTRY` / `ERR_META_TOO_LARGE` for bad fields.
   */
  register(entry: DirectoryEntryInit): Promise<DirectoryEntry>;
  /**
   * Changes an entry this process registered (`ERR_UNKNOWN_ID` when there
   * is none, `ERR_NOT_OWNER` when another process registered it).
   */
  update(id: string, change: DirectoryEntryUpdate): Promise<DirectoryEntry>;
  /** Every live entry, from every process. */
  list(): Promise<DirectoryEntry[]>;
  /** One live entry, or `undefined`. */
  get(id: string): Promise<DirectoryEntry | undefined>;
  /**
   * The live entries as `"added"` changes, then every change as it happens
   * (changes made by any process; removals of dead processes within
   * `timeout`). `break` or the signal ends it.
   */
  watch(options?: { signal?: AbortSignal }): AsyncIterable<DirectoryChange>;
  /**
   * Takes one seat atomically: `true` when taken, `false` when the entry is
   * full. Rejects with `ERR_UNKNOWN_ID` for an id with no live entry.
   */
  reserve(id: string, options?: ReserveOptions): Promise<boolean>;
  /**
   * Gives one seat back: a held (`ttl`) reservation first, else one of the
   * reported seats. `false` when nothing was taken. `ERR_UNKNOWN_ID` for an
   * id with no live entry.
   */
  release(id: string): Promise<boolean>;
  /** Removes an entry this process registered (`ERR_NOT_OWNER` otherwise); absent ids are fine. */
  unregister(id: string): Promise<void>;
}
