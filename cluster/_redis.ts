/**
 * The Redis engine (pub/sub over `ioredis`; sharded pub/sub — SPUBLISH /
 * SSUBSCRIBE — on Redis 7 and later). Loaded only by
 * `connectCluster("redis://…")`. Private to the module.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Redis, type RedisOptions } from "ioredis";
import type { Engine, EngineEvents, EngineSettings } from "./_engine.ts";
import type { KvStore } from "./_store.ts";
import { ClusterError } from "./errors.ts";

const decoder = new TextDecoder();

class RedisEngine implements Engine {
  readonly name = "redis" as const;
  #pub: Redis;
  #sub: Redis;
  #events: EngineEvents;
  #sharded: boolean;
  #subjects = new Set<string>();
  #up = true;
  #closed = false;

  constructor(pub: Redis, sub: Redis, sharded: boolean, events: EngineEvents) {
    this.#pub = pub;
    this.#sub = sub;
    this.#sharded = sharded;
    this.#events = events;
    const onMessage = (channel: Uint8Array, message: Uint8Array) =>
      this.#events.message(decoder.decode(channel), message);
    sub.on(sharded ? "smessageBuffer" : "messageBuffer", onMessage);
    for (const client of [pub, sub]) {
      client.on("close", () => this.#down());
      client.on("ready", () => void this.#ready());
      client.on("error", () => {}); // reported through "close"; ioredis reconnects
    }
  }

  #down(): void {
    if (this.#closed || !this.#up) return;
    this.#up = false;
    this.#events.status(false);
  }

  async #ready(): Promise<void> {
    if (this.#closed || this.#up) return;
    if (this.#pub.status !== "ready" || this.#sub.status !== "ready") return;
    // autoResubscribe is off: we resubscribe, then say we are up.
    try {
      if (this.#subjects.size > 0) await this.#subscribeAll([...this.#subjects]);
    } catch {
      return; // dropped again: the next "ready" retries
    }
    if (this.#closed || this.#up) return;
    this.#up = true;
    this.#events.status(true);
  }

  #subscribeAll(subjects: string[]): Promise<unknown> {
    return this.#sharded ? this.#sub.ssubscribe(...subjects) : this.#sub.subscribe(...subjects);
  }

  async publish(subject: string, payload: Uint8Array): Promise<void> {
    const buffer = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (this.#sharded) await this.#pub.spublish(subject, buffer);
    else await this.#pub.publish(subject, buffer);
  }

  async subscribe(subject: string): Promise<void> {
    this.#subjects.add(subject);
    if (this.#sub.status === "ready") await this.#subscribeAll([subject]);
  }

  async unsubscribe(subject: string): Promise<void> {
    this.#subjects.delete(subject);
    if (this.#sub.status !== "ready") return;
    if (this.#sharded) await this.#sub.sunsubscribe(subject);
    else await this.#sub.unsubscribe(subject);
  }

  async store(name: string): Promise<KvStore> {
    const { openRedisStore } = await import("./_redis_kv.ts");
    return openRedisStore(this.#pub, name);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#subjects.clear();
    await Promise.all([this.#pub.quit().catch(() => {}), this.#sub.quit().catch(() => {})]);
    this.#pub.disconnect();
    this.#sub.disconnect();
    await settleDisconnect();
  }
}

/** ioredis' disconnectTimeout: short, because a socket that never connected keeps its timer. */
const DISCONNECT_TIMEOUT = 100;

/** Waits out ioredis' disconnect timer of a dead socket (it never sees "close" to clear it). */
function settleDisconnect(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, DISCONNECT_TIMEOUT + 20));
}

async function open(options: RedisOptions, timeout: number): Promise<Redis> {
  const client = new Redis(options);
  client.on("error", () => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      new Promise<void>((resolve, reject) => {
        client.once("ready", resolve);
        client.once("end", () => reject(new Error("connection ended")));
        client.connect().catch(() => {}); // retried by retryStrategy until the timeout
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeout} ms`)), timeout);
      }),
    ]);
    return client;
  } catch (error) {
    client.disconnect();
    await settleDisconnect();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Connects to `redis://[user:password@]host:port[/db]`. */
export async function connectRedis(
  url: URL,
  events: EngineEvents,
  settings: EngineSettings,
): Promise<Engine> {
  const db = Number(url.pathname.slice(1) || 0);
  const options: RedisOptions = {
    host: url.hostname,
    port: Number(url.port || 6379),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: Number.isInteger(db) ? db : 0,
    connectionName: `netkit-${settings.nodeId}`,
    lazyConnect: true,
    connectTimeout: settings.connectTimeout,
    disconnectTimeout: DISCONNECT_TIMEOUT,
    // Our bounded buffer holds publishes while Redis is away; ioredis' own queue is unbounded.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResubscribe: false,
    retryStrategy: (times) => Math.min(50 * times, 500),
    // Publishes issued in one tick go out in one write (order is kept).
    enableAutoPipelining: true,
  };
  let pub: Redis;
  let sub: Redis;
  const opened = await Promise.allSettled([
    open(options, settings.connectTimeout),
    open(options, settings.connectTimeout),
  ]);
  if (opened[0].status === "fulfilled" && opened[1].status === "fulfilled") {
    [pub, sub] = [opened[0].value, opened[1].value];
  } else {
    for (const result of opened) if (result.status === "fulfilled") result.value.disconnect();
    await settleDisconnect();
    const error = opened.find((result) => result.status === "rejected")!.reason;
    throw new ClusterError(
      "ERR_ENGINE_UNREACHABLE",
      `Redis at ${url.host} is unreachable: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const info = String(await pub.info("server"));
  const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
  return new RedisEngine(pub, sub, major >= 7, events);
}
