/**
 * The NATS engine (core NATS over `@nats-io/transport-node`). Loaded only
 * by `connectCluster("nats://…")`. Private to the module.
 *
 * @module
 */

import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Engine, EngineEvents, EngineSettings } from "./_engine.ts";
import type { KvStore } from "./_store.ts";
import { ClusterError } from "./errors.ts";

class NatsEngine implements Engine {
  readonly name = "nats" as const;
  #nc: NatsConnection;
  #events: EngineEvents;
  #subscriptions = new Map<string, Subscription>();

  constructor(nc: NatsConnection, events: EngineEvents) {
    this.#nc = nc;
    this.#events = events;
    this.#watch();
  }

  async #watch(): Promise<void> {
    try {
      for await (const status of this.#nc.status()) {
        // The client resends every SUB before it reports "reconnect".
        if (status.type === "disconnect") this.#events.status(false);
        else if (status.type === "reconnect") this.#events.status(true);
      }
    } catch {
      // The status iterator ends with the connection.
    }
  }

  publish(subject: string, payload: Uint8Array): Promise<void> {
    try {
      this.#nc.publish(subject, payload);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async subscribe(subject: string): Promise<void> {
    if (this.#subscriptions.has(subject)) return;
    const subscription = this.#nc.subscribe(subject, {
      callback: (error, message) => {
        if (!error) this.#events.message(message.subject, message.data);
      },
    });
    this.#subscriptions.set(subject, subscription);
    // The SUB has reached the server once a PING after it was answered.
    await this.#nc.flush().catch(() => {});
  }

  unsubscribe(subject: string): Promise<void> {
    this.#subscriptions.get(subject)?.unsubscribe();
    this.#subscriptions.delete(subject);
    return Promise.resolve();
  }

  async store(name: string): Promise<KvStore> {
    // Loaded on demand: pub/sub alone needs neither JetStream nor @nats-io/kv.
    const { openNatsStore } = await import("./_nats_kv.ts");
    return openNatsStore(this.#nc, name);
  }

  async close(): Promise<void> {
    this.#subscriptions.clear();
    await this.#nc.close().catch(() => {});
  }
}

/** Connects to `nats://host:port` (user and password from the URL). */
export async function connectNats(
  url: URL,
  events: EngineEvents,
  settings: EngineSettings,
): Promise<Engine> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: `${url.hostname}:${url.port || 4222}`,
      user: url.username ? decodeURIComponent(url.username) : undefined,
      pass: url.password ? decodeURIComponent(url.password) : undefined,
      name: `netkit-${settings.nodeId}`,
      timeout: settings.connectTimeout,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      pingInterval: 2_000,
      maxPingOut: 2,
    });
  } catch (error) {
    throw new ClusterError(
      "ERR_ENGINE_UNREACHABLE",
      `NATS at ${url.host} is unreachable: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return new NatsEngine(nc, events);
}
