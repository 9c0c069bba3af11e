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
import { checkJson, checkString } from "./_content.ts";
import { MeshRangeError } from "./errors.ts";
import { utf8Length } from "../_common/utf8.ts";

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

/**
 * Bounds of a {@linkcode MeshState}; `joinMesh()` fills them from its
 * options (`maxStateEntries`, `maxStateValueSize`, `maxStateKeysPerMember`,
 * `maxStateBytes`).
 *
 * @example
 * ```ts
 * import type { MeshStateLimits } from "./mod.ts";
 *
 * const limits: MeshStateLimits = {
 *   maxEntries: 10_000,
 *   maxValueSize: 1 << 20,
 *   maxKeysPerMember: 1024,
 *   maxBytes: 32 << 20,
 * };
 * ```
 */
export interface MeshStateLimits {
  /** Keys held at most, tombstones included. */
  maxEntries: number;
  /** Largest key + value, JSON-encoded, in UTF-8 bytes. */
  maxValueSize: number;
  /** Keys (tombstones included) whose last writer is one member, at most. */
  maxKeysPerMember: number;
  /** Sum of the sizes of all keys and values, in bytes. */
  maxBytes: number;
}

interface Entry {
  value: unknown;
  clock: number;
  node: string;
  deleted: boolean;
  size: number;
}

/** Size of an entry as counted by the limits: JSON of key and value, in UTF-8 bytes. */
function entrySize(key: string, json: string): number {
  return utf8Length(JSON.stringify(key)) + utf8Length(json);
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
  #limits: MeshStateLimits;
  #live = 0;
  #bytes = 0;
  #keysByNode = new Map<string, number>();

  /**
   * Created by `joinMesh()`; applications use `mesh.state`.
   *
   * @param node id of the local member
   * @param publish sends local changes to the other members
   * @param limits bounds of the state
   */
  constructor(
    node: string,
    publish: (entries: MeshStateEntry[]) => void,
    limits: MeshStateLimits,
  ) {
    super();
    this.#node = node;
    this.#publish = publish;
    this.#limits = limits;
  }

  /** Bytes held, as counted by `maxStateBytes` (keys and values, JSON, UTF-8). */
  get bytes(): number {
    return this.#bytes;
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
   * @throws {MeshTypeError} `ERR_INVALID_ARGUMENT` when the key is not a
   *   string, `ERR_INVALID_CONTENT` when the value is not JSON that round-trips
   *   (`undefined`, a function, a `Map`, `NaN`, …)
   * @throws {MeshRangeError} `ERR_STATE_LIMIT` when the entry is over
   *   `maxStateValueSize` or the state would go over `maxStateEntries`,
   *   `maxStateKeysPerMember` or `maxStateBytes`
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
    checkString(key, "State key");
    checkJson(value, `Value for key "${key}"`);
    const json = JSON.stringify(value);
    this.#write(key, JSON.parse(json), false, entrySize(key, json));
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
    this.#write(key, undefined, true, entrySize(key, "null"));
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

  #write(key: string, value: unknown, deleted: boolean, size: number): void {
    const previous = this.#entries.get(key);
    this.#checkLimits(key, this.#node, size, previous);
    const clock = ++this.#clock;
    this.#apply(key, value, clock, this.#node, deleted, true, size);
    this.#publish([[key, clock, this.#node, deleted ? 1 : 0, deleted ? null : value]]);
  }

  /** Throws `ERR_STATE_LIMIT` when writing `key` (of `size` bytes, by `node`) breaks a limit. */
  #checkLimits(key: string, node: string, size: number, previous: Entry | undefined): void {
    const { maxEntries, maxValueSize, maxKeysPerMember, maxBytes } = this.#limits;
    const fail = (why: string, size: number, limit: number) => {
      throw new MeshRangeError("ERR_STATE_LIMIT", `State key "${key.slice(0, 64)}": ${why}`, {
        size,
        limit,
      });
    };
    if (size > maxValueSize) {
      fail(`${size} bytes exceed maxStateValueSize of ${maxValueSize}`, size, maxValueSize);
    }
    if (!previous && this.#entries.size >= maxEntries) {
      fail(
        `the state already holds maxStateEntries of ${maxEntries} keys`,
        this.#entries.size + 1,
        maxEntries,
      );
    }
    const written = this.#keysByNode.get(node) ?? 0;
    if (previous?.node !== node && written >= maxKeysPerMember) {
      fail(
        `member "${node}" already wrote maxStateKeysPerMember of ${maxKeysPerMember} keys`,
        written + 1,
        maxKeysPerMember,
      );
    }
    const bytes = this.#bytes - (previous?.size ?? 0) + size;
    if (bytes > maxBytes) {
      fail(`the state would exceed maxStateBytes of ${maxBytes}`, bytes, maxBytes);
    }
  }

  #apply(
    key: string,
    value: unknown,
    clock: number,
    node: string,
    deleted: boolean,
    local: boolean,
    size: number,
  ): void {
    const previous = this.#entries.get(key);
    if (clock > this.#clock) this.#clock = clock;
    this.#entries.set(key, { value, clock, node, deleted, size });
    this.#bytes += size - (previous?.size ?? 0);
    if (previous?.node !== node) {
      this.#keysByNode.set(node, (this.#keysByNode.get(node) ?? 0) + 1);
      if (previous) {
        const left = this.#keysByNode.get(previous.node)! - 1;
        if (left > 0) this.#keysByNode.set(previous.node, left);
        else this.#keysByNode.delete(previous.node);
      }
    }
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
   * writes than the ones held are ignored. Throws `MeshRangeError`
   * (`ERR_STATE_LIMIT`) at the first entry that would break a limit (the
   * entries before it are applied): the mesh then closes that member's
   * connection.
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
      const previous = this.#entries.get(key);
      if (previous && !newer(clock, node, previous)) continue;
      const size = entrySize(key, deleted ? "null" : JSON.stringify(value) ?? "null");
      this.#checkLimits(key, node, size, previous);
      this.#apply(key, deleted ? undefined : value, clock, node, deleted === 1, false, size);
    }
  }
}
