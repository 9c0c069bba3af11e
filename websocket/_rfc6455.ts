/**
 * The own RFC 6455 engine: one WebSocket connection on an already upgraded
 * `Deno.Conn` (the handshake lives in `_handshake.ts`). `Rfc6455Socket`
 * holds the connection's state, control frames and the close handshake; the
 * receiving half is `_receiver.ts`, the sending half `_sender.ts` (as in npm
 * `ws`), the server-wide budget `_budget.ts`.
 *
 * Reading is pull-based: frames are parsed from a reusable buffer only while
 * the `readable` queue wants more, so a consumer that stops reading stops TCP
 * reads (the peer's sends back up in the kernel, not in our memory). Writing
 * is serialized through one queue; frames queued together are coalesced into
 * one `write` and large unmasked payloads are written without a copy.
 *
 * Limits (what a peer can make us hold), with their defaults:
 * - `maxMessageSize` (caller's choice, capped at 4 GiB): checked against frame
 *   headers before any payload is read, and while inflating; 1009 above it.
 *   Large frames get memory as their bytes arrive, not as claimed.
 * - Unread messages: up to 64 KiB (or one message) and at most 1024 messages
 *   queued in `readable` (each message weighs its bytes + 64, so empty
 *   messages fill it too); then TCP reads stop.
 * - Fragments: `maxFragments` (4096) frames per message, 1009 above it.
 * - Time inside a frame or message: `messageTimeout` (60 s) once part of it
 *   arrived, 1008 after it (heartbeat or not).
 *   Reassembly is linear: small fragments are appended to a growing tail
 *   chunk, large ones kept as they are, and the message is joined once.
 * - Shared budget (a server's `maxBufferedBytes`): message bytes held beyond
 *   64 KiB per connection (partial messages, inflated output, unread
 *   messages) are reserved from it as they arrive; a reservation refused
 *   closes this connection with 1013.
 * - Inflating: in 128 KiB steps, at most `inflateSlots` connections at once
 *   (the others stop reading TCP until a slot frees).
 * - Outgoing: `sendHighWaterMark` 1 MiB decides when `send()` resolves; pongs
 *   collapse to one queued pong; `closeTimeout` 5 s bounds a close handshake,
 *   during which at most 1 MiB and 1024 frames more are read while waiting
 *   for the peer's close frame (then TCP is dropped: 1006).
 * - Buffers: 16 KiB read buffer per quiet connection, growing to 256 KiB
 *   while busy and shrinking back.
 *
 * @module
 */

import {
  type WebSocketClosingError,
  WebSocketError,
  WebSocketRangeError,
  WebSocketSyntaxError,
  WebSocketTypeError,
} from "./errors.ts";
import { notOpen, type OutFrame, Sender } from "./_sender.ts";
import { type CloseInfo, Receiver } from "./_receiver.ts";
import type { ByteBudget, Slots } from "./_budget.ts";

export { type ByteBudget, SharedBudget, SharedSlots, type Slots } from "./_budget.ts";
export type { CloseInfo } from "./_receiver.ts";
import { equalBytes } from "../_common/bytes.ts";
import { truncateUtf8 } from "../_common/utf8.ts";
import { concat, DeflateCodec, type DeflateParams } from "./_deflate.ts";
import type { FanOutMessage } from "./_sender.ts";
import {
  type ByteStream,
  CLOSE_ABNORMAL,
  CLOSE_INTERNAL_ERROR,
  CLOSE_NO_STATUS,
  CLOSE_NORMAL,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TLS_HANDSHAKE,
  encodeClosePayload,
  FIN,
  isValidCloseCode,
  MAX_CLOSE_REASON_BYTES,
  MAX_CONTROL_PAYLOAD,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PING,
  OPCODE_PONG,
  OPCODE_TEXT,
  RSV1,
} from "./_frame.ts";

/** Options of {@linkcode Rfc6455Socket}. */
export interface Rfc6455Options {
  /** Which end of the connection we are: clients mask, servers require masks. */
  role: "client" | "server";
  /**
   * Largest message (after decompression) accepted; above it the connection
   * closes with 1009. Values above 4 GiB are treated as 4 GiB.
   */
  maxMessageSize: number;
  /**
   * Frame payload size used by `beginBinary()` streams.
   * @default {65536}
   */
  fragmentSize?: number;
  /** Negotiated permessage-deflate parameters, or `null`/absent for none. */
  deflate?: DeflateParams | null;
  /** Bytes that arrived after the handshake head (already-sent frames). */
  leftover?: Uint8Array;
  /** The negotiated subprotocol. */
  protocol?: string;
  /** The negotiated `Sec-WebSocket-Extensions` value. */
  extensions?: string;
  /**
   * `send()` resolves as soon as the message is queued while
   * `bufferedAmount` stays at or below this many bytes; above it, `send()`
   * resolves only once the message was written to the connection. 0 makes
   * every `send()` wait for its write.
   * @default {1048576}
   */
  sendHighWaterMark?: number;
  /**
   * How long to wait for the peer's part of the close handshake before
   * dropping TCP (reported as 1006 if the peer never answered).
   * @default {5000}
   */
  closeTimeout?: number;
  /**
   * Most frames one message may arrive in; more close with 1009.
   * @default {4096}
   */
  maxFragments?: number;
  /**
   * Milliseconds the rest of a frame or of a fragmented message may take
   * once part of it arrived; slower closes with 1008 (`ERR_MESSAGE_TIMEOUT`).
   * Bounds a peer that stops inside a frame without relying on the
   * heartbeat. 0 disables.
   * @default {60000}
   */
  messageTimeout?: number;
  /** A byte budget shared by the connections of one server (see the module doc). */
  budget?: ByteBudget | null;
  /** Limits how many connections of one server inflate at once. */
  inflateSlots?: Slots | null;
}

interface PendingPing {
  payload: Uint8Array;
  sentAt: number;
  resolve: (rtt: number) => void;
  reject: (err: unknown) => void;
}

const EMPTY = new Uint8Array(0);
const RESOLVED = Promise.resolve();
/** Default most frames per message. */
const DEFAULT_MAX_FRAGMENTS = 4096;
/** Default time the rest of a started frame or message may take. */
export const DEFAULT_MESSAGE_TIMEOUT = 60_000;
/** Swallows a rejection for the runtime's unhandled-rejection check; awaiters still see it. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** A `WebSocketTypeError` with the stable code `ERR_INVALID_ARG_TYPE`. */
function typeError(message: string): WebSocketTypeError {
  return new WebSocketTypeError("ERR_INVALID_ARG_TYPE", message);
}

/**
 * One RFC 6455 WebSocket connection over an upgraded `Deno.Conn`.
 *
 * Lifecycle rules callers can rely on:
 * - `readable` always *closes* (never errors) when the connection ends, for a
 *   clean close, a protocol failure or TCP loss alike; `closed` says which.
 *   Cancelling `readable` closes the connection with 1000.
 * - `closed` never rejects. It carries the peer's close code (1005 if its
 *   close frame had none); on a protocol failure the code we sent (1002,
 *   1007, 1009); 1006 when TCP ended without a close handshake, when the peer
 *   did not answer our close frame within `closeTimeout`, or after `abort()`.
 *   The conn is closed before `closed` settles.
 * - `send`/`ping`/`beginBinary` reject with `WebSocketError` `ERR_NOT_OPEN` once the
 *   socket is closing or closed; pings still waiting for a pong reject when
 *   the connection closes. Rejections are pre-marked as handled, so a
 *   fire-and-forget `send()` on a dead connection never crashes the process.
 * - Pongs and the close handshake are processed by the same reader as
 *   messages: while `readable` is full (64 KiB of unread messages), nothing
 *   is read from TCP, which is what gives the peer real backpressure.
 *
 * @example
 * ```ts
 * import { Rfc6455Socket } from "./_rfc6455.ts";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 8080 }); // after the handshake
 * const socket = new Rfc6455Socket(conn, { role: "server", maxMessageSize: 16 << 20 });
 * for await (const message of socket.readable) await socket.send(message);
 * console.log(await socket.closed);
 * ```
 */
export class Rfc6455Socket {
  #conn: ByteStream;
  #client: boolean;
  #fragmentSize: number;
  #closeTimeout: number;
  #sendHighWaterMark: number;
  #codec: DeflateCodec | null;
  #protocol: string;
  #extensions: string;

  #receiver: Receiver;
  /** Decodes close reasons (strict UTF-8). */
  #reasonDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #sender: Sender;
  #dataTail: Promise<void> | null = null;
  #streamActive = false;

  // Lifecycle.
  #readyState: 0 | 1 | 2 | 3 = 1;
  #closeSent = false;
  #closeReceived: CloseInfo | null = null;
  #failure: CloseInfo | null = null;
  #error: WebSocketClosingError | null = null;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = Promise.withResolvers<CloseInfo>();
  #pings: PendingPing[] = [];
  #pingCounter = 0;

  /** Called with the payload of every pong received. */
  onpong?: (data: Uint8Array) => void;

  /** Wraps `conn` (handshake already done) as a WebSocket endpoint. */
  constructor(conn: ByteStream, options: Rfc6455Options) {
    const {
      role,
      maxMessageSize,
      fragmentSize = 65536,
      deflate = null,
      leftover = EMPTY,
      protocol = "",
      extensions = "",
      closeTimeout = 5000,
      sendHighWaterMark = 1024 * 1024,
      maxFragments = DEFAULT_MAX_FRAGMENTS,
      messageTimeout = DEFAULT_MESSAGE_TIMEOUT,
      budget = null,
      inflateSlots = null,
    } = options;
    if (!(maxMessageSize > 0)) {
      throw new WebSocketRangeError(
        "ERR_INVALID_OPTION",
        `Invalid maxMessageSize "${maxMessageSize}"`,
      );
    }
    if (!(fragmentSize > 0)) {
      throw new WebSocketRangeError(
        "ERR_INVALID_OPTION",
        `Invalid fragmentSize "${fragmentSize}"`,
      );
    }
    this.#conn = conn;
    this.#sender = new Sender(conn, role === "client", () => this.#lost());
    this.#client = role === "client";
    this.#fragmentSize = fragmentSize;
    this.#closeTimeout = closeTimeout;
    this.#sendHighWaterMark = sendHighWaterMark;
    this.#codec = deflate ? new DeflateCodec(deflate, role) : null;
    this.#protocol = protocol;
    this.#extensions = extensions;
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch { /* not a TCP socket */ }
    this.#receiver = new Receiver(conn, {
      client: this.#client,
      maxMessageSize,
      maxFragments,
      messageTimeout,
      budget,
      slots: inflateSlots,
      codec: this.#codec,
      leftover,
    }, {
      readyState: () => this.#readyState,
      closeSent: () => this.#closeSent,
      closeReceived: () => this.#closeReceived,
      failure: () => this.#failure,
      fail: (err) => this.#fail(err),
      finish: (info) => this.#finish(info),
      control: (opcode, payload) => this.#handleControl(opcode, payload),
      cancel: () => {
        if (this.#readyState === 1) handled(this.close(CLOSE_NORMAL));
      },
    });
  }

  /**
   * Messages: strings for text, `Uint8Array` for binary. Ends when the
   * connection closes. Small binary messages are views into a per-connection
   * pool (like Node's pooled Buffers): use `byteOffset`/`byteLength`, not the
   * whole `.buffer`.
   */
  get readable(): ReadableStream<string | Uint8Array> {
    return this.#receiver.readable;
  }

  /** Resolves (never rejects) once the connection is closed, with the code and reason. */
  get closed(): Promise<CloseInfo> {
    return this.#closed.promise;
  }

  /** 1 OPEN, 2 CLOSING, 3 CLOSED (0 is never seen: the handshake is done before construction). */
  get readyState(): 0 | 1 | 2 | 3 {
    return this.#readyState;
  }

  /** Bytes accepted by `send`/`beginBinary`/`ping` and not yet handed to the socket. */
  get bufferedAmount(): number {
    return this.#sender.bufferedAmount;
  }

  /**
   * The protocol violation or limit that made us fail the connection (its
   * `closeCode` is what `closed` reports), or `null`.
   */
  get error(): WebSocketClosingError | null {
    return this.#error;
  }

  /** The negotiated subprotocol ("" for none). */
  get protocol(): string {
    return this.#protocol;
  }

  /** The negotiated extensions ("" for none). */
  get extensions(): string {
    return this.#extensions;
  }

  // ---------------------------------------------------------------- sending

  /**
   * Sends one message (string → text frame, bytes → binary frame). Resolves
   * once its bytes were written to the connection. `data` must not be
   * modified until then.
   */
  send(data: string | Uint8Array): Promise<void> {
    if (this.#readyState !== 1) return handled(Promise.reject(notOpen(this.#readyState)));
    let opcode: number;
    let payload: Uint8Array;
    if (typeof data === "string") {
      opcode = OPCODE_TEXT;
      payload = this.#sender.encodeText(data);
    } else if (data instanceof Uint8Array) {
      opcode = OPCODE_BINARY;
      payload = data;
    } else {
      return handled(
        Promise.reject(typeError("Invalid message: expected a string or Uint8Array")),
      );
    }
    const codec = this.#codec;
    const compress = codec !== null && payload.length >= codec.threshold;
    if (this.#dataTail === null && !compress) {
      if (this.#sender.charge(payload.length) <= this.#sendHighWaterMark) {
        // Hot path: no per-message promise; a later failure shows in `closed`.
        this.#sender.push(FIN | opcode, payload, payload.length);
        return RESOLVED;
      }
      return handled(this.#enqueue(FIN | opcode, payload, payload.length));
    }
    this.#sender.charge(payload.length);
    const written = Promise.withResolvers<void>();
    this.#chain(async () => {
      if (this.#readyState === 3) {
        this.#sender.uncharge(payload.length);
        written.reject(notOpen(3));
        return;
      }
      let first = FIN | opcode;
      let wire = payload;
      if (compress) {
        try {
          wire = await codec!.compress(payload);
          first |= RSV1;
        } catch (err) {
          this.#sender.uncharge(payload.length);
          written.reject(this.readyState === 3 ? notOpen(3) : err);
          return;
        }
      }
      this.#accepted(this.#enqueue(first, wire, payload.length)).then(
        written.resolve,
        written.reject,
      );
    });
    return handled(written.promise);
  }

  /**
   * Fan-out: queues `message` at once and returns `true` when `send()`
   * would not have to wait (open, nothing ordered ahead of it, not to be
   * compressed, the buffer stays at or below the high-water mark); a server
   * then copies the message's shared frame. `false`: nothing was queued,
   * `send(message.data)` it instead.
   */
  sendMessage(message: FanOutMessage): boolean {
    if (this.#readyState !== 1 || this.#dataTail !== null) return false;
    const length = message.payload.length;
    const codec = this.#codec;
    if (codec !== null && length >= codec.threshold) return false;
    if (this.#sender.bufferedAmount + length > this.#sendHighWaterMark) return false;
    this.#sender.charge(length);
    this.#sender.pushMessage(message);
    return true;
  }

  /** What `send()` returns for a queued frame: done now while under the high-water mark. */
  #accepted(write: Promise<void>): Promise<void> {
    if (this.#sender.bufferedAmount <= this.#sendHighWaterMark) {
      write.catch(() => {});
      return RESOLVED;
    }
    return handled(write);
  }

  /** Runs `step` after every earlier ordered data step (compression, streams). */
  #chain(step: () => Promise<void> | void): Promise<void> {
    const prev = this.#dataTail ?? Promise.resolve();
    const next = prev.then(step).catch(() => {});
    this.#dataTail = next;
    next.then(() => {
      if (this.#dataTail === next) this.#dataTail = null;
    });
    return next;
  }

  /**
   * Starts one binary message sent as a stream: every `fragmentSize` bytes
   * written go out as one frame (first `binary`, then `continuation`), and
   * closing the writer sends the final frame. Other messages wait until the
   * stream is closed; control frames (ping/pong/close) still interleave.
   * Streamed messages are never compressed (permessage-deflate is decided
   * per message, and the size is unknown up front).
   * Aborting a started stream closes the connection with 1011.
   */
  beginBinary(): WritableStream<Uint8Array> {
    if (this.#readyState !== 1) throw notOpen(this.#readyState);
    const released = Promise.withResolvers<void>();
    const acquired = Promise.withResolvers<void>();
    this.#chain(() => {
      this.#streamActive = true;
      acquired.resolve();
      return released.promise;
    });
    const fragmentSize = this.#fragmentSize;
    let started = false;
    let pending: Uint8Array[] = [];
    let pendingLength = 0;
    let finished = false;
    const release = () => {
      if (finished) return;
      finished = true;
      this.#streamActive = false;
      released.resolve();
    };
    const emit = (payload: Uint8Array, fin: boolean): Promise<void> => {
      if (this.#readyState === 3 || this.#closeSent) {
        return Promise.reject(notOpen(this.#readyState));
      }
      const first = (fin ? FIN : 0) | (started ? OPCODE_CONTINUATION : OPCODE_BINARY);
      started = true;
      this.#sender.charge(payload.length);
      return this.#enqueue(first, payload, payload.length);
    };
    return new WritableStream<Uint8Array>({
      start: () => acquired.promise,
      write: async (chunk) => {
        if (!(chunk instanceof Uint8Array)) {
          throw typeError("Invalid chunk: expected a Uint8Array");
        }
        if (this.#readyState !== 1) throw notOpen(this.#readyState);
        const writes: Promise<void>[] = [];
        let offset = 0;
        if (pendingLength > 0) {
          const take = Math.min(fragmentSize - pendingLength, chunk.length);
          pending.push(chunk.slice(0, take));
          pendingLength += take;
          offset = take;
          if (pendingLength === fragmentSize) {
            writes.push(emit(concat(pending, pendingLength), false));
            pending = [];
            pendingLength = 0;
          }
        }
        while (chunk.length - offset >= fragmentSize) {
          writes.push(emit(chunk.subarray(offset, offset + fragmentSize), false));
          offset += fragmentSize;
        }
        if (offset < chunk.length) {
          pending.push(chunk.slice(offset));
          pendingLength += chunk.length - offset;
        }
        await Promise.all(writes);
      },
      close: async () => {
        try {
          await emit(concat(pending, pendingLength), true);
        } finally {
          pending = [];
          release();
        }
      },
      abort: () => {
        pending = [];
        const wasStarted = started;
        release();
        if (wasStarted && this.#readyState === 1) {
          handled(this.close(CLOSE_INTERNAL_ERROR, "Binary stream aborted"));
        }
      },
    });
  }

  /**
   * Sends a ping (default payload: a 4-byte counter) and resolves with the
   * round-trip time in milliseconds when the matching pong arrives. Rejects
   * if the connection closes first.
   */
  ping(data?: Uint8Array): Promise<number> {
    if (this.#readyState !== 1) return handled(Promise.reject(notOpen(this.#readyState)));
    let payload: Uint8Array;
    if (data === undefined) {
      payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(0, ++this.#pingCounter >>> 0);
    } else {
      if (!(data instanceof Uint8Array)) {
        return handled(
          Promise.reject(typeError("Invalid ping payload: expected a Uint8Array")),
        );
      }
      if (data.length > MAX_CONTROL_PAYLOAD) {
        return handled(Promise.reject(
          new WebSocketRangeError(
            "ERR_PING_PAYLOAD_TOO_LARGE",
            `Ping payload of "${data.length}" bytes exceeds 125 bytes`,
          ),
        ));
      }
      payload = data.slice();
    }
    const result = Promise.withResolvers<number>();
    this.#pings.push({
      payload,
      sentAt: performance.now(),
      resolve: result.resolve,
      reject: result.reject,
    });
    this.#sender.charge(payload.length);
    this.#enqueue(FIN | OPCODE_PING, payload, payload.length).catch(() => {});
    return handled(result.promise);
  }

  /**
   * Starts the closing handshake (code defaults to none → the peer sees
   * 1005) and resolves when the connection is closed. Queued messages are
   * sent before the close frame.
   */
  close(code?: number, reason = ""): Promise<void> {
    if (
      code !== undefined &&
      (!isValidCloseCode(code) || code === CLOSE_NO_STATUS || code === CLOSE_ABNORMAL ||
        code === CLOSE_TLS_HANDSHAKE)
    ) {
      return handled(Promise.reject(
        new WebSocketRangeError("ERR_INVALID_CLOSE_CODE", `Invalid close code "${code}"`),
      ));
    }
    if (code === undefined && reason !== "") {
      return handled(Promise.reject(
        new WebSocketRangeError("ERR_INVALID_CLOSE_CODE", "A close reason needs a close code"),
      ));
    }
    const payload = encodeClosePayload(code, reason);
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      return handled(Promise.reject(
        new WebSocketRangeError(
          "ERR_CLOSE_REASON_TOO_LONG",
          `Close reason of "${payload.length - 2}" bytes exceeds ${MAX_CLOSE_REASON_BYTES} bytes`,
        ),
      ));
    }
    if (this.#readyState === 1) {
      this.#readyState = 2;
      this.#armCloseTimer();
      const sendClose = () => {
        if (this.#closeSent || this.#readyState === 3) return;
        this.#closeSent = true;
        this.#enqueue(FIN | OPCODE_CLOSE, payload, 0).catch(() => {});
      };
      if (this.#dataTail === null || this.#streamActive) sendClose();
      else this.#chain(sendClose);
      void this.#receiver.drain();
    }
    return this.#closed.promise.then(() => {});
  }

  /**
   * Drops TCP now, without a close frame (dead peers, shutdown). `closed`
   * resolves with 1006 unless the connection had already closed.
   */
  abort(): void {
    this.#finish({ code: CLOSE_ABNORMAL, reason: "" });
  }

  /** `await using` support: closes with 1000 (or waits for an ongoing close). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#readyState === 1) await this.close(CLOSE_NORMAL);
    else await this.#closed.promise;
  }

  /** Queues a frame unless nothing may be sent any more. */
  #enqueue(first: number, payload: Uint8Array, amount: number): Promise<void> {
    // Nothing may follow a close frame on the wire (RFC 6455 §5.5.1); the
    // close frame itself is queued right after #closeSent is set.
    if (this.#readyState === 3 || (this.#closeSent && (first & 0x0f) !== OPCODE_CLOSE)) {
      this.#sender.uncharge(amount);
      return Promise.reject(notOpen(this.#readyState));
    }
    return this.#sender.enqueue(first, payload, amount);
  }

  #handleControl(opcode: number, payload: Uint8Array): void {
    if (opcode === OPCODE_PING) {
      if (!this.#closeSent && this.#readyState !== 3) {
        this.#sender.pong(payload.slice());
      }
      return;
    }
    if (opcode === OPCODE_PONG) {
      const data = payload.slice();
      const index = this.#pings.findIndex((p) => equalBytes(p.payload, data));
      if (index >= 0) {
        const [ping] = this.#pings.splice(index, 1);
        ping.resolve(performance.now() - ping.sentAt);
      }
      try {
        this.onpong?.(data);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
      return;
    }
    // Close frame.
    let info: CloseInfo;
    if (payload.length === 0) {
      info = { code: CLOSE_NO_STATUS, reason: "" };
    } else if (payload.length === 1) {
      return this.#fail(
        new WebSocketSyntaxError("ERR_INVALID_CLOSE_FRAME", "Close frame with a 1-byte payload", {
          closeCode: CLOSE_PROTOCOL_ERROR,
        }),
      );
    } else {
      const code = (payload[0] << 8) | payload[1];
      if (!isValidCloseCode(code)) {
        return this.#fail(
          new WebSocketSyntaxError("ERR_INVALID_CLOSE_CODE", `Invalid close code "${code}"`, {
            closeCode: CLOSE_PROTOCOL_ERROR,
          }),
        );
      }
      let reason: string;
      try {
        reason = this.#reasonDecoder.decode(payload.subarray(2));
      } catch {
        return this.#receiver.failUtf8();
      }
      info = { code, reason };
    }
    this.#closeReceived = info;
    this.#receiver.keepReading();
    if (this.#readyState === 1) {
      this.#readyState = 2;
      this.#armCloseTimer();
    }
    if (!this.#closeSent) {
      // Echo the code (RFC 6455 §5.5.1); pending messages go first.
      this.#closeSent = true;
      const echo = encodeClosePayload(info.code === CLOSE_NO_STATUS ? undefined : info.code, "");
      const written = this.#enqueue(FIN | OPCODE_CLOSE, echo, 0);
      if (!this.#client) {
        this.#receiver.stop();
        written.then(() => this.#finish(info), () => this.#finish(info));
      }
      // A client waits for the server to close TCP (the next read sees EOF).
      return;
    }
    // We started the handshake and this is the answer.
    if (!this.#client) {
      this.#receiver.stop();
      this.#finish(info);
    }
  }

  /** Fails the connection: close frame with the error's code, then TCP close. */
  #fail(err: WebSocketClosingError): void {
    if (this.#readyState === 3) return;
    this.#receiver.stop();
    this.#readyState = 2;
    const reason = err.reason ?? truncateUtf8(err.message, MAX_CLOSE_REASON_BYTES);
    const info = { code: err.closeCode ?? CLOSE_INTERNAL_ERROR, reason };
    this.#failure = info;
    this.#error = err;
    this.#receiver.discardMessage();
    if (this.#closeSent) {
      this.#finish(info);
      return;
    }
    this.#closeSent = true;
    // The close frame jumps ahead of queued data: the connection is unusable.
    const frame: OutFrame = {
      first: FIN | OPCODE_CLOSE,
      payload: encodeClosePayload(info.code, reason),
      amount: 0,
    };
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    frame.resolve = resolve;
    frame.reject = reject;
    // Queued data would follow the close frame: drop it (the senders see the rejection).
    this.#sender.jumpQueue(frame);
    this.#armCloseTimer();
    promise.then(() => this.#finish(info), () => this.#finish(info));
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined) return;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      this.#finish(
        this.#failure ?? (this.#closeReceived && this.#closeSent ? this.#closeReceived : {
          code: CLOSE_ABNORMAL,
          reason: "",
        }),
      );
    }, this.#closeTimeout);
  }

  /** TCP failed under a write. */
  #lost(): void {
    this.#finish(this.#failure ?? { code: CLOSE_ABNORMAL, reason: "" });
  }

  #finish(info: CloseInfo): void {
    if (this.#readyState === 3) return;
    this.#readyState = 3;
    this.#receiver.stop();
    if (this.#closeTimer !== undefined) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = undefined;
    }
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#codec?.close();
    this.#sender.cancel();
    const pings = this.#pings;
    this.#pings = [];
    for (const ping of pings) {
      ping.reject(
        new WebSocketError("ERR_NOT_OPEN", "WebSocket closed before the pong arrived"),
      );
    }
    this.#receiver.end();
    this.#closed.resolve(info);
  }
}
