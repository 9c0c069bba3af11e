/**
 * Helpers for the webrtc tests: a raw signalling peer that speaks bytes to the master, and a
 * master + slave fixture. Private to the tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { WebRtcError } from "../webrtc/errors.ts";
import { deadline } from "./_loopback.ts";

export { until } from "./_tools/until.ts";

/** A WebSocket to the master that exposes raw packets (for protocol-level tests). */
export class RawPeer implements AsyncDisposable {
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  #queue: Uint8Array[] = [];
  #waiters: Array<(p: Uint8Array) => void> = [];

  constructor(url: string, headers: Record<string, string> = {}) {
    const WS = WebSocket as unknown as new (
      url: string,
      options: { headers: Record<string, string> },
    ) => WebSocket;
    this.socket = new WS(url, { headers });
    this.socket.binaryType = "arraybuffer";
    const opened = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<CloseEvent>();
    this.opened = opened.promise;
    this.closed = closed.promise;
    this.opened.catch(() => {});
    this.socket.onopen = () => opened.resolve();
    this.socket.onerror = () => {};
    this.socket.onclose = (e) => {
      opened.reject(new Error(`Closed before open (${e.code})`));
      closed.resolve(e);
    };
    this.socket.onmessage = (e) => {
      const bytes = new Uint8Array(e.data as ArrayBuffer);
      const waiter = this.#waiters.shift();
      if (waiter) waiter(bytes);
      else this.#queue.push(bytes);
    };
  }

  /** The next packet (5 s deadline). */
  next(what = "packet"): Promise<Uint8Array> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return deadline(new Promise((resolve) => this.#waiters.push(resolve)), 5000, what);
  }

  /** Whether a packet is queued now. */
  get pending(): number {
    return this.#queue.length;
  }

  send(bytes: Uint8Array | string): void {
    this.socket.send(bytes);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) {
      try {
        this.socket.close();
      } catch { /* closing */ }
    }
    await this.closed;
  }
}

/** Bytes from a list of numbers and strings (strings as UTF-8). */
export function bytes(...parts: (number | string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (typeof p === "string") out.push(...new TextEncoder().encode(p));
    else out.push(...p);
  }
  return new Uint8Array(out);
}

/** Resolves when `target` dispatches `type` (with a deadline). */
export function nextEvent<T extends Event = Event>(
  target: EventTarget,
  type: string,
  ms = 5000,
): Promise<T> {
  return deadline(
    new Promise<T>((resolve) =>
      target.addEventListener(type, (e) => resolve(e as T), { once: true })
    ),
    ms,
    `"${type}" event`,
  );
}

/**
 * Checks that `error` is a refused signalling upgrade: `WebRtcError` `ERR_CONNECTION_CLOSED` with
 * the HTTP `status` and `reason`, both also in the message. For `assert.rejects`.
 */
export function isRefusal(error: unknown, status: number, reason: string): true {
  assert.ok(error instanceof WebRtcError, String(error));
  assert.equal(error.code, "ERR_CONNECTION_CLOSED");
  assert.equal(error.status, status);
  assert.equal(error.reason, reason);
  assert.ok(
    error.message.includes(`refused the connection (${status}: ${reason})`),
    error.message,
  );
  return true;
}
