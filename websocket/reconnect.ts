/**
 * `connect({ reconnect })`: handshake retries with backoff, and a connection
 * that re-establishes itself after a drop.
 *
 * @module
 */

import { delay } from "../_common/delay.ts";
import { TypedEventTarget } from "../_common/typed_event_target.ts";
import {
  CLOSE_ABNORMAL,
  CLOSE_BAD_GATEWAY,
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL_ERROR,
  CLOSE_NO_STATUS,
  CLOSE_NORMAL,
  CLOSE_SERVICE_RESTART,
  CLOSE_TRY_AGAIN_LATER,
} from "./_frame.ts";
import type { WebSocketCloseInfo, WebSocketConnection, WebSocketEngine } from "./connection.ts";
import { WebSocketError, WebSocketRangeError, WebSocketTypeError } from "./errors.ts";
import type { ReconnectOptions } from "./options.ts";

/** The reconnect policy with defaults applied. */
export interface ReconnectPolicy {
  attempts: number;
  interval: number;
  backoff: number;
  maxInterval: number;
  onDrop: boolean;
}

/** Validates `reconnect` and applies the defaults; `attempts: 0` for `false`. */
export function reconnectPolicy(reconnect: ReconnectOptions | false | undefined): ReconnectPolicy {
  if (reconnect === undefined || reconnect === false) {
    return { attempts: 0, interval: 0, backoff: 1, maxInterval: 0, onDrop: false };
  }
  if (reconnect === null || typeof reconnect !== "object") {
    throw new WebSocketTypeError(
      "ERR_INVALID_OPTION",
      'Option "reconnect" must be an object or false',
    );
  }
  const {
    attempts = 10,
    interval = 1_000,
    backoff = 2,
    maxInterval = 30_000,
    onDrop = false,
  } = reconnect;
  const check = (name: string, value: number, min: number) => {
    if (typeof value !== "number" || !(value >= min) || Number.isNaN(value)) {
      throw new WebSocketRangeError(
        "ERR_INVALID_OPTION",
        `Option "reconnect.${name}" must be a number ≥ ${min}, got "${value}"`,
      );
    }
  };
  check("attempts", attempts, 0);
  check("interval", interval, 0);
  check("backoff", backoff, 1);
  check("maxInterval", maxInterval, 0);
  if (typeof onDrop !== "boolean") {
    throw new WebSocketTypeError(
      "ERR_INVALID_OPTION",
      'Option "reconnect.onDrop" must be a boolean',
    );
  }
  return { attempts, interval, backoff, maxInterval, onDrop };
}

/** Whether a failed handshake may succeed if tried again (the server may come back). */
export function isRetryable(error: unknown): boolean {
  if (error instanceof DOMException) return error.name === "TimeoutError";
  if (!(error instanceof WebSocketError)) return false;
  if (error.code === "ERR_HANDSHAKE_FAILED") return true;
  const status = error.status ?? 0;
  return error.code === "ERR_UNEXPECTED_STATUS" &&
    (status === 408 || status === 429 || status >= 500);
}

/** Close codes after which a connection with `onDrop` is re-established. */
const DROP_CODES = new Set([
  CLOSE_GOING_AWAY,
  CLOSE_NO_STATUS,
  CLOSE_ABNORMAL,
  CLOSE_INTERNAL_ERROR,
  CLOSE_SERVICE_RESTART,
  CLOSE_TRY_AGAIN_LATER,
  CLOSE_BAD_GATEWAY,
]);

/** The wait before retry number `retry` (1-based), randomized by ±20 %. */
function backoffDelay(policy: ReconnectPolicy, retry: number): number {
  const base = Math.min(policy.interval * policy.backoff ** (retry - 1), policy.maxInterval);
  return Math.round(base * (0.8 + 0.4 * Math.random()));
}

/**
 * Runs `dial` until it succeeds, a failure is final, or `policy.attempts`
 * retries are spent (then the last error is thrown). `signal` aborts the waits.
 */
export async function withRetries<T>(
  dial: () => Promise<T>,
  policy: ReconnectPolicy,
  signal?: AbortSignal,
  onRetry?: (retry: number, error: unknown) => void,
): Promise<T> {
  for (let retry = 0;; retry++) {
    try {
      return await dial();
    } catch (error) {
      if (retry >= policy.attempts || !isRetryable(error) || signal?.aborted) throw error;
      onRetry?.(retry + 1, error);
      await delay(backoffDelay(policy, retry + 1), signal);
    }
  }
}

/**
 * Events of a `ReconnectingWebSocketConnection`.
 *
 * @example
 * ```ts
 * import type { ReconnectingEventMap } from "@netkit/realtime/websocket";
 * const onDrop = (event: ReconnectingEventMap["drop"]) => console.log("dropped", event.detail.code);
 * ```
 */
export interface ReconnectingEventMap {
  /** The connection dropped (`detail`: how); reconnecting starts. */
  drop: CustomEvent<WebSocketCloseInfo>;
  /** A new connection is open (`detail.retries`: failed attempts before it). */
  reconnect: CustomEvent<{ retries: number }>;
  /** Reconnecting gave up (`detail`: the last error); `closed` settles. */
  reconnectfailed: CustomEvent<unknown>;
}

/**
 * The connection `connect(url, { reconnect: { onDrop: true } })` resolves
 * to: a `WebSocketConnection` whose socket is replaced when it drops.
 * `readable` goes on with the new socket's messages; while reconnecting,
 * `readyState` is 0 and `send()` rejects with `WebSocketError`
 * `ERR_NOT_OPEN`. `closed` settles after your `close()`, a close that is
 * not a drop, or when reconnecting gave up (with the close that started it).
 *
 * @example
 * ```ts
 * import { connect, type ReconnectingWebSocketConnection } from "@netkit/realtime/websocket";
 * const ws: ReconnectingWebSocketConnection | void = await connect("ws://127.0.0.1:9/", {
 *   reconnect: { attempts: 1, interval: 10, onDrop: true },
 * }).catch(() => {});
 * ws?.addEventListener("reconnect", (event) => console.log("back after", event.detail.retries));
 * ```
 */
export class ReconnectingWebSocketConnection extends TypedEventTarget<ReconnectingEventMap>
  implements WebSocketConnection {
  #current: WebSocketConnection;
  #reader: ReadableStreamDefaultReader<string | Uint8Array> | null = null;
  #state: "open" | "reconnecting" | "closed" = "open";
  #closing = false;
  #settled = Promise.withResolvers<WebSocketCloseInfo>();
  /** Settles when a reconnect ends, either way. */
  #reconnected: PromiseWithResolvers<void> | null = null;
  #stop = new AbortController();
  #dial: (signal: AbortSignal) => Promise<WebSocketConnection>;
  #policy: ReconnectPolicy;
  readonly #readable: ReadableStream<string | Uint8Array>;
  readonly #writable: WritableStream<string | Uint8Array>;

  /** @internal Made by `connect()`. */
  constructor(
    first: WebSocketConnection,
    dial: (signal: AbortSignal) => Promise<WebSocketConnection>,
    policy: ReconnectPolicy,
  ) {
    super();
    this.#current = first;
    this.#dial = dial;
    this.#policy = policy;
    this.#watch(first);
    this.#readable = new ReadableStream<string | Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: () => this.close(CLOSE_NORMAL).catch(() => {}),
    }, { highWaterMark: 0 });
    this.#writable = new WritableStream<string | Uint8Array>({
      write: (chunk) => this.send(chunk),
      close: () => this.close(),
      abort: () => this.close(CLOSE_INTERNAL_ERROR, "Writer aborted").catch(() => {}),
    });
  }

  #watch(connection: WebSocketConnection): void {
    connection.closed.then((info) => this.#onClosed(connection, info));
  }

  async #onClosed(connection: WebSocketConnection, info: WebSocketCloseInfo): Promise<void> {
    if (connection !== this.#current || this.#state === "closed") return;
    if (this.#closing || !DROP_CODES.has(info.code)) {
      this.#finish(info);
      return;
    }
    this.#state = "reconnecting";
    this.#reconnected = Promise.withResolvers<void>();
    this.#reader = null;
    this.dispatchEvent(new CustomEvent("drop", { detail: info }));
    let retries = 0;
    try {
      const signal = this.#stop.signal;
      // The first attempt waits too: a server that just went away is rarely back at once.
      await delay(backoffDelay(this.#policy, 1), signal);
      const next = await withRetries(
        () => this.#dial(signal),
        this.#policy,
        signal,
        (retry) => retries = retry,
      );
      if (this.#closing) {
        await next.close(CLOSE_NORMAL).catch(() => {});
        this.#finish(info);
        return;
      }
      this.#current = next;
      this.#state = "open";
      this.#watch(next);
      this.dispatchEvent(new CustomEvent("reconnect", { detail: { retries } }));
    } catch (error) {
      if (!this.#closing) this.dispatchEvent(new CustomEvent("reconnectfailed", { detail: error }));
      this.#finish(info);
    } finally {
      this.#reconnected?.resolve();
    }
  }

  #finish(info: WebSocketCloseInfo): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#stop.abort();
    this.#settled.resolve(info);
  }

  async #pull(controller: ReadableStreamDefaultController<string | Uint8Array>): Promise<void> {
    while (true) {
      if (this.#state === "closed") {
        controller.close();
        return;
      }
      if (this.#state === "reconnecting") {
        await this.#reconnected!.promise;
        continue;
      }
      const connection = this.#current;
      const reader = this.#reader ??= connection.readable.getReader();
      const result = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (!result.done) {
        controller.enqueue(result.value);
        return;
      }
      // The socket ended: once its close is handled, the state says what comes next.
      await connection.closed;
      await Promise.resolve();
      if (this.#current === connection && this.#state === "open") {
        // Ended without a close yet (cannot happen: readable ends with the connection).
        this.#finish(await connection.closed);
      }
    }
  }

  /** Messages of the current socket, then of each reconnected one. */
  get readable(): ReadableStream<string | Uint8Array> {
    return this.#readable;
  }

  /** Writes each chunk as one message (`send()`). */
  get writable(): WritableStream<string | Uint8Array> {
    return this.#writable;
  }

  /** Settles with the final close (see the class doc). */
  get closed(): Promise<WebSocketCloseInfo> {
    return this.#settled.promise;
  }

  /** The current socket's state; 0 while reconnecting, 3 once closed for good. */
  get readyState(): 0 | 1 | 2 | 3 {
    if (this.#state === "reconnecting") return 0;
    if (this.#state === "closed") return 3;
    return this.#current.readyState;
  }

  /** The current socket's buffered bytes. */
  get bufferedAmount(): number {
    return this.#state === "open" ? this.#current.bufferedAmount : 0;
  }

  /** The current socket's path. */
  get path(): string {
    return this.#current.path;
  }

  /** The current socket's response headers. */
  get headers(): Headers {
    return this.#current.headers;
  }

  /** The current socket's subprotocol. */
  get protocol(): string {
    return this.#current.protocol;
  }

  /** The current socket's extensions. */
  get extensions(): string {
    return this.#current.extensions;
  }

  /** The current socket's peer address. */
  get remoteAddr(): Deno.NetAddr | null {
    return this.#current.remoteAddr;
  }

  /** The engine of every socket. */
  get engine(): WebSocketEngine {
    return this.#current.engine;
  }

  #notOpen(): WebSocketError {
    return new WebSocketError(
      "ERR_NOT_OPEN",
      this.#state === "reconnecting" ? "Connection is reconnecting" : "Connection is closed",
    );
  }

  /** Sends on the current socket; rejects with `ERR_NOT_OPEN` while reconnecting. */
  send(data: string | Uint8Array): Promise<void> {
    if (this.#state !== "open") return Promise.reject(this.#notOpen());
    return this.#current.send(data);
  }

  /** Pings on the current socket (rfc6455). */
  ping(data?: Uint8Array): Promise<number> {
    if (this.#state !== "open") return Promise.reject(this.#notOpen());
    return this.#current.ping(data);
  }

  /** Streams one binary message on the current socket. */
  beginBinary(): WritableStream<Uint8Array> {
    if (this.#state !== "open") throw this.#notOpen();
    return this.#current.beginBinary();
  }

  /** Closes for good: no reconnect follows (one under way is stopped). */
  async close(code?: number, reason?: string): Promise<void> {
    this.#closing = true;
    this.#stop.abort();
    if (this.#state === "open") {
      await this.#current.close(code, reason);
      await this.#settled.promise;
    } else if (this.#state === "reconnecting") {
      this.#finish({ code: code ?? CLOSE_NORMAL, reason: reason ?? "" });
    }
  }

  /** Closes for good (`close()`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close().catch(() => {});
  }
}
