/**
 * The events of a {@linkcode MeshState}.
 *
 * @example
 * ```ts
 * import { joinMesh, type MeshStateEventMap } from "./mod.ts";
 *
 * await using mesh = await joinMesh({ name: "solo" });
 * const onChange = (e: MeshStateEventMap["change"]) => console.log(e.detail.key, e.detail.from);
 * mesh.state.addEventListener("change", onChange);
 * mesh.state.removeEventListener("change", onChange);
 * ```
 */
export interface MeshStateEventMap {
  /** A key changed, by a local write or one replicated from another member. */
  change: CustomEvent<MeshStateChange>;
}

/**
 * The replicated key/value state every mesh member holds a copy of.
 *
 * @module
 */

import { TypedEventTarget } from "../_common/typed_event_target.ts";

/**
 * The replication record of one key, as sent between members: key,
 * Lamport clock, writer id, deleted flag (1 = tombstone), value.
 *
 * @example
 * ```ts
 * import type { MeshStateEntry } from "./mod.ts";
 *
 * const entry: MeshStateEntry = ["score", 3, "a1b2", 0, 10];
 * ```
 */
export type MeshStateEntry = [string, number, string, 0 | 1, unknown];

/**
 * Detail of a `"change"` event of {@linkcode MeshState}.
 *
 * @example
 * ```ts
 * import type { MeshStateChange } from "./mod.ts";
 *
 * const log = (change: MeshStateChange) => console.log(change.key, change.value, change.from);
 * log({ key: "score", value: 1, previous: undefined, deleted: false, from: "a1", local: true });
 * ```
 */
export interface MeshStateChange {
  /** The key that changed. */
  key: string;
  /** The new value (`undefined` when deleted). */
  value: unknown;
  /** The value before the change. */
  previous: unknown;
  /** Whether the key was deleted. */
  deleted: boolean;
  /** Id of the member that wrote the change. */
  from: string;
  /** Whether this member made the change (`set`/`delete` here). */
  local: boolean;
}

interface Entry {
  value: unknown;
  clock: number;
  node: string;
  deleted: boolean;
}

function newer(clock: number, node: string, than: Entry): boolean {
  return clock > than.clock || (clock === than.clock && node > than.node);
}

/**
 * Replicated last-writer-wins key/value map. Every write carries a Lamport
 * clock and the writer's id; on every member the write with the highest
 * (clock, id) wins, so all members converge to the same value whatever order
 * the writes arrive in. A joiner receives the full state from every member it
 * connects to; afterwards only changes travel. Deletes are kept as tombstones
 * so they win over older writes too. Values must be JSON-serialisable.
 *
 * Fires `"change"` (`CustomEvent<MeshStateChange>`) for local and remote
 * changes.
 *
 * @example
 * ```ts
 * import { joinMesh } from "./mod.ts";
 *
 * await using mesh = await joinMesh({ name: "solo" });
 * mesh.state.addEventListener("change", (e) => console.log(e.detail.key, e.detail.value));
 * mesh.state.set("score", 10);
 * console.log(mesh.state.get("score")); // 10
 * ```
 */
export class MeshState extends TypedEventTarget<MeshStateEventMap> {
  #entries = new Map<string, Entry>();
  #clock = 0;
  #node: string;
  #publish: (entries: MeshStateEntry[]) => void;
  #maxEntries: number;
  #live = 0;

  /**
   * Created by `joinMesh()`; applications use `mesh.state`.
   *
   * @param node id of the local member
   * @param publish sends local changes to the other members
   * @param maxEntries most keys (tombstones included) held
   */
  constructor(node: string, publish: (entries: MeshStateEntry[]) => void, maxEntries: number) {
    super();
    this.#node = node;
    this.#publish = publish;
    this.#maxEntries = maxEntries;
  }

  /** Number of keys with a value. */
  get size(): number {
    return this.#live;
  }

  /**
   * The value of `key`, or `undefined`.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * console.log(mesh.state.get("missing")); // undefined
   * ```
   */
  get(key: string): unknown {
    const entry = this.#entries.get(key);
    return entry && !entry.deleted ? entry.value : undefined;
  }

  /**
   * Whether `key` has a value.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * mesh.state.set("k", 1);
   * console.log(mesh.state.has("k")); // true
   * ```
   */
  has(key: string): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && !entry.deleted;
  }

  /**
   * Sets `key` to `value` here and on every member. The value is copied
   * through JSON, so later mutation of the object has no effect.
   *
   * @throws {TypeError} when the value is not JSON-serialisable
   * @throws {RangeError} when the state already holds `maxStateEntries` keys
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * mesh.state.set("players", ["alice"]);
   * ```
   */
  set(key: string, value: unknown): void {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError(`Value for key "${key}" is not JSON-serialisable`);
    this.#write(key, JSON.parse(json), false);
  }

  /**
   * Deletes `key` here and on every member. Returns whether it had a value.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * mesh.state.set("k", 1);
   * console.log(mesh.state.delete("k")); // true
   * ```
   */
  delete(key: string): boolean {
    if (!this.has(key)) return false;
    this.#write(key, undefined, true);
    return true;
  }

  /**
   * The keys with a value and their values.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * mesh.state.set("a", 1);
   * console.log([...mesh.state.entries()]); // [["a", 1]]
   * ```
   */
  *entries(): IterableIterator<[string, unknown]> {
    for (const [key, entry] of this.#entries) if (!entry.deleted) yield [key, entry.value];
  }

  /**
   * The keys with a value.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * console.log([...mesh.state.keys()]); // []
   * ```
   */
  *keys(): IterableIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  /**
   * A plain object copy of the state.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * mesh.state.set("a", 1);
   * console.log(mesh.state.toJSON()); // { a: 1 }
   * ```
   */
  toJSON(): Record<string, unknown> {
    return Object.fromEntries(this.entries());
  }

  #write(key: string, value: unknown, deleted: boolean): void {
    if (typeof key !== "string") throw new TypeError("State key must be a string");
    if (!this.#entries.has(key) && this.#entries.size >= this.#maxEntries) {
      throw new RangeError(`State already holds maxStateEntries of ${this.#maxEntries} keys`);
    }
    const clock = ++this.#clock;
    this.#apply(key, value, clock, this.#node, deleted, true);
    this.#publish([[key, clock, this.#node, deleted ? 1 : 0, deleted ? null : value]]);
  }

  #apply(
    key: string,
    value: unknown,
    clock: number,
    node: string,
    deleted: boolean,
    local: boolean,
  ): void {
    const previous = this.#entries.get(key);
    if (previous && !newer(clock, node, previous)) return;
    if (!previous && this.#entries.size >= this.#maxEntries) return;
    if (clock > this.#clock) this.#clock = clock;
    this.#entries.set(key, { value, clock, node, deleted });
    const had = previous !== undefined && !previous.deleted;
    this.#live += (deleted ? 0 : 1) - (had ? 1 : 0);
    if (!had && deleted) return;
    this.dispatchEvent(
      new CustomEvent<MeshStateChange>("change", {
        detail: {
          key,
          value: deleted ? undefined : value,
          previous: had ? previous.value : undefined,
          deleted,
          from: node,
          local,
        },
      }),
    );
  }

  /**
   * Every entry, tombstones included (used by the mesh for a full sync).
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * console.log(mesh.state.snapshot().length); // 0
   * ```
   */
  snapshot(): MeshStateEntry[] {
    const out: MeshStateEntry[] = [];
    for (const [key, e] of this.#entries) {
      out.push([key, e.clock, e.node, e.deleted ? 1 : 0, e.deleted ? null : e.value]);
    }
    return out;
  }

  /**
   * Applies entries received from another member (used by the mesh); older
   * writes than the ones held are ignored.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * mesh.state.merge([["k", 1, "someone", 0, "v"]]);
   * console.log(mesh.state.get("k")); // "v"
   * ```
   */
  merge(entries: readonly MeshStateEntry[]): void {
    for (const [key, clock, node, deleted, value] of entries) {
      this.#apply(key, deleted ? undefined : value, clock, node, deleted === 1, false);
    }
  }
}
