/**
 * The directory behind `cluster.directory(name)`: entries as JSON records
 * in the engine's key/value store, kept alive by a heartbeat of the owning
 * process, read back by everyone, with every write announced on
 * `_nk.dir.<name>` so watchers re-read at once. Private to the module.
 *
 * Liveness is a wall-clock `expiresAt` in each record (`timeout -
 * heartbeatInterval` after the last beat), because neither engine version
 * here can expire one record with an event (nats-server 2.9 sends no
 * watcher event for a TTL expiry; Redis 7.0 has no per-field TTL). Any
 * process that reads an expired record deletes it (compare-and-swap, so a
 * late beat wins). Clocks of the processes must agree to well within
 * `heartbeatInterval`.
 *
 * @module
 */

import { integer } from "./_settings.ts";
import { Listener } from "./_listener.ts";
import type { KvStore, StoredValue } from "./_store.ts";
import { encodeFrame } from "./_wire.ts";
import type {
  Directory,
  DirectoryAddress,
  DirectoryChange,
  DirectoryEntry,
  DirectoryEntryInit,
  DirectoryEntryUpdate,
  DirectoryOptions,
  ReserveOptions,
} from "./directory.ts";
import { ClusterError, ClusterRangeError, ClusterTypeError } from "./errors.ts";

/** A stored record. */
interface DirectoryRecord {
  id: string;
  address: DirectoryAddress;
  capacity: number;
  /** Seats the server reports (or reserved without a ttl). */
  taken: number;
  /** Expiry times (ms since the epoch) of reservations made with a ttl. */
  holds: number[];
  /** `meta` as JSON text, so that a server-side script never re-encodes user data. */
  meta: string;
  nodeId: string;
  expiresAt: number;
  /** Counts writes, so that a value never repeats (Redis compares values). */
  v: number;
}

/** Validated directory options. */
export interface DirectorySettings {
  heartbeatInterval: number;
  timeout: number;
  maxMetaBytes: number;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const ID = /^[A-Za-z0-9_-]([A-Za-z0-9_.-]{0,126}[A-Za-z0-9_-])?$/;
const MAX_CAPACITY = 2 ** 31 - 1;
const MAX_TTL = 2 ** 31 - 1;
/** How long a compare-and-swap loop keeps trying before `ERR_DIRECTORY_CONFLICT`. */
const CAS_DEADLINE_MS = 10_000;
const encoder = new TextEncoder();

function invalid(message: string): ClusterTypeError {
  return new ClusterTypeError("ERR_INVALID_ENTRY", message);
}

/** Checks directory options and fills in the defaults. */
export function directorySettings(options: DirectoryOptions = {}): DirectorySettings {
  const heartbeatInterval = integer("heartbeatInterval", options.heartbeatInterval, 1_000, 10);
  const timeout = integer("timeout", options.timeout, 5_000, 20);
  if (timeout < 2 * heartbeatInterval) {
    throw new ClusterTypeError(
      "ERR_INVALID_OPTION",
      `Option "timeout" (${timeout}) must be at least twice "heartbeatInterval" (${heartbeatInterval})`,
    );
  }
  return {
    heartbeatInterval,
    timeout,
    maxMetaBytes: integer("maxMetaBytes", options.maxMetaBytes, 4096, 2),
  };
}

export function checkId(id: unknown): string {
  if (typeof id !== "string" || !ID.test(id)) {
    throw invalid(
      `Entry id must be 1-128 of A-Z a-z 0-9 _ - . (not starting or ending with "."), got ${
        JSON.stringify(id)
      }`,
    );
  }
  return id;
}

function checkCount(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_CAPACITY) {
    throw invalid(`"${name}" must be an integer from 0 to ${MAX_CAPACITY}, got ${String(value)}`);
  }
  return value;
}

function checkAddress(address: unknown): DirectoryAddress {
  const a = address as DirectoryAddress;
  if (
    typeof a !== "object" || a === null || typeof a.hostname !== "string" || a.hostname === "" ||
    a.hostname.length > 255 || !Number.isInteger(a.port) || a.port < 0 || a.port > 65535 ||
    (a.protocol !== undefined && (typeof a.protocol !== "string" || a.protocol.length > 32))
  ) {
    throw invalid(`"address" must be { hostname, port (0-65535), protocol? }`);
  }
  return a.protocol === undefined
    ? { hostname: a.hostname, port: a.port }
    : { hostname: a.hostname, port: a.port, protocol: a.protocol };
}

function checkMeta(meta: unknown, max: number): string {
  if (meta === undefined) return "{}";
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
    throw invalid(`"meta" must be a plain object`);
  }
  let json: string;
  try {
    json = JSON.stringify(meta);
  } catch (error) {
    throw new ClusterTypeError("ERR_INVALID_ENTRY", `"meta" is not JSON`, { cause: error });
  }
  const bytes = encoder.encode(json).length;
  if (bytes > max) {
    throw new ClusterRangeError(
      "ERR_META_TOO_LARGE",
      `"meta" is ${bytes} bytes of JSON; maxMetaBytes is ${max}`,
    );
  }
  return json;
}

function parse(stored: StoredValue): DirectoryRecord | undefined {
  try {
    const record = JSON.parse(stored.value) as DirectoryRecord;
    if (typeof record?.expiresAt !== "number" || typeof record.meta !== "string") return undefined;
    // Redis' cjson writes an empty array as {}.
    if (!Array.isArray(record.holds)) record.holds = [];
    return record;
  } catch {
    return undefined; // not ours: skipped
  }
}

function liveHolds(record: DirectoryRecord, now: number): number[] {
  return record.holds.filter((expiry) => expiry > now);
}

function toEntry(record: DirectoryRecord, now: number): DirectoryEntry {
  return {
    id: record.id,
    address: record.address,
    capacity: record.capacity,
    seats: record.taken + liveHolds(record, now).length,
    meta: JSON.parse(record.meta),
    nodeId: record.nodeId,
  };
}

function sameEntry(a: DirectoryEntry, b: DirectoryEntry): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function unknownId(name: string, id: string): ClusterError {
  return new ClusterError("ERR_UNKNOWN_ID", `Directory "${name}" has no live entry "${id}"`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One `watch()` iteration's queue. */
class WatchQueue {
  items: DirectoryChange[] = [];
  wake: (() => void) | undefined;
  ended = false;
  push(change: DirectoryChange): void {
    this.items.push(change);
    this.#poke();
  }
  end(): void {
    this.ended = true;
    this.#poke();
  }
  #poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** Most changes a watcher may leave unread before it ends (`ERR_SUBSCRIPTION_OVERFLOW`). */
const MAX_WATCH_BACKLOG = 10_000;

/**
 * What a directory needs from its cluster connection. An interface rather
 * than `ClusterCore` itself, so that `_core.ts` (which creates directories)
 * and this file do not import each other.
 */
export interface DirectoryHost {
  readonly nodeId: string;
  openStore(name: string): Promise<KvStore>;
  nextSeq(): number;
  publishFrame(subject: string, frame: Uint8Array, hold?: boolean): Promise<void>;
  listen(subject: string, listener: Listener): Promise<void>;
  unlisten(subject: string, listener: Listener): Promise<void>;
  onClose(watcher: () => void | Promise<void>): () => void;
}

export class DirectoryImpl implements Directory {
  readonly name: string;
  #core: DirectoryHost;
  #settings: DirectorySettings;
  #store: Promise<KvStore> | undefined;
  #subject: string;
  /** Ids this process registered and keeps alive. */
  #owned = new Map<string, DirectoryRecord>();
  #beatTimer: ReturnType<typeof setInterval> | undefined;
  #beating = false;
  // Watching
  #watchers = new Set<WatchQueue>();
  #view = new Map<string, DirectoryEntry>();
  #viewReady: Promise<void> | undefined;
  #refreshing: Promise<void> | undefined;
  #dirty = false;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #listener: Listener | undefined;
  #closed = false;

  constructor(core: DirectoryHost, name: string, options: DirectoryOptions) {
    if (typeof name !== "string" || !NAME.test(name)) {
      throw invalid(`Directory name must be 1-64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(name)}`);
    }
    this.name = name;
    this.#core = core;
    this.#settings = directorySettings(options);
    this.#subject = `_nk.dir.${name}`;
    core.onClose(() => this.#close());
  }

  #open(): Promise<KvStore> {
    if (this.#closed) {
      return Promise.reject(new ClusterError("ERR_CLUSTER_CLOSED", "The cluster is closed"));
    }
    this.#store ??= this.#core.openStore(`nk_dir_${this.name}`);
    this.#store.catch(() => this.#store = undefined); // retried by the next call
    return this.#store;
  }

  /** Tells every watcher in the cluster to re-read (at most once, never held). */
  #announce(): void {
    const frame = encodeFrame(this.#core.nodeId, this.#core.nextSeq(), false, new Uint8Array(0));
    this.#core.publishFrame(this.#subject, frame, false).catch(() => {});
  }

  #expiry(now = Date.now()): number {
    return now + this.#settings.timeout - this.#settings.heartbeatInterval;
  }

  async register(init: DirectoryEntryInit): Promise<DirectoryEntry> {
    if (typeof init !== "object" || init === null) throw invalid("Entry must be an object");
    const id = checkId(init.id);
    const now = Date.now();
    const record: DirectoryRecord = {
      id,
      address: checkAddress(init.address),
      capacity: checkCount("capacity", init.capacity),
      taken: init.seats === undefined ? 0 : checkCount("seats", init.seats),
      holds: [],
      meta: checkMeta(init.meta, this.#settings.maxMetaBytes),
      nodeId: this.#core.nodeId,
      expiresAt: this.#expiry(now),
      v: 0,
    };
    const store = await this.#open();
    if (!(await store.create(id, JSON.stringify(record)))) {
      // Taken: by a live entry (a duplicate), or by a dead one nobody reaped yet.
      const stored = await store.get(id);
      const old = stored && parse(stored);
      if (stored && old && old.expiresAt <= Date.now() && await store.delete(id, stored.revision)) {
        return this.register(init);
      }
      throw new ClusterError(
        "ERR_DUPLICATE_ID",
        `Directory "${this.name}" already has an entry "${id}"${
          old ? ` (registered by node ${old.nodeId})` : ""
        }`,
      );
    }
    this.#owned.set(id, record);
    this.#startBeat();
    this.#announce();
    return toEntry(record, now);
  }

  /**
   * Reads `id`, applies `change` and writes it back at the read revision,
   * retrying when someone else wrote in between. `change` returns
   * `undefined` to write nothing.
   */
  async #modify<T>(
    id: string,
    change: (record: DirectoryRecord, now: number) => { record?: DirectoryRecord; result: T },
  ): Promise<T> {
    const store = await this.#open();
    const deadline = Date.now() + CAS_DEADLINE_MS;
    for (let attempt = 0;; attempt++) {
      const stored = await store.get(id);
      const record = stored && parse(stored);
      const now = Date.now();
      if (!stored || !record || record.expiresAt <= now) throw unknownId(this.name, id);
      const { record: next, result } = change(record, now);
      if (!next) return result;
      next.v = record.v + 1;
      if (await store.update(id, JSON.stringify(next), stored.revision)) {
        this.#announce();
        return result;
      }
      if (Date.now() > deadline) {
        throw new ClusterError(
          "ERR_DIRECTORY_CONFLICT",
          `Entry "${id}" kept changing for ${CAS_DEADLINE_MS} ms; gave up after ${
            attempt + 1
          } tries`,
        );
      }
      // Lost a race: back off a little (random, growing) so racers spread out.
      await sleep(Math.random() * Math.min(2 + attempt, 20));
    }
  }

  #checkOwner(record: DirectoryRecord): void {
    if (record.nodeId !== this.#core.nodeId) {
      throw new ClusterError(
        "ERR_NOT_OWNER",
        `Entry "${record.id}" of directory "${this.name}" belongs to node ${record.nodeId}`,
      );
    }
  }

  update(id: string, change: DirectoryEntryUpdate): Promise<DirectoryEntry> {
    try {
      checkId(id);
      if (typeof change !== "object" || change === null) throw invalid("Update must be an object");
      const address = change.address === undefined ? undefined : checkAddress(change.address);
      const capacity = change.capacity === undefined
        ? undefined
        : checkCount("capacity", change.capacity);
      const seats = change.seats === undefined ? undefined : checkCount("seats", change.seats);
      const meta = change.meta === undefined
        ? undefined
        : checkMeta(change.meta, this.#settings.maxMetaBytes);
      return this.#modify(id, (record, now) => {
        this.#checkOwner(record);
        const next: DirectoryRecord = {
          ...record,
          address: address ?? record.address,
          capacity: capacity ?? record.capacity,
          taken: seats ?? record.taken,
          meta: meta ?? record.meta,
          holds: liveHolds(record, now),
          expiresAt: this.#expiry(now),
        };
        this.#owned.set(id, next); // the last attempt is the one that succeeded
        return { record: next, result: toEntry(next, now) };
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async list(): Promise<DirectoryEntry[]> {
    const store = await this.#open();
    const now = Date.now();
    const entries: DirectoryEntry[] = [];
    for (const stored of await store.list()) {
      const record = parse(stored);
      if (!record) continue;
      if (record.expiresAt <= now) {
        // Its process stopped beating: reap it (a late beat wins the compare-and-swap).
        store.delete(stored.key, stored.revision).then(
          (deleted) => deleted && this.#announce(),
          () => {},
        );
        continue;
      }
      entries.push(toEntry(record, now));
    }
    return entries.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  async get(id: string): Promise<DirectoryEntry | undefined> {
    checkId(id);
    const stored = await (await this.#open()).get(id);
    const record = stored && parse(stored);
    const now = Date.now();
    return record && record.expiresAt > now ? toEntry(record, now) : undefined;
  }

  reserve(id: string, options: ReserveOptions = {}): Promise<boolean> {
    try {
      checkId(id);
      const ttl = options?.ttl;
      if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL)) {
        throw new ClusterTypeError(
          "ERR_INVALID_OPTION",
          `Option "ttl" must be an integer from 1 to ${MAX_TTL}, got ${String(ttl)}`,
        );
      }
      const store = this.#store;
      if (store) {
        // One server-side step where the engine has one (Redis), instead of read + compare-and-swap.
        return store.then(async (kv) => {
          if (!kv.seat) return this.#reserveByCas(id, ttl);
          const done = await kv.seat(id, "reserve", Date.now(), ttl ?? 0);
          if (done < 0) throw unknownId(this.name, id);
          if (done === 1) this.#announce();
          return done === 1;
        });
      }
      return this.#open().then(() => this.reserve(id, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #reserveByCas(id: string, ttl: number | undefined): Promise<boolean> {
    return this.#modify(id, (record, now) => {
      const holds = liveHolds(record, now);
      if (record.taken + holds.length >= record.capacity) return { result: false };
      const next = ttl === undefined
        ? { ...record, holds, taken: record.taken + 1 }
        : { ...record, holds: [...holds, now + ttl] };
      return { record: next, result: true };
    });
  }

  release(id: string): Promise<boolean> {
    try {
      checkId(id);
      const store = this.#store;
      if (store) {
        return store.then(async (kv) => {
          if (!kv.seat) return this.#releaseByCas(id);
          const done = await kv.seat(id, "release", Date.now(), 0);
          if (done < 0) throw unknownId(this.name, id);
          if (done === 1) this.#announce();
          return done === 1;
        });
      }
      return this.#open().then(() => this.release(id));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #releaseByCas(id: string): Promise<boolean> {
    return this.#modify(id, (record, now) => {
      const holds = liveHolds(record, now).sort((a, b) => a - b);
      if (holds.length > 0) {
        holds.shift(); // the one closest to lapsing
        return { record: { ...record, holds }, result: true };
      }
      if (record.taken === 0) return { result: false };
      return { record: { ...record, holds, taken: record.taken - 1 }, result: true };
    });
  }

  async unregister(id: string): Promise<void> {
    checkId(id);
    const store = await this.#open();
    // Forgotten first, so that a heartbeat in flight does not register it again.
    this.#owned.delete(id);
    if (this.#owned.size === 0) this.#stopBeat();
    for (let attempt = 0; attempt < 100; attempt++) {
      const stored = await store.get(id);
      const record = stored && parse(stored);
      if (!stored || !record) break;
      this.#checkOwner(record);
      if (await store.delete(id, stored.revision)) {
        this.#announce();
        break;
      }
    }
  }

  // Heartbeat of the entries this process owns.

  #startBeat(): void {
    if (this.#beatTimer !== undefined) return;
    this.#beatTimer = setInterval(() => void this.#beat(), this.#settings.heartbeatInterval);
  }

  #stopBeat(): void {
    clearInterval(this.#beatTimer);
    this.#beatTimer = undefined;
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#closed) return;
    this.#beating = true;
    try {
      const store = await this.#open();
      await Promise.all([...this.#owned.keys()].map(async (id) => {
        for (let attempt = 0; attempt < 20; attempt++) {
          const stored = await store.get(id);
          const record = stored && parse(stored);
          if (stored && record && record.nodeId !== this.#core.nodeId) {
            // Lapsed while this process stalled and registered by another: no longer ours.
            this.#owned.delete(id);
            return;
          }
          if (!stored || !record) {
            // Gone while this process lives (reaped after a stall, or the engine lost its data
            // in a restart): register it again, as it was last written.
            const last = this.#owned.get(id);
            if (!last) return;
            const again = { ...last, holds: [], expiresAt: this.#expiry(), v: last.v + 1 };
            if (await store.create(id, JSON.stringify(again))) {
              this.#owned.set(id, again);
              this.#announce();
              return;
            }
            continue; // someone registered it meanwhile: look again
          }
          const next = { ...record, expiresAt: this.#expiry(), v: record.v + 1 };
          if (await store.update(id, JSON.stringify(next), stored.revision)) {
            this.#owned.set(id, next);
            return;
          }
        }
      }));
    } catch {
      // Engine away: the next beat retries; entries lapse if it stays away past `timeout`.
    } finally {
      this.#beating = false;
      if (this.#owned.size === 0) this.#stopBeat();
    }
  }

  // Watching

  watch(options: { signal?: AbortSignal } = {}): AsyncIterable<DirectoryChange> {
    const signal = options.signal;
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        if (self.#closed) return;
        const queue = new WatchQueue();
        const onAbort = () => queue.end();
        signal?.addEventListener("abort", onAbort, { once: true });
        self.#watchers.add(queue);
        try {
          await self.#startWatching();
          // The view already holds whatever was queued while it loaded.
          queue.items = [...self.#view.values()].map((entry) => ({ type: "added", entry }));
          while (true) {
            if (signal?.aborted) return;
            const change = queue.items.shift();
            if (change) {
              yield change;
              continue;
            }
            if (queue.ended) return;
            if (queue.items.length === 0) {
              const { promise, resolve } = Promise.withResolvers<void>();
              queue.wake = resolve;
              await promise;
            }
          }
        } finally {
          signal?.removeEventListener("abort", onAbort);
          self.#watchers.delete(queue);
          if (self.#watchers.size === 0) await self.#stopWatching();
        }
      },
    };
  }

  #startWatching(): Promise<void> {
    if (this.#viewReady) return this.#viewReady;
    this.#listener = new Listener(() => void this.#refresh());
    this.#viewReady = (async () => {
      await this.#core.listen(this.#subject, this.#listener!);
      this.#pollTimer = setInterval(() => void this.#refresh(), this.#settings.heartbeatInterval);
      await this.#refresh(true);
    })();
    return this.#viewReady;
  }

  async #stopWatching(): Promise<void> {
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#viewReady = undefined;
    this.#view.clear();
    const listener = this.#listener;
    this.#listener = undefined;
    await this.#refreshing?.catch(() => {});
    if (listener) await this.#core.unlisten(this.#subject, listener);
  }

  /** Re-reads the store and tells watchers what changed; coalesces concurrent calls. */
  #refresh(silent = false): Promise<void> {
    if (this.#refreshing) {
      this.#dirty = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      do {
        this.#dirty = false;
        let entries: DirectoryEntry[];
        try {
          entries = await this.list();
        } catch {
          return; // engine away: keep the view; the next poll retries
        }
        if (this.#pollTimer === undefined && !silent) return; // stopped meanwhile
        this.#apply(entries, silent);
      } while (this.#dirty);
    })().finally(() => this.#refreshing = undefined);
    return this.#refreshing;
  }

  #apply(entries: DirectoryEntry[], silent: boolean): void {
    const seen = new Set<string>();
    const changes: DirectoryChange[] = [];
    for (const entry of entries) {
      seen.add(entry.id);
      const old = this.#view.get(entry.id);
      if (!old) changes.push({ type: "added", entry });
      else if (!sameEntry(old, entry)) changes.push({ type: "updated", entry });
      this.#view.set(entry.id, entry);
    }
    for (const [id, entry] of this.#view) {
      if (!seen.has(id)) {
        this.#view.delete(id);
        changes.push({ type: "removed", entry });
      }
    }
    if (!silent) {
      for (const queue of this.#watchers) {
        for (const change of changes) queue.push(change);
        if (queue.items.length > MAX_WATCH_BACKLOG) queue.end();
      }
    }
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    // Say goodbye: delete what this process registered, so others see it at once.
    const owned = [...this.#owned.keys()];
    await Promise.all(owned.map((id) => this.unregister(id).catch(() => {})));
    this.#closed = true;
    this.#stopBeat();
    for (const queue of this.#watchers) queue.end();
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    await this.#refreshing?.catch(() => {});
  }
}
