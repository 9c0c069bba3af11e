/**
 * The own RFC 6455 engine: one WebSocket connection on an already upgraded
 * `Deno.Conn` (the handshake lives in `_handshake.ts`).
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

import { type WebSocketErrorCode, WebSocketRangeError, WebSocketTypeError } from "./errors.ts";
import {
  isProtocolError,
  kCloseCode,
  type ProtocolError,
  protocolError,
} from "./_protocol_error.ts";
import { notOpen, type OutFrame, Sender } from "./_sender.ts";
import { truncateUtf8 } from "../_common/utf8.ts";
import { concat, DeflateCodec, type DeflateParams } from "./_deflate.ts";
import {
  applyMask,
  type ByteStream,
  CLOSE_ABNORMAL,
  CLOSE_INTERNAL_ERROR,
  CLOSE_INVALID_PAYLOAD,
  CLOSE_MESSAGE_TOO_BIG,
  CLOSE_NO_STATUS,
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TLS_HANDSHAKE,
  CLOSE_TRY_AGAIN_LATER,
  encodeClosePayload,
  FIN,
  type FrameHeader,
  isValidCloseCode,
  MAX_CONTROL_PAYLOAD,
  MAX_HEADER_SIZE,
  newHeader,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PING,
  OPCODE_PONG,
  OPCODE_TEXT,
  parseHeader,
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

/** A byte budget shared by several sockets. */
export interface ByteBudget {
  /** Takes `bytes` from the budget; false (and nothing taken) when it does not fit. */
  reserve(bytes: number): boolean;
  /** Gives `bytes` back. */
  release(bytes: number): void;
}

/** A counting semaphore. */
export interface Slots {
  /** Resolves once a slot is held. */
  acquire(): Promise<void>;
  /** Frees a held slot. */
  release(): void;
}

/** A {@linkcode ByteBudget} of `limit` bytes. */
export class SharedBudget implements ByteBudget {
  #limit: number;
  #used = 0;
  /** Creates a budget of `limit` bytes. */
  constructor(limit: number) {
    this.#limit = limit;
  }
  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }
  reserve(bytes: number): boolean {
    if (this.#used + bytes > this.#limit) return false;
    this.#used += bytes;
    return true;
  }
  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/** {@linkcode Slots} with `count` slots, served in FIFO order. */
export class SharedSlots implements Slots {
  #free: number;
  #waiting: (() => void)[] = [];
  /** Creates `count` slots. */
  constructor(count: number) {
    this.#free = count;
  }
  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return RESOLVED;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

/** The outcome of a connection: the close code and reason (1006 when TCP was lost). */
export interface CloseInfo {
  /** Close code received from (or, on a protocol failure, sent to) the peer. */
  code: number;
  /** Close reason (UTF-8 decoded). */
  reason: string;
}

interface PendingPing {
  payload: Uint8Array;
  sentAt: number;
  resolve: (rtt: number) => void;
  reject: (err: unknown) => void;
}

const EMPTY = new Uint8Array(0);
const RESOLVED = Promise.resolve();
/** Frames whose payload is at least this big get their own allocation instead of the shared buffer. */
const DEDICATED_PAYLOAD = 256 * 1024;
/** Binary messages from SLAB_MIN to SLAB_MAX bytes are copied into shared SLAB_SIZE slabs. */
const SLAB_SIZE = 64 * 1024;
const SLAB_MIN = 4 * 1024;
const SLAB_MAX = 16 * 1024;
/** Binary messages up to SMALL_MAX bytes share SMALL_SLAB_SIZE slabs (like Node's Buffer pool). */
const SMALL_SLAB_SIZE = 8 * 1024;
const SMALL_MAX = 1024;
/** Hard ceiling for `maxMessageSize` (4 GiB): larger claims are refused with 1009 up front. */
const MAX_MESSAGE_SIZE_CAP = 2 ** 32;
/** Default most frames per message. */
const DEFAULT_MAX_FRAGMENTS = 4096;
/** Default time the rest of a started frame or message may take. */
export const DEFAULT_MESSAGE_TIMEOUT = 60_000;
/** Fragments below this size are appended to a shared tail chunk instead of being kept alone. */
const TAIL_MIN = 4 * 1024;
/** Largest tail chunk small fragments are gathered in. */
const TAIL_MAX = 256 * 1024;
/** What each unread message weighs in the readable queue on top of its bytes (1024 empty ones fill it). */
const MESSAGE_WEIGHT = 64;
/** Bytes a connection holds without charging the shared budget (its read-ahead). */
const UNCHARGED = 64 * 1024;
/** Read and coalescing buffer size of a quiet connection. */
const IDLE_BUFFER = 16 * 1024;
/** Largest read buffer a busy connection grows to. */
const MAX_READ_BUFFER = 256 * 1024;
/** How many bytes of decoded messages the readable may hold before we stop reading TCP. */
const READ_AHEAD = 64 * 1024;
/** Bytes and frames we read after sending a close frame while waiting for the peer's, before dropping TCP. */
const CLOSE_DRAIN_LIMIT = 1024 * 1024;
const CLOSE_DRAIN_FRAMES = 1024;

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
 * - `send`/`ping`/`beginBinary` reject with `WebSocketTypeError` `ERR_NOT_OPEN` once the
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
  #maxMessageSize: number;
  #fragmentSize: number;
  #closeTimeout: number;
  #sendHighWaterMark: number;
  #codec: DeflateCodec | null;
  #protocol: string;
  #extensions: string;

  // Read side.
  #buf: Uint8Array;
  #lastRead = 0;
  #start = 0;
  #end = 0;
  #header: FrameHeader = newHeader();
  #msgOpcode = 0;
  #msgCompressed = false;
  #msgLength = 0;
  #msgChunks: Uint8Array[] = [];
  /** The chunk small fragments are appended to (its used part is `#tailAt` bytes). */
  #tail: Uint8Array | null = null;
  #tailAt = 0;
  #msgFrames = 0;
  #maxFragments: number;
  #messageTimeout: number;
  /** Fails the connection when a started frame or message does not complete (armed while mid-message). */
  #messageTimer: ReturnType<typeof setTimeout> | undefined;
  /** A `conn.read` is pending (the timer only fails a peer we are actually waiting for). */
  #reading = false;
  #budget: ByteBudget | null;
  #slots: Slots | null;
  /** Bytes reserved from the budget. */
  #held = 0;
  /** Capacity of a large payload being read into its own buffer. */
  #dedicated = 0;
  /** Bytes the inflater produced for the frame being inflated. */
  #inflated = 0;
  /** Bytes and frames read after our close frame, before the peer's. */
  #drainedAfterClose = 0;
  #framesAfterClose = 0;
  #msgText: string[] = [];
  #textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #streamDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #slab: Uint8Array | null = null;
  #slabAt = 0;
  #small: Uint8Array | null = null;
  #smallAt = 0;
  #readable: ReadableStream<string | Uint8Array>;
  #controller!: ReadableStreamDefaultController<string | Uint8Array>;
  #readableOpen = true;
  #pumping: Promise<void> | null = null;
  #draining = false;
  #readDone = false;
  #delivered = 0;

  // Write side.
  #sender: Sender;
  #dataTail: Promise<void> | null = null;
  #streamActive = false;

  // Lifecycle.
  #readyState: 0 | 1 | 2 | 3 = 1;
  #closeSent = false;
  #closeReceived: CloseInfo | null = null;
  #failure: CloseInfo | null = null;
  #error: ProtocolError | null = null;
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
    this.#maxMessageSize = Math.min(maxMessageSize, MAX_MESSAGE_SIZE_CAP);
    this.#fragmentSize = fragmentSize;
    this.#maxFragments = maxFragments;
    this.#messageTimeout = messageTimeout;
    this.#budget = budget;
    this.#slots = inflateSlots;
    this.#closeTimeout = closeTimeout;
    this.#sendHighWaterMark = sendHighWaterMark;
    this.#codec = deflate ? new DeflateCodec(deflate, role) : null;
    this.#protocol = protocol;
    this.#extensions = extensions;
    this.#buf = new Uint8Array(Math.max(IDLE_BUFFER, leftover.length));
    this.#buf.set(leftover);
    this.#end = leftover.length;
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch { /* not a TCP socket */ }
    this.#readable = new ReadableStream<string | Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#pumpOnce(),
      cancel: () => {
        this.#readableOpen = false;
        if (this.#readyState === 1) handled(this.close(CLOSE_NORMAL));
      },
    }, {
      highWaterMark: READ_AHEAD,
      size: (message) => message.length + MESSAGE_WEIGHT,
    });
  }

  /**
   * Messages: strings for text, `Uint8Array` for binary. Ends when the
   * connection closes. Small binary messages are views into a per-connection
   * pool (like Node's pooled Buffers): use `byteOffset`/`byteLength`, not the
   * whole `.buffer`.
   */
  get readable(): ReadableStream<string | Uint8Array> {
    return this.#readable;
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
  get error(): ProtocolError | null {
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
          `Close reason of "${payload.length - 2}" bytes exceeds 123 bytes`,
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
      this.#drain();
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

  // ---------------------------------------------------------------- reading

  #pumpOnce(): Promise<void> {
    if (this.#pumping === null) {
      this.#pumping = this.#pump().catch((err) => {
        // A bug must not leave the socket open with a dead reader.
        this.#fail(
          protocolError(
            "ERR_INTERNAL",
            `Internal error: ${(err as Error)?.message ?? err}`,
            CLOSE_INTERNAL_ERROR,
            { cause: err },
          ),
        );
      }).finally(() => {
        this.#pumping = null;
      });
    }
    return this.#pumping;
  }

  /** Keeps reading (regardless of the consumer) until the connection is closed. */
  async #drain(): Promise<void> {
    this.#draining = true;
    while (this.#readyState !== 3 && !this.#readDone) {
      await this.#pumpOnce();
    }
  }

  /**
   * Parses and handles frames until at least one message was delivered and
   * the readable is full (or, when draining, until reading is over).
   */
  async #pump(): Promise<void> {
    const h = this.#header;
    const deliveredBefore = this.#delivered;
    // The app may have read what we charged the budget for.
    if (this.#held > 0 && !this.#account()) return;
    while (!this.#readDone) {
      if (
        this.#delivered !== deliveredBefore && !this.#draining &&
        (this.#controller.desiredSize ?? 0) <= 0
      ) return;
      if (!parseHeader(this.#buf, this.#start, this.#end, h)) {
        if (!await this.#fill(MAX_HEADER_SIZE)) return;
        continue;
      }
      const problem = this.#checkHeader(h);
      if (problem) {
        this.#fail(problem);
        return;
      }
      const total = h.headerSize + h.length;
      const available = this.#end - this.#start;
      let payload: Uint8Array;
      let owned = false;
      if (available >= total) {
        payload = this.#buf.subarray(this.#start + h.headerSize, this.#start + total);
        this.#start += total;
        if (this.#start === this.#end) this.#start = this.#end = 0;
      } else if (h.length >= DEDICATED_PAYLOAD) {
        payload = await this.#readDedicated(h.headerSize, h.length);
        if (this.#readDone) return;
        owned = true;
      } else {
        if (!await this.#fill(total)) return;
        continue;
      }
      if (h.masked) applyMask(payload, payload, h.maskKey);
      if (
        this.#closeSent && this.#closeReceived === null && h.opcode !== OPCODE_CLOSE &&
        ++this.#framesAfterClose > CLOSE_DRAIN_FRAMES
      ) {
        // Still no close frame: a flood of (empty) frames gets no more of our CPU.
        this.#readDone = true;
        this.#finish(this.#failure ?? { code: CLOSE_ABNORMAL, reason: "" });
        return;
      }
      const result = this.#handleFrame(h.opcode, h.fin, h.rsv, payload, owned);
      if (result) await result;
    }
  }

  /** Reads a large payload straight into its own buffer (its size was checked against the limit). */
  async #readDedicated(headerBytes: number, length: number): Promise<Uint8Array> {
    // Capacity follows the bytes that actually arrived (doubling), not the
    // claimed length: a thousand peers that each announce 16 MiB and then
    // trickle cost what they sent, not 16 GiB.
    const from = this.#start + headerBytes;
    const have = this.#end - from;
    let payload = this.#allocate(Math.min(length, Math.max(DEDICATED_PAYLOAD, have * 2)), length);
    if (payload === null) return EMPTY;
    payload.set(this.#buf.subarray(from, this.#end));
    this.#start = this.#end = 0;
    let got = have;
    try {
      while (got < length) {
        if (got === payload.length) {
          const bigger = this.#allocate(Math.min(length, payload.length * 2), length);
          if (bigger === null) return EMPTY;
          bigger.set(payload);
          payload = bigger;
        }
        const n = await this.#read(payload.subarray(got));
        if (n === null) return EMPTY;
        got += n;
      }
      return payload;
    } finally {
      this.#dedicated = 0;
    }
  }

  #allocate(size: number, claimed: number): Uint8Array | null {
    try {
      const buffer = new Uint8Array(size);
      this.#dedicated = size;
      return this.#account() ? buffer : null;
    } catch {
      // Only reachable with a huge maxMessageSize: refuse instead of crashing.
      this.#fail(
        protocolError(
          "ERR_MESSAGE_TOO_LARGE",
          `Cannot allocate a message of "${claimed}" bytes`,
          CLOSE_MESSAGE_TOO_BIG,
        ),
      );
      return null;
    }
  }

  /**
   * Makes room for `needed` bytes from the frame start, then reads once.
   * Returns false when reading is over (EOF or error; the socket is closing).
   */
  async #fill(needed: number): Promise<boolean> {
    const unparsed = this.#end - this.#start;
    if (
      this.#buf.length > IDLE_BUFFER && this.#lastRead < IDLE_BUFFER / 2 &&
      unparsed <= IDLE_BUFFER / 2 && needed <= IDLE_BUFFER
    ) {
      // Traffic calmed down: the read that may now sit idle for hours gets a
      // small buffer again.
      const small = new Uint8Array(IDLE_BUFFER);
      small.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = small;
      this.#start = 0;
      this.#end = unparsed;
    }
    if (this.#buf.length - this.#start < needed) {
      const live = this.#end - this.#start;
      if (this.#buf.length < needed) {
        const bigger = new Uint8Array(Math.max(needed, this.#buf.length * 2));
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = bigger;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = live;
    }
    const free = this.#buf.length - this.#end;
    const n = await this.#read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    this.#lastRead = n;
    if (n === free && this.#buf.length < MAX_READ_BUFFER) {
      // The kernel had more than we could take: a busy connection earns a
      // bigger buffer (fewer read calls); idle ones keep the small one.
      const bigger = new Uint8Array(Math.min(MAX_READ_BUFFER, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = bigger;
    }
    return true;
  }

  /** One `conn.read`; on EOF or error it finishes the connection and returns null. */
  async #read(into: Uint8Array): Promise<number | null> {
    // Mid-frame or mid-message (bytes of a frame buffered, a large payload
    // being read, a fragmented message open): the rest must come in time.
    if (this.#end > this.#start || this.#dedicated > 0 || this.#msgOpcode !== 0) {
      if (this.#messageTimer === undefined && this.#messageTimeout > 0) this.#armMessageTimer();
    } else if (this.#messageTimer !== undefined) {
      clearTimeout(this.#messageTimer);
      this.#messageTimer = undefined;
    }
    let n: number | null;
    this.#reading = true;
    try {
      n = await this.#conn.read(into);
    } catch {
      n = null;
    } finally {
      this.#reading = false;
    }
    if (n !== null && this.#closeSent && this.#closeReceived === null) {
      // Waiting for the peer's close frame, we read only to find it: a peer
      // that keeps streaming data instead gets CLOSE_DRAIN_LIMIT bytes, not our CPU.
      this.#drainedAfterClose += n;
      if (this.#drainedAfterClose > CLOSE_DRAIN_LIMIT) n = null;
    }
    if (n === null) {
      this.#readDone = true;
      if (this.#closeReceived && this.#closeSent) this.#finish(this.#closeReceived);
      else if (this.#failure) this.#finish(this.#failure);
      else this.#finish({ code: CLOSE_ABNORMAL, reason: "" });
      return null;
    }
    return n;
  }

  #checkHeader(h: FrameHeader): ProtocolError | null {
    const op = h.opcode;
    const violation = (code: WebSocketErrorCode, message: string) =>
      protocolError(code, message, CLOSE_PROTOCOL_ERROR);
    if (h.masked === this.#client) {
      return this.#client
        ? violation("ERR_MASKED_FRAME", "Server frames must not be masked")
        : violation("ERR_UNMASKED_FRAME", "Client frames must be masked");
    }
    if (op >= 8) {
      if (op > OPCODE_PONG) return violation("ERR_INVALID_OPCODE", `Invalid opcode "${op}"`);
      if (!h.fin) {
        return violation("ERR_FRAGMENTED_CONTROL", "Control frames must not be fragmented");
      }
      if (h.length > MAX_CONTROL_PAYLOAD) {
        return violation(
          "ERR_CONTROL_TOO_LARGE",
          `Control frame payload of "${h.length}" bytes exceeds 125`,
        );
      }
      if (h.rsv !== 0) {
        return violation("ERR_RESERVED_BITS", "Reserved bits set on a control frame");
      }
      return null;
    }
    if (op > OPCODE_BINARY) return violation("ERR_INVALID_OPCODE", `Invalid opcode "${op}"`);
    const allowed = this.#codec !== null && op !== OPCODE_CONTINUATION ? RSV1 : 0;
    if ((h.rsv & ~allowed) !== 0) {
      return violation(
        "ERR_RESERVED_BITS",
        `Reserved bits "${h.rsv >> 4}" set without an extension`,
      );
    }
    if (op === OPCODE_CONTINUATION && this.#msgOpcode === 0) {
      return violation(
        "ERR_UNEXPECTED_CONTINUATION",
        "Continuation frame without a message to continue",
      );
    }
    if (op !== OPCODE_CONTINUATION && this.#msgOpcode !== 0) {
      return violation(
        "ERR_EXPECTED_CONTINUATION",
        "New data frame inside a fragmented message",
      );
    }
    if (op === OPCODE_CONTINUATION && this.#msgFrames >= this.#maxFragments) {
      return protocolError(
        "ERR_TOO_MANY_FRAGMENTS",
        `Message exceeds the limit of "${this.#maxFragments}" fragments`,
        CLOSE_MESSAGE_TOO_BIG,
      );
    }
    const so = op === OPCODE_CONTINUATION ? this.#msgLength : 0;
    if (h.length > this.#maxMessageSize - so) {
      return protocolError(
        "ERR_MESSAGE_TOO_LARGE",
        `Message exceeds the limit of "${this.#maxMessageSize}" bytes`,
        CLOSE_MESSAGE_TOO_BIG,
      );
    }
    return null;
  }

  #handleFrame(
    opcode: number,
    fin: boolean,
    rsv: number,
    payload: Uint8Array,
    owned: boolean,
  ): Promise<void> | void {
    if (opcode >= 8) return this.#handleControl(opcode, payload);
    if (opcode !== OPCODE_CONTINUATION) {
      this.#msgOpcode = opcode;
      this.#msgCompressed = (rsv & RSV1) !== 0;
      this.#msgLength = 0;
      this.#msgFrames = 0;
    }
    this.#msgFrames++;
    if (this.#msgCompressed) return this.#inflate(payload, fin);
    this.#msgLength += payload.length;
    const text = this.#msgOpcode === OPCODE_TEXT;
    if (fin && this.#msgFrames === 1) {
      this.#msgOpcode = 0;
      if (text) {
        let message: string;
        try {
          message = this.#textDecoder.decode(payload);
        } catch {
          return this.#failUtf8();
        }
        this.#deliver(message);
      } else {
        this.#deliver(owned ? payload : this.#own(payload));
      }
      return;
    }
    if (text) {
      try {
        this.#appendText(this.#streamDecoder.decode(payload, { stream: !fin }));
      } catch {
        return this.#failUtf8();
      }
    } else {
      this.#appendChunk(payload, owned);
    }
    if (this.#msgLength > UNCHARGED && this.#budget !== null && !this.#account()) return;
    if (fin) this.#completeMessage();
  }

  // Reassembly is linear: pieces are collected and joined once at the end
  // (never re-copied as the message grows). `maxFragments` bounds how many
  // pieces a message has; empty ones are not kept.
  #appendText(part: string): void {
    if (part !== "") this.#msgText.push(part);
  }

  /**
   * Keeps one piece of a binary message. Small pieces are copied into a
   * shared tail chunk (sized after the message so far), so a message of
   * many tiny fragments costs about its bytes, not an object per fragment.
   */
  #appendChunk(chunk: Uint8Array, owned: boolean): void {
    const length = chunk.length;
    if (length === 0) return;
    if (length >= TAIL_MIN) {
      this.#sealTail();
      this.#msgChunks.push(owned ? chunk : chunk.slice());
      return;
    }
    let tail = this.#tail;
    if (tail === null || this.#tailAt + length > tail.length) {
      this.#sealTail();
      tail = this.#tail = new Uint8Array(
        Math.min(TAIL_MAX, Math.max(TAIL_MIN, this.#msgLength)),
      );
    }
    tail.set(chunk, this.#tailAt);
    this.#tailAt += length;
  }

  #sealTail(): void {
    if (this.#tail !== null && this.#tailAt > 0) {
      this.#msgChunks.push(this.#tail.subarray(0, this.#tailAt));
    }
    this.#tail = null;
    this.#tailAt = 0;
  }

  /**
   * Reserves from (or returns to) the shared budget what this connection
   * holds beyond its uncharged read-ahead: a payload being read, the
   * message being assembled, unread messages. A refused reservation fails
   * the connection with 1013 (unless `fail` is false) and returns false.
   */
  #account(fail = true): boolean {
    const budget = this.#budget;
    if (budget === null) return true;
    if (this.#readyState === 3) return false;
    const unread = this.#readableOpen
      ? Math.max(0, READ_AHEAD - (this.#controller.desiredSize ?? READ_AHEAD))
      : 0;
    const partial = this.#msgOpcode !== 0 ? this.#msgLength + this.#inflated : 0;
    const want = Math.max(0, this.#dedicated + partial + unread - UNCHARGED);
    const delta = want - this.#held;
    if (delta > 0 && !budget.reserve(delta)) {
      if (fail) this.#fail(serverBusy());
      return false;
    }
    if (delta < 0) budget.release(-delta);
    this.#held = want;
    return true;
  }

  /**
   * A private copy of a payload that lives in the reusable read buffer.
   * Small (≤ 1 KiB) and mid-size (4-16 KiB) payloads are carved out of
   * shared slabs of 8 KiB and 64 KiB (one allocation per slab instead of one
   * per message: allocation, not the copy, dominates the receive path); a
   * kept message retains at most its slab, like a pooled Node Buffer.
   */
  #own(payload: Uint8Array): Uint8Array {
    const length = payload.length;
    if (length > 0 && length <= SMALL_MAX) {
      if (this.#smallAt + length > SMALL_SLAB_SIZE || this.#small === null) {
        this.#small = new Uint8Array(SMALL_SLAB_SIZE);
        this.#smallAt = 0;
      }
      const at = this.#smallAt;
      this.#small.set(payload, at);
      this.#smallAt = (at + length + 7) & ~7;
      return this.#small.subarray(at, at + length);
    }
    if (length < SLAB_MIN || length > SLAB_MAX) return payload.slice();
    if (this.#slabAt + length > SLAB_SIZE || this.#slab === null) {
      this.#slab = new Uint8Array(SLAB_SIZE);
      this.#slabAt = 0;
    }
    const at = this.#slabAt;
    this.#slab.set(payload, at);
    // Keep the next carve 8-aligned so a consumer can view it as wider words.
    this.#slabAt = (at + length + 7) & ~7;
    return this.#slab.subarray(at, at + length);
  }

  async #inflate(payload: Uint8Array, fin: boolean): Promise<void> {
    let chunks: Uint8Array[];
    // A server inflates on a few connections at once; the others wait here
    // without reading TCP (zlib work is CPU the probes of others also need).
    const slots = this.#slots;
    if (slots !== null) {
      await slots.acquire();
      if (this.#readyState === 3) {
        slots.release();
        return;
      }
    }
    try {
      chunks = await this.#codec!.decompress(
        payload,
        fin,
        this.#maxMessageSize - this.#msgLength,
        this.#budget === null ? undefined : (bytes) => {
          this.#inflated += bytes;
          return this.#account(false);
        },
      );
    } catch (err) {
      this.#inflated = 0;
      if (this.#readyState === 3) return;
      this.#fail(
        isProtocolError(err) ? err : protocolError(
          "ERR_INVALID_COMPRESSED_DATA",
          "Invalid compressed data",
          CLOSE_INVALID_PAYLOAD,
        ),
      );
      return;
    } finally {
      slots?.release();
    }
    this.#inflated = 0;
    for (const chunk of chunks) {
      const view = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      this.#msgLength += view.length;
      if (this.#msgOpcode === OPCODE_TEXT) {
        try {
          this.#appendText(this.#streamDecoder.decode(view, { stream: true }));
        } catch {
          return this.#failUtf8();
        }
      } else {
        this.#appendChunk(view, true);
      }
    }
    if (fin) {
      if (this.#msgOpcode === OPCODE_TEXT) {
        try {
          this.#appendText(this.#streamDecoder.decode());
        } catch {
          return this.#failUtf8();
        }
      }
      this.#completeMessage();
    }
  }

  #completeMessage(): void {
    if (this.#msgOpcode === OPCODE_TEXT) {
      const text = this.#msgText.join("");
      this.#msgText = [];
      this.#msgOpcode = 0;
      this.#deliver(text);
    } else {
      this.#sealTail();
      const data = this.#msgChunks.length === 0
        ? new Uint8Array(0)
        : concat(this.#msgChunks, this.#msgLength);
      this.#msgChunks = [];
      this.#msgOpcode = 0;
      this.#deliver(data);
    }
  }

  #failUtf8(): void {
    this.#streamDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    this.#fail(
      protocolError(
        "ERR_INVALID_UTF8",
        "Invalid UTF-8 in a text message",
        CLOSE_INVALID_PAYLOAD,
      ),
    );
  }

  #deliver(message: string | Uint8Array): void {
    this.#delivered++;
    if (!this.#readableOpen || this.#readyState === 3) return;
    // After our close frame we keep reading only to find the peer's; data
    // the application has no room for is dropped instead of piling up.
    if (this.#closeSent && (this.#controller.desiredSize ?? 0) <= 0) return;
    try {
      this.#controller.enqueue(message);
    } catch {
      this.#readableOpen = false;
    }
    if (this.#budget !== null && (message.length > UNCHARGED / 4 || this.#held > 0)) {
      this.#account();
    }
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
        protocolError(
          "ERR_INVALID_CLOSE_FRAME",
          "Close frame with a 1-byte payload",
          CLOSE_PROTOCOL_ERROR,
        ),
      );
    } else {
      const code = (payload[0] << 8) | payload[1];
      if (!isValidCloseCode(code)) {
        return this.#fail(
          protocolError(
            "ERR_INVALID_CLOSE_CODE",
            `Invalid close code "${code}"`,
            CLOSE_PROTOCOL_ERROR,
          ),
        );
      }
      let reason: string;
      try {
        reason = this.#textDecoder.decode(payload.subarray(2));
      } catch {
        return this.#failUtf8();
      }
      info = { code, reason };
    }
    this.#closeReceived = info;
    this.#draining = true;
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
        this.#readDone = true;
        written.then(() => this.#finish(info), () => this.#finish(info));
      }
      // A client waits for the server to close TCP (the next read sees EOF).
      return;
    }
    // We started the handshake and this is the answer.
    if (!this.#client) {
      this.#readDone = true;
      this.#finish(info);
    }
  }

  /** Fails the connection: close frame with the error's code, then TCP close. */
  #fail(err: ProtocolError): void {
    if (this.#readyState === 3) return;
    this.#readDone = true;
    this.#readyState = 2;
    const reason = truncateUtf8(err.message, 123);
    const info = { code: err[kCloseCode], reason };
    this.#failure = info;
    this.#error = err;
    this.#msgChunks = [];
    this.#msgText = [];
    this.#tail = null;
    this.#tailAt = 0;
    if (this.#closeSent) {
      this.#finish(info);
      return;
    }
    this.#closeSent = true;
    // The close frame jumps ahead of queued data: the connection is unusable.
    const frame: OutFrame = {
      first: FIN | OPCODE_CLOSE,
      payload: encodeClosePayload(err[kCloseCode], reason),
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

  #armMessageTimer(): void {
    this.#messageTimer = setTimeout(() => {
      this.#messageTimer = undefined;
      // Paused by our own reader (backpressure): not the peer's fault; the next read re-arms.
      if (!this.#reading || this.#readyState !== 1) return;
      this.#fail(
        protocolError(
          "ERR_MESSAGE_TIMEOUT",
          `A frame or message was not completed within ${this.#messageTimeout} ms`,
          CLOSE_POLICY_VIOLATION,
        ),
      );
    }, this.#messageTimeout);
  }

  #finish(info: CloseInfo): void {
    if (this.#readyState === 3) return;
    this.#readyState = 3;
    this.#readDone = true;
    if (this.#messageTimer !== undefined) {
      clearTimeout(this.#messageTimer);
      this.#messageTimer = undefined;
    }
    if (this.#closeTimer !== undefined) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = undefined;
    }
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#codec?.close();
    if (this.#held > 0) {
      this.#budget?.release(this.#held);
      this.#held = 0;
    }
    this.#sender.cancel();
    const pings = this.#pings;
    this.#pings = [];
    for (const ping of pings) {
      ping.reject(
        new WebSocketTypeError("ERR_NOT_OPEN", "WebSocket closed before the pong arrived"),
      );
    }
    if (this.#readableOpen) {
      this.#readableOpen = false;
      try {
        this.#controller.close();
      } catch { /* already closed or cancelled */ }
    }
    this.#closed.resolve(info);
  }
}

function serverBusy(): ProtocolError {
  return protocolError(
    "ERR_SERVER_BUSY",
    "The server's receive buffer budget is spent",
    CLOSE_TRY_AGAIN_LATER,
  );
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
