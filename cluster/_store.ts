/**
 * The key/value store a directory keeps its entries in: one per directory
 * name, with create-if-absent and compare-and-swap so that concurrent
 * writers on many processes never lose an update. Each engine provides one
 * (NATS: a JetStream KV bucket; Redis: a hash and Lua scripts; in-process: a
 * Map). Private to the module.
 *
 * @module
 */

/** One stored value and the revision it was read at. */
export interface StoredValue {
  readonly key: string;
  readonly value: string;
  /** Opaque; pass it back to `update`/`delete` to compare-and-swap. */
  readonly revision: string;
}

/** A store of string values under string keys. */
export interface KvStore {
  /** The value and its revision, or `undefined` when the key is absent. */
  get(key: string): Promise<StoredValue | undefined>;
  /** Writes `value` when `key` is absent; resolves `false` when it exists. */
  create(key: string, value: string): Promise<boolean>;
  /** Writes `value` when `key` is still at `revision`; `false` when it changed or is gone. */
  update(key: string, value: string, revision: string): Promise<boolean>;
  /** Deletes `key` when it is still at `revision`; `false` otherwise. */
  delete(key: string, revision: string): Promise<boolean>;
  /** Every stored value. */
  list(): Promise<StoredValue[]>;
  /**
   * Optional: a directory seat operation done by the server in one step (no compare-and-swap
   * round trips). Resolves 1 when done, 0 when full (reserve) or nothing taken (release), -1
   * when there is no live record. Stores without it get the compare-and-swap loop.
   */
  seat?(key: string, op: "reserve" | "release", now: number, ttl: number): Promise<number>;
}

/** An engine that can open stores. */
export interface StoreProvider {
  /** Opens (creating when needed) the store named `name` (`[A-Za-z0-9_-]+`). */
  store(name: string): Promise<KvStore>;
}

/** The in-process store: a Map; revisions count up per write. */
export class MapStore implements KvStore {
  #values = new Map<string, { value: string; revision: number }>();
  #revision = 0;

  get(key: string): Promise<StoredValue | undefined> {
    const stored = this.#values.get(key);
    return Promise.resolve(
      stored && { key, value: stored.value, revision: String(stored.revision) },
    );
  }

  create(key: string, value: string): Promise<boolean> {
    if (this.#values.has(key)) return Promise.resolve(false);
    this.#values.set(key, { value, revision: ++this.#revision });
    return Promise.resolve(true);
  }

  update(key: string, value: string, revision: string): Promise<boolean> {
    const stored = this.#values.get(key);
    if (!stored || String(stored.revision) !== revision) return Promise.resolve(false);
    this.#values.set(key, { value, revision: ++this.#revision });
    return Promise.resolve(true);
  }

  delete(key: string, revision: string): Promise<boolean> {
    const stored = this.#values.get(key);
    if (!stored || String(stored.revision) !== revision) return Promise.resolve(false);
    this.#values.delete(key);
    return Promise.resolve(true);
  }

  list(): Promise<StoredValue[]> {
    return Promise.resolve(
      [...this.#values].map(([key, { value, revision }]) => ({
        key,
        value,
        revision: String(revision),
      })),
    );
  }
}
