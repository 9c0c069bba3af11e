/**
 * The native engine: Deno's built-in `WebSocket` (from `Deno.upgradeWebSocket`
 * or `new WebSocket`) adapted to the engine interface. Emulates what can be
 * emulated honestly and refuses the rest with `ERR_UNSUPPORTED_BY_ENGINE`.
 *
 * @module
 */

import {
  CLOSE_ABNORMAL,
  CLOSE_MESSAGE_TOO_BIG,
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
  CLOSE_TRY_AGAIN_LATER,
} from "./_frame.ts";
import {
  type CloseInfo,
  type EngineSocket,
  type Message,
  messageSize,
  type ReadyState,
  UNCHARGED_BYTES,
} from "./_engine.ts";
import type { FanOutMessage } from "./_sender.ts";
import type { ByteBudget } from "./_rfc6455.ts";
import {
  WebSocketError,
  type WebSocketErrorCode,
  WebSocketRangeError,
  WebSocketTypeError,
} from "./errors.ts";

/**
 * The built-in engine drops the TCP connection (no close frame) for any
 * message over 64 MiB, in either direction; we refuse to send one.
 */
export const NATIVE_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

const RESOLVED: Promise<void> = Promise.resolve();

/** Options of the native adapter. */
export interface NativeSocketOptions {
  role: "client" | "server";
  maxMessageSize: number;
  /** Unread received bytes held before the connection is closed with 1008. */
  receiveQueueLimit: number;
  /** Unread received messages held before the connection is closed with 1008. */
  receiveQueueMessages: number;
  /**
   * Milliseconds the send buffer may go without draining while it holds
   * data; then the connection is closed with 1008 (`ERR_SEND_TIMEOUT`). 0 disables.
   */
  sendTimeout: number;
  sendHighWaterMark: number;
  /** Milliseconds to wait for the peer's close frame before reporting 1006. */
  closeTimeout: number;
  /** The server's byte budget: unread bytes beyond 64 KiB are charged to it (1013 when refused). */
  budget?: ByteBudget | null;
}

/** Deno's built-in WebSocket behind the engine interface. */
export class NativeSocket implements EngineSocket {
  readonly readable: ReadableStream<Message>;
  readonly closed: Promise<CloseInfo>;
  /** Resolves at `open`; rejects if the socket closed before opening. */
  readonly opened: Promise<void>;
  #ws: WebSocket;
  #options: NativeSocketOptions;
  #controller!: ReadableStreamDefaultController<Message>;
  #readableDone = false;
  /** The close we initiated because of a local policy (1008/1009): reported instead of the echo. */
  #localClose: CloseInfo | undefined;
  #settled = false;
  /** An upper bound of bufferedAmount: its last reading plus the bytes sent since. */
  #bufferedBound = 0;
  #settle: (info: CloseInfo) => void;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** The one loop waiting for the send buffer to fall below the mark, and its poll timer. */
  #draining: Promise<void> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #drainWake: (() => void) | undefined;
  /** Checks that a non-empty send buffer drains (see `sendTimeout`). */
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  #budget: ByteBudget | null;
  /** Bytes reserved from the budget. */
  #held = 0;
  /** Sockets holding budget: re-checked every second, so a reservation follows reads. */
  static #charged = new Set<NativeSocket>();
  static #sweep: ReturnType<typeof setInterval> | undefined;
  /** bufferedAmount at the last stall check, and the bytes sent since. */
  #stallBuffered = 0;
  #sentSinceCheck = 0;

  constructor(ws: WebSocket, options: NativeSocketOptions) {
    this.#ws = ws;
    this.#options = options;
    this.#budget = options.budget ?? null;
    ws.binaryType = "arraybuffer";
    const { maxMessageSize, receiveQueueLimit, receiveQueueMessages } = options;
    // Each message weighs its bytes plus a share of the limit, so the queue
    // fills with `receiveQueueMessages` empty messages as surely as with
    // `receiveQueueLimit` bytes.
    const weight = Math.max(1, Math.floor(receiveQueueLimit / receiveQueueMessages));
    this.readable = new ReadableStream<Message>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#readableDone = true;
        // Nobody will read again: the peer should stop sending.
        void this.close(CLOSE_NORMAL).catch(() => {});
      },
    }, {
      highWaterMark: receiveQueueLimit,
      size: (chunk) => messageSize(chunk) + weight,
    });
    const opened = Promise.withResolvers<void>();
    this.opened = opened.promise;
    this.opened.catch(() => {});
    const closed = Promise.withResolvers<CloseInfo>();
    this.closed = closed.promise;
    ws.onopen = () => opened.resolve();
    ws.onmessage = (event: MessageEvent) => {
      if (this.#readableDone) return;
      const data: Message = typeof event.data === "string"
        ? event.data
        : new Uint8Array(event.data as ArrayBuffer);
      const size = messageSize(data, maxMessageSize);
      if (size > maxMessageSize) {
        // The built-in engine has already received it; we can only refuse it after arrival.
        this.#fail(
          CLOSE_MESSAGE_TOO_BIG,
          "ERR_MESSAGE_TOO_LARGE",
          `Message of ${size} bytes exceeds the limit of ${maxMessageSize}`,
        );
        return;
      }
      const room = this.#controller.desiredSize ?? 0;
      if (size + weight > room && room < receiveQueueLimit) {
        // The built-in socket cannot pause TCP: bound memory instead of growing it.
        this.#fail(
          CLOSE_POLICY_VIOLATION,
          "ERR_RECEIVE_QUEUE_FULL",
          "Receive queue overflow: messages are not being read",
        );
        return;
      }
      this.#controller.enqueue(data);
      if (this.#budget !== null && (size > UNCHARGED_BYTES / 4 || this.#held > 0)) {
        this.#account();
      }
    };
    this.#settle = (info: CloseInfo) => {
      // The built-in socket may fire close twice (heartbeat timeout: 1001, then 1005).
      if (this.#settled) return;
      this.#settled = true;
      clearTimeout(this.#closeTimer);
      clearTimeout(this.#stallTimer);
      clearTimeout(this.#drainTimer);
      this.#drainWake?.();
      this.#release();
      opened.reject(new WebSocketError("ERR_NOT_OPEN", "Connection closed before it opened"));
      if (!this.#readableDone) {
        this.#readableDone = true;
        try {
          this.#controller.close();
        } catch { /* already closed or errored */ }
      }
      closed.resolve(this.#localClose ?? info);
    };
    ws.onclose = (event: CloseEvent) => {
      this.#settle(
        event.code === 0
          ? { code: CLOSE_ABNORMAL, reason: "" }
          : { code: event.code, reason: event.reason },
      );
    };
    ws.onerror = () => {/* a close event always follows */};
  }

  get readyState(): ReadyState {
    return this.#ws.readyState as ReadyState;
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(data: Message): Promise<void> {
    const state = this.#ws.readyState;
    if (state === WebSocket.CONNECTING) return this.opened.then(() => this.send(data));
    if (state !== WebSocket.OPEN) {
      return Promise.reject(
        new WebSocketError("ERR_NOT_OPEN", `Connection is not open (readyState "${state}")`),
      );
    }
    const size = messageSize(data, NATIVE_MAX_MESSAGE_SIZE);
    if (size > NATIVE_MAX_MESSAGE_SIZE) {
      return Promise.reject(
        new WebSocketRangeError(
          "ERR_MESSAGE_TOO_LARGE",
          `Message of ${size} bytes exceeds the native engine's limit of ${NATIVE_MAX_MESSAGE_SIZE}`,
        ),
      );
    }
    this.#ws.send(data as string | Uint8Array<ArrayBuffer>);
    // bufferedAmount is a call into the runtime; it can only have grown by what we sent since
    // the last reading, so it is read only when that bound could exceed the mark.
    const sent = typeof data === "string" ? data.length * 3 : data.byteLength;
    this.#bufferedBound += sent;
    this.#sentSinceCheck += sent;
    if (this.#stallTimer === undefined && this.#options.sendTimeout > 0) this.#armStallCheck();
    if (this.#bufferedBound <= this.#options.sendHighWaterMark) return RESOLVED;
    this.#bufferedBound = this.#ws.bufferedAmount;
    // Below the mark (the common case) no promise is made per message.
    if (this.#bufferedBound <= this.#options.sendHighWaterMark) return RESOLVED;
    return this.#draining ??= this.#drain().finally(() => this.#draining = undefined);
  }

  /**
   * Fan-out: sends `message` and returns `true` when `send()` would not
   * wait (open, and the buffer stays at or below the high-water mark);
   * `false` means nothing was sent.
   */
  sendMessage(message: FanOutMessage): boolean {
    if (this.#ws.readyState !== WebSocket.OPEN) return false;
    const data = message.data;
    const bound = typeof data === "string" ? data.length * 3 : data.byteLength;
    if (bound > NATIVE_MAX_MESSAGE_SIZE) return false;
    const mark = this.#options.sendHighWaterMark;
    if (this.#bufferedBound + bound > mark) {
      this.#bufferedBound = this.#ws.bufferedAmount; // the bound is stale: read the real one
      if (this.#bufferedBound + bound > mark) return false;
    }
    void this.send(data);
    return true;
  }

  /** Waits (polling: the built-in socket has no drain event) until the buffer is below the mark. */
  async #drain(): Promise<void> {
    let wait = 1;
    while (
      !this.#settled && this.#ws.readyState === WebSocket.OPEN &&
      this.#ws.bufferedAmount > this.#options.sendHighWaterMark
    ) {
      // The close settles the wait at once (no poll timer outlives the connection).
      await new Promise<void>((resolve) => {
        this.#drainTimer = setTimeout(resolve, wait);
        this.#drainWake = resolve;
      });
      this.#drainWake = undefined;
      wait = Math.min(wait * 2, 20);
    }
    this.#bufferedBound = this.#settled ? 0 : this.#ws.bufferedAmount;
  }

  /**
   * A peer that stops reading leaves our send buffer full forever (the
   * built-in heartbeat does not notice: its ping waits behind the data). One
   * timer per sending connection checks every `sendTimeout` ms that the
   * buffer drained some bytes; if it did not, the connection is closed.
   */
  #armStallCheck(): void {
    this.#stallBuffered = this.#ws.bufferedAmount;
    this.#sentSinceCheck = 0;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      if (this.#ws.readyState !== WebSocket.OPEN) return;
      const buffered = this.#ws.bufferedAmount;
      if (buffered === 0) return; // drained: the next send re-arms the check
      const drained = this.#stallBuffered + this.#sentSinceCheck - buffered;
      if (drained <= 0) {
        this.#fail(
          CLOSE_POLICY_VIOLATION,
          "ERR_SEND_TIMEOUT",
          `Send buffer did not drain for ${this.#options.sendTimeout} ms: the peer does not read`,
        );
        return;
      }
      this.#armStallCheck();
    }, this.#options.sendTimeout);
  }

  /**
   * The built-in socket sends every message as one frame, so a streamed
   * binary message is collected and sent as one message when the stream
   * closes (the receiver sees the same single message; memory is bounded by
   * the 64 MiB limit of the built-in engine).
   */
  beginBinary(): WritableStream<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    return new WritableStream<Uint8Array>({
      write: (chunk) => {
        if (!(chunk instanceof Uint8Array)) {
          throw new WebSocketTypeError(
            "ERR_INVALID_DATA",
            "Binary stream chunks must be Uint8Array",
          );
        }
        total += chunk.byteLength;
        if (total > NATIVE_MAX_MESSAGE_SIZE) {
          throw new WebSocketRangeError(
            "ERR_MESSAGE_TOO_LARGE",
            `Binary stream exceeds the native engine's limit of ${NATIVE_MAX_MESSAGE_SIZE} bytes`,
          );
        }
        parts.push(chunk.slice());
      },
      close: async () => {
        const whole = new Uint8Array(total);
        let offset = 0;
        for (const part of parts) {
          whole.set(part, offset);
          offset += part.byteLength;
        }
        parts.length = 0;
        await this.send(whole);
      },
    });
  }

  ping(): Promise<number> {
    return Promise.reject(
      new WebSocketTypeError(
        "ERR_UNSUPPORTED_BY_ENGINE",
        'ping() needs engine "rfc6455": the built-in WebSocket cannot send pings',
      ),
    );
  }

  async close(code?: number, reason = ""): Promise<void> {
    if (this.#ws.readyState === WebSocket.CONNECTING) {
      await this.opened.catch(() => {});
    }
    if (this.#ws.readyState === WebSocket.OPEN) {
      // The built-in client only sends 1000 or 3000-4999; other codes go out as 1000.
      const wire = this.#options.role === "client" && code !== undefined && code < 3000
        ? CLOSE_NORMAL
        : code;
      if (wire === undefined) this.#ws.close();
      else this.#ws.close(wire, reason);
      // A peer that never answers the close frame would keep us waiting forever. The
      // built-in socket cannot be dropped from JS, so we stop waiting and report 1006.
      this.#closeTimer ??= setTimeout(
        () => this.#settle({ code: CLOSE_ABNORMAL, reason: "Close handshake timed out" }),
        this.#options.closeTimeout,
      );
    }
    await this.closed;
  }

  /**
   * Charges the server's budget with the unread bytes beyond 64 KiB (the
   * built-in socket already holds them: refusing only stops more coming);
   * refused → close with 1013 `ERR_SERVER_BUSY`.
   */
  #account(): void {
    const budget = this.#budget;
    if (budget === null || this.#readableDone) return;
    const limit = this.#options.receiveQueueLimit;
    const unread = Math.max(0, limit - (this.#controller.desiredSize ?? limit));
    const want = Math.max(0, unread - UNCHARGED_BYTES);
    const delta = want - this.#held;
    if (delta > 0 && !budget.reserve(delta)) {
      this.#fail(
        CLOSE_TRY_AGAIN_LATER,
        "ERR_SERVER_BUSY",
        "The server's receive buffer budget is spent",
      );
      return;
    }
    if (delta < 0) budget.release(-delta);
    this.#held = want;
    if (want > 0) {
      NativeSocket.#charged.add(this);
      NativeSocket.#sweep ??= setInterval(() => {
        for (const socket of NativeSocket.#charged) socket.#account();
      }, 1_000);
    } else this.#uncharge();
  }

  /** Gives back everything reserved (the connection is closing). */
  #release(): void {
    if (this.#held > 0) this.#budget?.release(this.#held);
    this.#held = 0;
    this.#uncharge();
  }

  #uncharge(): void {
    NativeSocket.#charged.delete(this);
    if (NativeSocket.#charged.size === 0 && NativeSocket.#sweep !== undefined) {
      clearInterval(NativeSocket.#sweep);
      NativeSocket.#sweep = undefined;
    }
  }

  #fail(code: number, errorCode: WebSocketErrorCode, reason: string): void {
    this.#localClose ??= {
      code,
      reason,
      error: new WebSocketRangeError(errorCode, reason, { closeCode: code }),
    };
    this.#release();
    if (!this.#readableDone) {
      this.#readableDone = true;
      try {
        this.#controller.close();
      } catch { /* already closed */ }
    }
    void this.close(code, reason).catch(() => {});
  }
}
