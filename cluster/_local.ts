/**
 * The in-process engine: `connectCluster()` without a URL. No server, no
 * network; one process. Private to the module.
 *
 * @module
 */

import type { Engine, EngineEvents } from "./_engine.ts";
import { type KvStore, MapStore } from "./_store.ts";

/** An engine whose "broker" is a set of subjects in this process. */
export class LocalEngine implements Engine {
  readonly name = "local" as const;
  #events: EngineEvents;
  #subjects = new Set<string>();
  #stores = new Map<string, MapStore>();

  constructor(events: EngineEvents) {
    this.#events = events;
  }

  publish(subject: string, payload: Uint8Array): Promise<void> {
    if (this.#subjects.has(subject)) {
      // A copy: the publisher may reuse its buffer, as it may with a real engine.
      const copy = payload.slice();
      // Delivered after the publisher's turn, in publish order, like a broker would.
      queueMicrotask(() => {
        if (this.#subjects.has(subject)) this.#events.message(subject, copy);
      });
    }
    return Promise.resolve();
  }

  subscribe(subject: string): Promise<void> {
    this.#subjects.add(subject);
    return Promise.resolve();
  }

  unsubscribe(subject: string): Promise<void> {
    this.#subjects.delete(subject);
    return Promise.resolve();
  }

  store(name: string): Promise<KvStore> {
    let store = this.#stores.get(name);
    if (!store) this.#stores.set(name, store = new MapStore());
    return Promise.resolve(store);
  }

  close(): Promise<void> {
    this.#subjects.clear();
    return Promise.resolve();
  }
}
