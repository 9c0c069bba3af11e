/**
 * Test helper: consumes a Host's events in the background and lets a test wait
 * for conditions over what arrived. Private to the tests.
 *
 * @module
 */
import type { Host, HostEvent } from "../../enet/mod.ts";
import { deadline } from "../_loopback.ts";

/** Runs `onEvent` for every event of `host` until it closes; `until()` waits for a condition. */
export class EventPump {
  readonly done: Promise<void>;
  #wakers = new Set<() => void>();
  error: unknown;

  constructor(host: Host, onEvent: (event: HostEvent) => void) {
    this.done = (async () => {
      try {
        for await (const event of host) {
          onEvent(event);
          for (const wake of [...this.#wakers]) wake();
        }
      } catch (error) {
        this.error = error;
      } finally {
        for (const wake of [...this.#wakers]) wake();
      }
    })();
  }

  /** Resolves once `condition()` holds (checked after every event and every 50 ms). */
  async until(condition: () => boolean, ms: number, what: string): Promise<void> {
    let cleanup = () => {};
    const waiting = new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.error !== undefined) reject(this.error);
        else if (condition()) resolve();
      };
      const timer = setInterval(check, 50);
      cleanup = () => {
        clearInterval(timer);
        this.#wakers.delete(check);
      };
      this.#wakers.add(check);
      check();
    });
    try {
      await deadline(waiting, ms, what);
    } finally {
      cleanup();
    }
  }
}

/** The next event of `type` from `host`; other events are skipped. */
export async function nextEvent<D, T extends HostEvent["type"]>(
  host: Host<D>,
  type: T,
  ms = 5000,
): Promise<Extract<HostEvent<D>, { type: T }>> {
  const iterator = host[Symbol.asyncIterator]();
  return await deadline(
    (async () => {
      for (;;) {
        const { value, done } = await iterator.next();
        if (done) throw new Error("Host closed");
        if (value.type === type) return value as Extract<HostEvent<D>, { type: T }>;
      }
    })(),
    ms,
    `${type} event`,
  );
}
