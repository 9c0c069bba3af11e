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

/**
 * A directory seat operation on the record as `_directory.ts` stores it (numbers at the top level,
 * `meta` kept as a JSON string so cjson never re-encodes user data). cjson writes an empty array
 * as `{}`; the reader accepts both.
 */
const SEAT = `local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return -1 end
local ok, r = pcall(cjson.decode, raw)
if not ok or type(r) ~= 'table' or type(r.expiresAt) ~= 'number' then return -1 end
local now = tonumber(ARGV[2])
if r.expiresAt <= now then return -1 end
local holds = {}
if type(r.holds) == 'table' then
  for _, e in ipairs(r.holds) do if e > now then holds[#holds + 1] = e end end
end
if ARGV[3] == 'reserve' then
  if r.taken + #holds >= r.capacity then return 0 end
  local ttl = tonumber(ARGV[4])
  if ttl > 0 then holds[#holds + 1] = now + ttl else r.taken = r.taken + 1 end
else
  if #holds > 0 then
    table.sort(holds)
    table.remove(holds, 1)
  elseif r.taken > 0 then
    r.taken = r.taken - 1
  else
    return 0
  end
end
r.holds = holds
r.v = r.v + 1
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(r))
return 1`;

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

  async seat(key: string, op: "reserve" | "release", now: number, ttl: number): Promise<number> {
    return Number(await this.#redis.eval(SEAT, 1, this.#hash, key, now, op, ttl));
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
