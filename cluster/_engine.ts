/**
 * The one interface every engine implements. Small on purpose: a third
 * engine (Kafka, Postgres LISTEN/NOTIFY, …) needs only these five members.
 * Private to the module.
 *
 * @module
 */

import type { KvStore } from "./_store.ts";

/** The engines `connectCluster()` can choose from, by URL scheme. */
export type EngineName = "local" | "nats" | "redis";

/** What an engine reports to the cluster core. */
export interface EngineEvents {
  /** A message arrived on a subject this engine subscribed to. */
  message(subject: string, payload: Uint8Array): void;
  /**
   * The connection went down (`false`) or is back up (`true`). An engine
   * reports `true` only once every subscription is active again.
   */
  status(up: boolean): void;
}

/**
 * A connected engine: at-most-once pub/sub of opaque payloads on exact
 * subjects, ordered per connection. It keeps its subscriptions across
 * reconnects by itself.
 */
export interface Engine {
  /** Which engine this is. */
  readonly name: EngineName;
  /** Hands `payload` to the engine; rejects when it is not connected. */
  publish(subject: string, payload: Uint8Array): Promise<void>;
  /** Subscribes; resolves once the engine will deliver messages published after it. */
  subscribe(subject: string): Promise<void>;
  /** Unsubscribes. */
  unsubscribe(subject: string): Promise<void>;
  /** Disconnects for good. */
  close(): Promise<void>;
  /** Opens the key/value store `name` that `cluster.directory(name)` keeps its entries in. */
  store(name: string): Promise<KvStore>;
}

/** Settings every engine gets. */
export interface EngineSettings {
  nodeId: string;
  connectTimeout: number;
}

/** Connects an engine; rejects with `ERR_ENGINE_UNREACHABLE` after `connectTimeout`. */
export type EngineConnector = (
  url: URL,
  events: EngineEvents,
  settings: EngineSettings,
) => Promise<Engine>;
