/**
 * Directory stores on Redis: one hash per directory (`_nk:dir:<name>`),
 * field = key, value = the stored string; the revision is the value itself,
 * so compare-and-swap is a Lua script comparing before it writes (atomic
 * on the server). Loaded only by the Redis engine, on the first
 * `cluster.directory()`. Private to the module.
 *
 * @module
 */

import type { Redis } from "ioredis";
import type { KvStore, StoredValue } from "./_store.ts";

const CAS_SET = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end return 0`;
const CAS_DEL = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end return 0`;

class RedisKvStore implements KvStore {
  #redis: Redis;
  #hash: string;

  constructor(redis: Redis, name: string) {
    this.#redis = redis;
    this.#hash = `_nk:dir:${name}`;
  }

  async get(key: string): Promise<StoredValue | undefined> {
    const value = await this.#redis.hget(this.#hash, key);
    return value === null ? undefined : { key, value, revision: value };
  }

  async create(key: string, value: string): Promise<boolean> {
    return (await this.#redis.hsetnx(this.#hash, key, value)) === 1;
  }

  async update(key: string, value: string, revision: string): Promise<boolean> {
    return (await this.#redis.eval(CAS_SET, 1, this.#hash, key, revision, value)) === 1;
  }

  async delete(key: string, revision: string): Promise<boolean> {
    return (await this.#redis.eval(CAS_DEL, 1, this.#hash, key, revision)) === 1;
  }

  async list(): Promise<StoredValue[]> {
    const all = await this.#redis.hgetall(this.#hash);
    return Object.entries(all).map(([key, value]) => ({ key, value, revision: value }));
  }
}

/** Opens the store `name` on `redis` (nothing to create up front). */
export function openRedisStore(redis: Redis, name: string): Promise<KvStore> {
  return Promise.resolve(new RedisKvStore(redis, name));
}
