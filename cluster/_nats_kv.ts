/**
 * Directory stores on NATS: one JetStream KV bucket per directory, history
 * 1. `create` and `update` at a revision are the server's own
 * compare-and-swap. Needs a nats-server with JetStream (`-js -sd DIR`).
 * Loaded only by the NATS engine, on the first `cluster.directory()`.
 * Private to the module.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import { type KV, Kvm } from "@nats-io/kv";
import type { KvStore, StoredValue } from "./_store.ts";
import { ClusterError } from "./errors.ts";

/** How long one key listing may take before it fails (and the caller retries). */
const LIST_TIMEOUT_MS = 2_000;

const decoder = new TextDecoder();

/** JetStream's "wrong last sequence" (a lost compare-and-swap) and "key exists". */
function isConflict(error: unknown): boolean {
  const text = String((error as Error)?.message ?? error);
  return /wrong last sequence|key exists|10071|10164/i.test(text);
}

class NatsKvStore implements KvStore {
  #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  async get(key: string): Promise<StoredValue | undefined> {
    const entry = await this.#kv.get(key);
    if (!entry || entry.operation !== "PUT") return undefined;
    return { key, value: decoder.decode(entry.value), revision: String(entry.revision) };
  }

  async create(key: string, value: string): Promise<boolean> {
    try {
      await this.#kv.create(key, value);
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  async update(key: string, value: string, revision: string): Promise<boolean> {
    try {
      await this.#kv.update(key, value, Number(revision));
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  async delete(key: string, revision: string): Promise<boolean> {
    try {
      // A purge at the revision: the key's history goes too (history is 1 anyway).
      await this.#kv.delete(key, { previousSeq: Number(revision) });
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  async list(): Promise<StoredValue[]> {
    const keys: string[] = [];
    // The key listing (an ordered consumer) can wait forever when a key is
    // deleted while it runs (seen with a reaper's delete on nats-server
    // 2.9.10): bound it, so a caller retries instead of hanging.
    const listing = await this.#kv.keys();
    const timer = setTimeout(
      () =>
        listing.stop(
          new ClusterError(
            "ERR_ENGINE_UNAVAILABLE",
            `Listing NATS KV keys took over ${LIST_TIMEOUT_MS} ms`,
          ),
        ),
      LIST_TIMEOUT_MS,
    );
    try {
      for await (const key of listing) keys.push(key);
    } finally {
      clearTimeout(timer);
    }
    const values = await Promise.all(keys.map((key) => this.get(key)));
    return values.filter((value): value is StoredValue => value !== undefined);
  }
}

/** Opens (or creates) the bucket `name`. */
export async function openNatsStore(nc: NatsConnection, name: string): Promise<KvStore> {
  try {
    return new NatsKvStore(await new Kvm(nc).create(name, { history: 1 }));
  } catch (error) {
    throw new ClusterError(
      "ERR_ENGINE_UNAVAILABLE",
      `NATS could not open KV bucket "${name}" (is JetStream on? nats-server -js -sd DIR): ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
}
