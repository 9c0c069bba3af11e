/**
 * The engine behind {@linkcode FramedConnection}: a receive loop that parses
 * frames out of one reusable buffer, and a writer that gathers every queued
 * frame into as few socket writes as it can.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { FramedConnection, PeerCertificate } from "./connection.ts";
import { type Decoder, decoderFor, type Encoder, encoderFor, NUMERIC_CODECS } from "./_codec.ts";
import { FramedError, FramedRangeError, FramedSyntaxError } from "./errors.ts";
import type { MessageType } from "./types.ts";
import {
  headerSize,
  LONG_HEADER_SIZE,
  LONG_LENGTH_MARKER,
  readLongLength,
  SHORT_HEADER_SIZE,
  SHORT_LENGTH_LIMIT,
  writeHeader,
} from "./_wire.ts";

/** The error for a message of `size` bytes over `maxMessageSize` (`limit`). */
function tooLarge(size: number, limit: number): FramedRangeError {
  return new FramedRangeError(
    "ERR_MESSAGE_TOO_LARGE",
    `Message of ${size} bytes exceeds maxMessageSize of ${limit} bytes`,
    { size, limit },
  );
}
import { isNumericType } from "./_codec.ts";

/**
 * Socket reads land in one buffer per connection. It starts small (an idle
 * connection costs little) and grows (up to the maximum) while reads keep
 * filling it or a message needs the room; it shrinks back once the traffic
 * turns small. Messages larger than the maximum get a buffer of their own
 * that the socket reads straight into.
 */
export const RECEIVE_BUFFER_INITIAL = 1024;
const RECEIVE_BUFFER_MAX = 256 * 1024;
/** First allocation for a message above that; it doubles as the payload arrives. */
const BIG_MESSAGE_INITIAL = 1024 * 1024;
/**
 * The `readable` queue: messages are parsed out of the receive buffer only
 * while the queue holds less than this many bytes, counting each message as
 * its decoded size plus {@linkcode MESSAGE_COST} (so empty messages fill it
 * too: at most 256 of them wait). A bigger message is queued alone.
 */
export const RECEIVE_QUEUE_BYTES = 64 * 1024;
/**
 * What one queued message costs besides its bytes, in either direction:
 * about what a small message's JavaScript objects take (a `Uint8Array` with
 * its own `ArrayBuffer`, a promise reaction).
 */
export const MESSAGE_COST = 256;
/**
 * Small `bytes`/`image` messages parsed together are copied into one shared
 * allocation of at most this size (each message its own view), like Node's
 * 8 KiB `Buffer` pool: one allocation instead of one per message, and a
 * retained message keeps at most this much alive. Only messages of the same
 * connection share one.
 */
const SLAB_SIZE = 4 * 1024;
/** Messages up to this size go into a slab; bigger ones get their own copy. */
const SLAB_MESSAGE_MAX = 512;
/** Decoded size of one numeric element (a JavaScript number in an array). */
export const DECODED_NUMBER_SIZE = 8;
/**
 * Longest all connections together parse messages out of their buffers in
 * one turn of the event loop before each yields to the next turn. A consumer
 * that keeps up pulls synchronously, so without this a flood of tiny
 * messages on many connections makes every turn (and so every other
 * connection, new ones included) wait for all of them.
 */
const PARSE_SLICE_MS = 2;
/** The writer's gather buffer starts this small and grows up to the maximum. */
const WRITE_BUFFER_INITIAL = 16 * 1024;
const WRITE_BUFFER_MAX = 1024 * 1024;
/**
 * Payloads up to this size are copied into the gather buffer when `send()`
 * is called (so the caller may reuse them at once); bigger ones are written
 * from the caller's memory.
 */
const COPY_LIMIT = 256 * 1024;
/** Gather buffers kept for reuse once written. */
const SPARE_BUFFERS = 2;
/** Bytes (plus {@linkcode MESSAGE_COST} per message) queued behind the socket before `writable` pushes back. */
const WRITABLE_HIGH_WATER_MARK = 256 * 1024;
/** How long `close()` waits for queued messages to reach a peer that does not read. */
export const CLOSE_LINGER = 10_000;

/**
 * Receive memory shared by the connections of one server: buffers above
 * each connection's initial {@linkcode RECEIVE_BUFFER_INITIAL} bytes are
 * charged to it while they exist.
 */
export class ReceiveBudget {
  /** Bytes charged now. */
  used = 0;
  /** The most that may be charged. */
  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Charges `bytes` if they fit; false (nothing charged) otherwise. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  /** Returns `bytes` charged earlier. */
  give(bytes: number): void {
    this.used -= bytes;
  }
}

/**
 * The socket surface the engine needs: `Deno.Conn` has it, and so does the
 * server-side TLS connection of `_common/tls_accept.ts`.
 */
export interface ByteConn {
  readonly remoteAddr: Deno.Addr;
  readonly localAddr: Deno.Addr;
  readonly peerCertificate?: PeerCertificate | null;
  read(target: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/** Resolved options a connection runs with. */
export interface ConnectionSettings {
  framing: "length" | "raw";
  sendType: MessageType;
  receiveType: MessageType;
  maxMessageSize: number;
  idleTimeout: number;
  messageTimeout: number;
  sendTimeout: number;
  maxUnsentMessages: number;
  discardMessagesBeforeOpen: boolean;
  /** The server's shared receive memory; none on clients. */
  budget?: ReceiveBudget;
  /** Called once when a connection has ended (the server forgets it). */
  onEnd?: (connection: FramedConnection<never, unknown>) => void;
  signal?: AbortSignal;
  /** Opens a replacement socket after a drop (client with `reconnect.onDrop`). */
  redial?: (signal: AbortSignal) => Promise<ByteConn>;
}

/**
 * The largest payload in wire bytes a message of `type` may have so that
 * its decoded form stays within `maxMessageSize`: numeric elements decode to
 * {@linkcode DECODED_NUMBER_SIZE} bytes each, whatever their width on the wire.
 */
export function wireLimit(type: MessageType, maxMessageSize: number): number {
  if (!isNumericType(type)) return maxMessageSize;
  const { size } = NUMERIC_CODECS[type];
  return Math.floor(maxMessageSize / DECODED_NUMBER_SIZE) * size;
}

/** Messages queued together; they are written together and settle together. */
interface Batch {
  /**
   * Byte ranges to write before the unsealed span of `fill`, in order: spans
   * of earlier gather buffers and large payloads. Empty for most batches
   * (those that fit one gather buffer), which so cost no array work.
   */
  segments: Uint8Array[];
  /** Gather buffers this batch filled before `fill`; they return to the spares once written. */
  buffers: Uint8Array[];
  /**
   * The gather buffer being filled and where its unsealed span starts; it
   * too returns to the spares once written.
   */
  fill: Uint8Array | null;
  fillStart: number;
  fillUsed: number;
  count: number;
  /** Bytes in `segments` (the unsealed span of `fill` is not counted yet). */
  sealed: number;
  promise: Promise<void>;
  resolve: () => void;
  reject: (reason: unknown) => void;
}

function ignore(): void {}

/**
 * A batch's promise is made with this shared executor, which hands over its
 * settling functions here (`Promise.withResolvers` would also allocate an
 * object to return them in, once per batch).
 */
let capturedResolve: () => void = ignore;
let capturedReject: (reason: unknown) => void = ignore;
function captureSettlers(resolve: () => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * Rejects every send of `batch`. A send nobody awaits must not crash the
 * program when the connection dies (`closed` reports that), so the batch's
 * promise gets a handler first; awaiting it still throws. (Attached here,
 * not when the batch is made: most batches never fail.)
 */
function rejectBatch(batch: Batch, error: unknown): void {
  batch.promise.catch(ignore);
  batch.reject(error);
}

/** What a batch counts for in the send queue: its bytes plus {@linkcode MESSAGE_COST} per message. */
function batchCost(batch: Batch): number {
  const unsealed = batch.fill === null ? 0 : batch.fillUsed - batch.fillStart;
  return batch.sealed + unsealed + batch.count * MESSAGE_COST;
}

const EMPTY = new Uint8Array(0);

/** The method the shared sweep calls on each watched connection. */
const CHECK_LIMITS: unique symbol = Symbol("checkLimits");

interface Watched {
  [CHECK_LIMITS](now: number): void;
}

/**
 * Every connection with a time limit, checked by one shared sweep (a timer
 * per connection would cost each idle connection about 0.8 KiB). The sweep
 * runs every eighth of the shortest limit in force, between 10 ms and 1 s,
 * so a limit fires at most that late (twice that when counted from our own
 * writes, see {@linkcode WRITE_STARTED}).
 */
const watched = new Set<Watched>();
let sweepTimer: ReturnType<typeof setInterval> | undefined;
let sweepEvery = Infinity;

/**
 * What a connection's `#writeSince` holds while a write is in flight that no
 * sweep has seen yet. Writes do not read the clock (an op call, ~150 ns,
 * once per batch written); the sweep notes the time it first sees a write in
 * flight, or that one completed, so limits counted from our own writes
 * (`sendTimeout`, and `idleTimeout` after a send) fire up to one more sweep
 * period late.
 */
const WRITE_STARTED = -1;

function sweep(): void {
  const now = performance.now();
  for (const connection of watched) connection[CHECK_LIMITS](now);
}

function watch(connection: Watched, period: number): void {
  watched.add(connection);
  const every = Math.min(1000, Math.max(10, period / 8));
  if (every < sweepEvery) {
    sweepEvery = every;
    clearInterval(sweepTimer);
    sweepTimer = setInterval(sweep, every);
  }
}

function unwatch(connection: Watched): void {
  if (!watched.delete(connection) || watched.size > 0) return;
  clearInterval(sweepTimer);
  sweepTimer = undefined;
  sweepEvery = Infinity;
}

/** When the current turn's parsing began, and whether the turn is open. */
let turnStart = 0;
let turnOpen = false;
/** Messages parsed in this turn, and at which count to look at the clock next. */
let turnMessages = 0;
let nextClockCheck = 0;
/** The clock (an op call) is read once per this many messages. */
const CLOCK_EVERY = 64;
function endTurn(): void {
  turnOpen = false;
}

/**
 * Whether parsing may go on in this turn of the event loop. The first
 * caller of a turn opens it (and schedules its end with `setImmediate`,
 * which runs after the turn's I/O); later callers share its
 * {@linkcode PARSE_SLICE_MS}.
 */
function parseSliceLeft(): boolean {
  if (!turnOpen) {
    turnOpen = true;
    turnStart = performance.now();
    turnMessages = 0;
    nextClockCheck = CLOCK_EVERY;
    setImmediate(endTurn);
    return true;
  }
  if (turnMessages < nextClockCheck) return true;
  nextClockCheck = turnMessages + CLOCK_EVERY;
  return performance.now() - turnStart <= PARSE_SLICE_MS;
}

/**
 * Connections waiting for a later turn, in the order they get it: those
 * that did not get to parse in the last turn first, those that did last
 * (round robin, so one busy connection cannot keep the slice).
 */
let waitingFirst: (() => void)[] = [];
let waitingLast: (() => void)[] = [];
let wakeScheduled = false;
function wakeWaiting(): void {
  wakeScheduled = false;
  // The waiters get a fresh slice of their own, whatever the turn's I/O used.
  turnStart = performance.now();
  turnMessages = 0;
  nextClockCheck = CLOCK_EVERY;
  if (!turnOpen) {
    turnOpen = true;
    setImmediate(endTurn);
  }
  const queue = waitingFirst.length === 0 ? waitingLast : waitingFirst.concat(waitingLast);
  waitingFirst = [];
  waitingLast = [];
  for (const resume of queue) resume();
}

/**
 * Resolves on a later turn of the event loop, after pending I/O
 * (`setImmediate`: unlike `setTimeout(0)` it is not clamped to 1 ms).
 */
function waitForTurn(parsed: boolean): Promise<void> {
  return new Promise((resolve) => {
    (parsed ? waitingLast : waitingFirst).push(resolve);
    if (!wakeScheduled) {
      wakeScheduled = true;
      setImmediate(wakeWaiting);
    }
  });
}

type State = "open" | "reconnecting" | "closing" | "closed";

/** Applies `noDelay` / `keepAlive` where the socket exposes them (plain TCP). */
export function tuneSocket(conn: ByteConn, noDelay: boolean, keepAlive: boolean): void {
  const tcp = conn as Partial<Deno.TcpConn>;
  try {
    tcp.setNoDelay?.(noDelay);
    tcp.setKeepAlive?.(keepAlive);
  } catch {
    // The socket may already be gone; its first read or write reports that.
  }
}

/** @internal */
export class Connection<S, R> implements FramedConnection<S, R> {
  readonly readable: ReadableStream<R>;
  readonly closed: Promise<void>;

  #conn: ByteConn | null;
  #remoteAddr: Deno.NetAddr;
  #localAddr: Deno.NetAddr;
  #peerCertificate: PeerCertificate | null;
  #state: State = "open";
  #error: unknown = undefined;
  #settle: { resolve: () => void; reject: (reason: unknown) => void };
  #settings: ConnectionSettings;
  #framed: boolean;
  #encode: Encoder;
  #decode: Decoder;
  /** Largest incoming / outgoing payload in wire bytes (see {@linkcode wireLimit}). */
  #receiveLimit: number;
  #sendLimit: number;
  /** Bytes one decoded element of a numeric receive type counts for per wire byte. */
  #decodedPerByte: number;
  /** Whether received messages are `Uint8Array`s that may share a slab. */
  #pooled: boolean;

  // Receiving: unparsed bytes are `#rbuf[#rstart, #rend)`.
  #reader!: ReadableStreamDefaultController<R>;
  #reading = false;
  #readError: { error: unknown } | null = null;
  #rbuf = new Uint8Array(RECEIVE_BUFFER_INITIAL);
  #rstart = 0;
  #rend = 0;
  #lastRead = 0;
  #big: Uint8Array<ArrayBuffer> | null = null;
  #bigFilled = 0;
  #bigLength = 0;
  /** Bytes of `#rbuf` and `#big` charged to the server's budget. */
  #charged = 0;
  #rawText: TextDecoder | null = null;
  /** What the next enqueued chunk counts for in the `readable` queue. */
  #cost = 0;
  /** When the current socket read started (0: none in flight). */
  #readSince = 0;
  /** Socket-wait time already spent on the incomplete message in the buffer. */
  #partialWait = 0;
  /** Whether this connection parsed messages since it last waited for a turn. */
  #parsedThisTurn = false;

  // Sending.
  #pending: Batch | null = null;
  /**
   * The pending batch while `send()` may append to it directly: the
   * connection is open, its write is scheduled and it has a gather buffer.
   * Null whenever any of that stops being true.
   */
  #fast: Batch | null = null;
  /**
   * While {@linkcode #fast} is set: its gather buffer, how far it is filled
   * and how many messages `send()` added to it directly. Kept here, not in
   * the batch, so the direct path touches one object; {@linkcode #foldFast}
   * writes them back.
   */
  #fastFill: Uint8Array | null = null;
  /** The length of {@linkcode #fastFill} (a plain number is cheaper to read than a typed array's length). */
  #fastEnd = 0;
  #fastUsed = 0;
  #fastCount = 0;
  #fastPromise: Promise<void> | null = null;
  /**
   * The largest payload the direct path takes: a `Uint8Array` that fits the
   * one-byte header and `maxMessageSize`; -1 when the send type or framing
   * needs the encoder.
   */
  #fastLimit: number;
  /** What the batch being written counts for (see {@linkcode batchCost}). */
  #inflightCost = 0;
  #writing = false;
  /**
   * When the socket write in flight started: 0 for none, {@linkcode WRITE_STARTED}
   * until the sweep first sees it (writes do not read the clock; see
   * {@linkcode sweep}).
   */
  #writeSince = 0;
  /** Whether a write completed since the sweep last looked (it then counts as activity). */
  #wrote = false;
  #lastBatchSize = 1;
  /** The last batch written, emptied for reuse (one object per connection, not per batch). */
  #spareBatch: Batch | null = null;
  #spares: Uint8Array[] = [];
  /** The last span written from a gather buffer, and that buffer (see {@linkcode #spanOf}). */
  #span: Uint8Array | null = null;
  #spanBuffer: Uint8Array | null = null;
  #spanStart = 0;
  #spanEnd = 0;
  #drainWaiters: (() => void)[] = [];
  #writable: WritableStream<S> | null = null;
  #writer!: WritableStreamDefaultController;
  #watchedSend: Promise<void> | null = null;
  /** The last send refused before it was queued (bad value, too large, queue full). */
  #refused: Promise<void> | null = null;

  // Timers and lifetime.
  #lastActivity = performance.now();
  /** The shortest time limit in force (0: none). */
  #watchPeriod: number;
  #reconnecting: Promise<void> | null = null;
  #reconnectAbort: AbortController | null = null;
  #onAbort: (() => void) | null = null;

  constructor(conn: ByteConn, settings: ConnectionSettings) {
    this.#conn = conn;
    this.#remoteAddr = conn.remoteAddr as Deno.NetAddr;
    this.#localAddr = conn.localAddr as Deno.NetAddr;
    this.#peerCertificate = conn.peerCertificate ?? null;
    this.#settings = settings;
    this.#framed = settings.framing === "length";
    this.#receiveLimit = wireLimit(settings.receiveType, settings.maxMessageSize);
    this.#sendLimit = wireLimit(settings.sendType, settings.maxMessageSize);
    this.#decodedPerByte = isNumericType(settings.receiveType)
      ? DECODED_NUMBER_SIZE / NUMERIC_CODECS[settings.receiveType].size
      : 1;
    this.#pooled = settings.receiveType === "bytes" || settings.receiveType === "image";
    this.#fastLimit = this.#framed &&
        (settings.sendType === "bytes" || settings.sendType === "image")
      ? Math.min(settings.maxMessageSize, SHORT_LENGTH_LIMIT - 1)
      : -1;
    this.#encode = encoderFor(settings.sendType);
    this.#decode = decoderFor(settings.receiveType);
    this.#resetReceive();

    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.closed = promise;
    promise.catch(() => {});
    this.#settle = { resolve, reject };

    this.readable = new ReadableStream<R>({
      start: (controller) => {
        this.#reader = controller;
      },
      // Refill only once the queue is half drained: most reads then cost
      // no parsing call at all.
      pull: (controller) =>
        (controller.desiredSize ?? 0) * 2 < RECEIVE_QUEUE_BYTES
          ? undefined
          : this.#pull(controller),
      cancel: () => this.close(),
    }, { highWaterMark: RECEIVE_QUEUE_BYTES, size: () => this.#cost });

    const limits = [settings.idleTimeout, settings.messageTimeout, settings.sendTimeout]
      .filter((ms) => ms > 0);
    this.#watchPeriod = limits.length > 0 ? Math.min(...limits) : 0;
    if (this.#watchPeriod > 0) watch(this, this.#watchPeriod);
    const signal = settings.signal;
    if (signal) {
      if (signal.aborted) {
        this.#finish(signal.reason);
      } else {
        this.#onAbort = () => this.#finish(signal.reason);
        signal.addEventListener("abort", this.#onAbort, { once: true });
      }
    }
  }

  /** Created on first use: an app that only calls `send()` does not pay for it. */
  get writable(): WritableStream<S> {
    this.#writable ??= new WritableStream<S>({
      start: (controller) => {
        this.#writer = controller;
      },
      write: (chunk) => {
        const sent = this.send(chunk);
        // A refused chunk fails its own write (the caller sees why), not a later one.
        if (sent === this.#refused) return sent;
        if (this.#state !== "open" && this.#state !== "reconnecting") return sent;
        if (this.#queued() > WRITABLE_HIGH_WATER_MARK) return sent;
        // Messages of one batch share its promise: watch it once, not once
        // per message (a flood of small messages would pile up reactions).
        if (sent !== this.#watchedSend) {
          this.#watchedSend = sent;
          sent.catch((error) => this.#writer.error(error));
        }
      },
      close: () => this.close(),
      abort: (reason) => this.#finish(reason ?? new DOMException("Aborted", "AbortError")),
    });
    return this.#writable;
  }

  get remoteAddr(): Deno.NetAddr {
    return this.#remoteAddr;
  }

  get localAddr(): Deno.NetAddr {
    return this.#localAddr;
  }

  get peerCertificate(): PeerCertificate | null {
    return this.#peerCertificate;
  }

  send(value: S): Promise<void> {
    // The common case of a burst: a short byte payload joining a batch whose
    // write is already scheduled and whose gather buffer has room. It does
    // what `#sendAny` does for it, with as few loads and checks as can be
    // (this runs once per message; the gap to framing by hand is here).
    const fill = this.#fastFill;
    if (fill !== null && ArrayBuffer.isView(value)) {
      const bytes = value as unknown as Uint8Array;
      const length = bytes.length;
      const used = this.#fastUsed;
      const end = used + SHORT_HEADER_SIZE + length;
      if (length === bytes.byteLength && length <= this.#fastLimit && end <= this.#fastEnd) {
        fill[used] = length;
        fill.set(bytes, used + SHORT_HEADER_SIZE);
        this.#fastUsed = end;
        this.#fastCount++;
        return this.#fastPromise!;
      }
    }
    return this.#sendAny(value);
  }

  #refuse(error: unknown): Promise<void> {
    return this.#refused = Promise.reject(error);
  }

  #sendAny(value: S): Promise<void> {
    this.#foldFast();
    const state = this.#state;
    if (state === "closing" || state === "closed") {
      const rejected = Promise.reject(this.#closedError());
      rejected.catch(() => {}); // `closed` already reports why; see below.
      return rejected;
    }
    let payload: Uint8Array;
    try {
      payload = this.#encode(value);
    } catch (error) {
      return this.#refuse(error);
    }
    const limit = this.#sendLimit;
    if (this.#framed && payload.length > limit) {
      return this.#refuse(tooLarge(payload.length, limit));
    }
    if (state === "reconnecting") {
      if (this.#settings.discardMessagesBeforeOpen) {
        return this.#refuse(
          new FramedError(
            "ERR_NOT_CONNECTED",
            "Connection is not open; message discarded (discardMessagesBeforeOpen is true)",
          ),
        );
      }
      if ((this.#pending?.count ?? 0) >= this.#settings.maxUnsentMessages) {
        return this.#refuse(
          new FramedRangeError(
            "ERR_UNSENT_QUEUE_FULL",
            `Unsent queue is full (maxUnsentMessages is ${this.#settings.maxUnsentMessages})`,
            { limit: this.#settings.maxUnsentMessages },
          ),
        );
      }
    }
    let batch = this.#pending;
    if (batch === null) batch = this.#pending = this.#newBatch();
    const length = payload.length;
    const header = this.#framed ? headerSize(length) : 0;
    if (length <= COPY_LIMIT) {
      const fill = this.#room(batch, header + length);
      let used = batch.fillUsed;
      if (header > 0) used += writeHeader(fill, used, length);
      fill.set(payload, used);
      batch.fillUsed = used + length;
    } else {
      if (header > 0) {
        const fill = this.#room(batch, header);
        batch.fillUsed += writeHeader(fill, batch.fillUsed, length);
      }
      this.#seal(batch);
      batch.segments.push(payload);
      batch.sealed += payload.length;
    }
    batch.count++;
    if (!this.#writing && state === "open") {
      this.#writing = true;
      // A caller that awaits each send gets its write started at once; after
      // a burst, wait a microtask so every send of the task joins the batch.
      this.#pump(this.#lastBatchSize !== 1);
    }
    if (
      this.#fastLimit >= 0 && this.#writing && this.#state === "open" &&
      this.#pending === batch && batch.fill !== null
    ) {
      this.#openFast(batch);
    }
    return batch.promise;
  }

  async close(): Promise<void> {
    if (this.#state === "reconnecting") {
      this.#finish(null);
    } else if (this.#state === "open") {
      this.#state = "closing";
      this.#foldFast();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const linger = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_LINGER);
      });
      try {
        await Promise.race([this.#drain(), linger]);
      } finally {
        clearTimeout(timer);
      }
      this.#finish(null);
    }
    await this.closed.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- receiving -------------------------------------------------------
  //
  // Pull only: messages are parsed out of the receive buffer while the
  // `readable` queue has room, the rest of the bytes stay in the buffer, and
  // the socket is read only when the buffer holds no whole message and the
  // consumer wants more. A fast peer meets TCP backpressure, not our memory.

  async #pull(controller: ReadableStreamDefaultController<R>): Promise<void> {
    if (this.#readError) {
      // Whatever the queue still holds is read first.
      if (controller.desiredSize === RECEIVE_QUEUE_BYTES) {
        controller.error(this.#readError.error);
      }
      return;
    }
    while (true) {
      if (this.#state === "reconnecting") {
        await this.#reconnecting;
        continue;
      }
      const conn = this.#conn;
      if (conn === null || this.#state === "closed") return;
      if ((controller.desiredSize ?? 0) <= 0) return;
      if (this.#rend > this.#rstart && !parseSliceLeft()) {
        const parsed = this.#parsedThisTurn;
        this.#parsedThisTurn = false;
        await waitForTurn(parsed);
        continue;
      }
      let target: Uint8Array;
      try {
        if (this.#framed ? this.#parseFrames() : this.#parseRaw()) {
          this.#parsedThisTurn = true;
          return;
        }
        target = this.#readTarget();
      } catch (error) {
        this.#finish(error);
        return;
      }
      let n: number | null;
      this.#reading = true;
      // Time spent waiting for the consumer is not the peer's silence: the
      // idle clock counts from the start of this read at the earliest.
      this.#lastActivity = this.#readSince = performance.now();
      try {
        n = await conn.read(target);
      } catch (error) {
        if (conn === this.#conn) this.#drop(error);
        continue;
      } finally {
        this.#reading = false;
        const now = performance.now();
        if (this.#rend > this.#rstart || this.#big !== null) {
          this.#partialWait += now - this.#readSince;
        }
        this.#readSince = 0;
      }
      if (conn !== this.#conn) continue;
      if (n === null) {
        this.#drop(null);
        continue;
      }
      this.#lastActivity = performance.now();
      this.#lastRead = n;
      const big = this.#big;
      if (big !== null) {
        this.#bigFilled += n;
        if (this.#bigFilled === this.#bigLength) {
          this.#big = null;
          this.#release(big.length);
          this.#partialWait = 0;
          this.#cost = Math.ceil(this.#bigLength * this.#decodedPerByte) + MESSAGE_COST;
          try {
            this.#reader.enqueue(this.#decode(big, true) as R);
          } catch (error) {
            this.#finish(error);
          }
          return;
        }
        if (this.#bigFilled === big.length) {
          // Memory follows the bytes that actually arrived, not the claim.
          const size = Math.min(this.#bigLength, big.length * 2);
          if (!this.#charge(size - big.length)) {
            this.#finish(this.#budgetError(size - big.length));
            return;
          }
          const grown = new Uint8Array(size);
          grown.set(big);
          this.#big = grown;
        }
        continue;
      }
      this.#rend += n;
      // Reads that fill the buffer mean a fast sender: read more per call
      // when the consumer keeps up (its queue is empty) and the server's
      // budget allows. Reading more for a slow consumer only holds more.
      const capacity = this.#rbuf.length;
      if (
        this.#rend === capacity && capacity < RECEIVE_BUFFER_MAX &&
        controller.desiredSize === RECEIVE_QUEUE_BYTES
      ) {
        const size = Math.min(capacity * 2, RECEIVE_BUFFER_MAX);
        if (this.#charge(size - capacity)) this.#resize(size);
      }
    }
  }

  /** Charges `bytes` to the server's budget; false when it is used up. */
  #charge(bytes: number): boolean {
    const budget = this.#settings.budget;
    if (budget !== undefined && !budget.take(bytes)) return false;
    this.#charged += bytes;
    return true;
  }

  #release(bytes: number): void {
    this.#charged -= bytes;
    this.#settings.budget?.give(bytes);
  }

  #budgetError(bytes: number): FramedRangeError {
    const { used, limit } = this.#settings.budget!;
    const size = used + bytes;
    return new FramedRangeError(
      "ERR_BUFFER_LIMIT",
      `Server receive buffers would hold ${size} bytes, over maxBufferedBytes of ${limit} bytes`,
      { size, limit },
    );
  }

  /** Replaces the receive buffer by one of `size` bytes (charged already), keeping the unparsed bytes. */
  #resize(size: number): void {
    const grown = new Uint8Array(size);
    grown.set(this.#rbuf.subarray(this.#rstart, this.#rend));
    this.#rend -= this.#rstart;
    this.#rstart = 0;
    this.#rbuf = grown;
  }

  /**
   * Where the next socket read goes: the big message's buffer, or the
   * receive buffer's free end (compacted, grown for the message it holds
   * the start of, or shrunk back when the traffic turned small).
   */
  #readTarget(): Uint8Array {
    const big = this.#big;
    if (big !== null) return big.subarray(this.#bigFilled);
    let buf = this.#rbuf;
    const unparsed = this.#rend - this.#rstart;
    if (unparsed === 0) {
      this.#rstart = this.#rend = 0;
      if (buf.length > RECEIVE_BUFFER_INITIAL && this.#lastRead < RECEIVE_BUFFER_INITIAL) {
        this.#release(buf.length - RECEIVE_BUFFER_INITIAL);
        this.#rbuf = buf = new Uint8Array(RECEIVE_BUFFER_INITIAL);
      }
      this.#partialWait = 0;
      return buf;
    }
    if (this.#framed) {
      // The buffer starts with an incomplete message: make room for all of it.
      const start = this.#rstart;
      let length = buf[start];
      let header = SHORT_HEADER_SIZE;
      if (length === LONG_LENGTH_MARKER) {
        length = unparsed < LONG_HEADER_SIZE ? 0 : readLongLength(buf, start);
        header = LONG_HEADER_SIZE;
      }
      const total = header + length;
      if (total > RECEIVE_BUFFER_MAX) {
        // Too big for the shared buffer: give it its own, read straight into
        // it, and let it grow as the bytes come (a bare header costs little).
        const size = Math.min(length, BIG_MESSAGE_INITIAL);
        if (!this.#charge(size)) throw this.#budgetError(size);
        const big = new Uint8Array(size);
        big.set(buf.subarray(start + header, this.#rend));
        this.#big = big;
        this.#bigLength = length;
        this.#bigFilled = unparsed - header;
        this.#rstart = this.#rend = 0;
        return big.subarray(this.#bigFilled);
      }
      if (total > buf.length) {
        let size = buf.length * 2;
        while (size < total) size *= 2;
        size = Math.min(size, RECEIVE_BUFFER_MAX);
        if (!this.#charge(size - buf.length)) throw this.#budgetError(size - buf.length);
        this.#resize(size);
        return this.#rbuf.subarray(this.#rend);
      }
    }
    if (this.#rend === buf.length || this.#rstart > 0) {
      buf.copyWithin(0, this.#rstart, this.#rend);
      this.#rend = unparsed;
      this.#rstart = 0;
    }
    return buf.subarray(this.#rend);
  }

  /**
   * Delivers whole frames from the receive buffer while the `readable`
   * queue has room; returns whether any was delivered.
   */
  #parseFrames(): boolean {
    const buf = this.#rbuf;
    const end = this.#rend;
    const limit = this.#receiveLimit;
    const reader = this.#reader;
    const perByte = this.#decodedPerByte;
    const first = this.#rstart;
    const pooled = this.#pooled;
    let pos = first;
    let delivered = 0;
    let slab: Uint8Array<ArrayBuffer> | null = null;
    let slabUsed = 0;
    while (pos < end && (reader.desiredSize ?? 0) > 0) {
      let length = buf[pos];
      let header = SHORT_HEADER_SIZE;
      if (length === LONG_LENGTH_MARKER) {
        if (end - pos < LONG_HEADER_SIZE) break;
        length = readLongLength(buf, pos);
        header = LONG_HEADER_SIZE;
      }
      if (length > limit) {
        this.#rstart = this.#rend = 0;
        throw tooLarge(length, limit);
      }
      const total = header + length;
      if (end - pos < total) break;
      this.#cost = length * perByte + MESSAGE_COST;
      let value: R;
      if (pooled && length <= SLAB_MESSAGE_MAX) {
        if (slab === null || slabUsed + length > slab.length) {
          slab = new Uint8Array(Math.min(SLAB_SIZE, Math.max(length, end - pos)));
          slabUsed = 0;
        }
        slab.set(buf.subarray(pos + header, pos + total), slabUsed);
        value = slab.subarray(slabUsed, slabUsed += length) as R;
      } else {
        value = this.#decode(buf.subarray(pos + header, pos + total), false) as R;
      }
      pos += total;
      this.#rstart = pos;
      reader.enqueue(value);
      delivered++;
    }
    this.#rstart = pos;
    if (pos === end) this.#rstart = this.#rend = 0;
    if (pos === first) return false;
    turnMessages += delivered;
    // What is left started arriving with the last read.
    this.#partialWait = 0;
    return true;
  }

  /** Delivers raw bytes from the receive buffer while the queue has room. */
  #parseRaw(): boolean {
    const start = this.#rstart;
    const end = this.#rend;
    if (start === end) return false;
    const reader = this.#reader;
    const chunk = this.#rbuf.subarray(start, end);
    const type = this.#settings.receiveType;
    if (isNumericType(type)) {
      const { size, read } = NUMERIC_CODECS[type];
      const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      let offset = 0;
      this.#cost = DECODED_NUMBER_SIZE + MESSAGE_COST;
      while (offset + size <= chunk.length && (reader.desiredSize ?? 0) > 0) {
        reader.enqueue(read(view, offset) as R);
        offset += size;
      }
      turnMessages += offset / size;
      this.#rstart = start + offset;
      if (this.#rstart === end) this.#rstart = this.#rend = 0;
      return offset > 0;
    }
    this.#rstart = this.#rend = 0;
    this.#cost = chunk.length + MESSAGE_COST;
    if (type === "string") {
      let text: string;
      try {
        text = this.#rawText!.decode(chunk, { stream: true });
      } catch (cause) {
        throw new FramedSyntaxError("ERR_INVALID_PAYLOAD", "Received bytes are not valid UTF-8", {
          cause,
        });
      }
      if (text.length === 0) return false;
      reader.enqueue(text as R);
      return true;
    }
    reader.enqueue(chunk.slice() as R);
    return true;
  }

  /** Raw-framing leftovers at the end of the stream are an error, not a silent loss. */
  #rawLeftover(): Error | null {
    const left = this.#rend - this.#rstart;
    if (left > 0) {
      return new FramedSyntaxError(
        "ERR_INVALID_PAYLOAD",
        `Stream ended inside a "${this.#settings.receiveType}" element (${left} bytes left over)`,
      );
    }
    if (this.#rawText) {
      try {
        const text = this.#rawText.decode();
        if (text.length > 0) {
          this.#cost = text.length + MESSAGE_COST;
          this.#reader.enqueue(text as R);
        }
      } catch (cause) {
        return new FramedSyntaxError(
          "ERR_INVALID_PAYLOAD",
          "Stream ended inside a UTF-8 character",
          { cause },
        );
      }
    }
    return null;
  }

  #resetReceive(): void {
    this.#rstart = this.#rend = 0;
    if (this.#big !== null) this.#release(this.#big.length);
    this.#big = null;
    this.#bigFilled = 0;
    this.#partialWait = 0;
    this.#rawText = !this.#framed && this.#settings.receiveType === "string"
      ? new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
      : null;
  }

  /** Gives every receive buffer back (the connection has ended). */
  #freeReceive(): void {
    this.#big = null;
    this.#rbuf = EMPTY;
    this.#rstart = this.#rend = 0;
    if (this.#charged !== 0) this.#release(this.#charged);
  }

  /** Ends `readable`, after whatever it already holds when there is an error. */
  #endReadable(error: unknown): void {
    try {
      if (error === null) {
        this.#reader.close();
      } else if (this.#reader.desiredSize === RECEIVE_QUEUE_BYTES) {
        this.#reader.error(error);
      } else {
        this.#readError = { error };
      }
    } catch {
      // Already closed or cancelled.
    }
  }

  // ---- sending ---------------------------------------------------------

  /** The batch's gather buffer, replaced by a bigger one when `size` bytes do not fit. */
  #room(batch: Batch, size: number): Uint8Array {
    const fill = batch.fill;
    if (fill !== null && batch.fillUsed + size <= fill.length) return fill;
    this.#seal(batch);
    if (fill !== null) batch.buffers.push(fill);
    // A burst that outgrew its buffer gets one twice as big, so the next
    // burst of the same size fits in one buffer (one write).
    const wanted = Math.min(
      Math.max(size, fill === null ? WRITE_BUFFER_INITIAL : fill.length * 2),
      WRITE_BUFFER_MAX,
    );
    let next = this.#spares.pop(); // the largest spare
    if (next === undefined || next.length < wanted) next = new Uint8Array(wanted);
    batch.fill = next;
    batch.fillStart = 0;
    batch.fillUsed = 0;
    return next;
  }

  /** Closes the gather buffer's current span into a segment. */
  #seal(batch: Batch): void {
    if (batch.fill !== null && batch.fillUsed > batch.fillStart) {
      batch.segments.push(batch.fill.subarray(batch.fillStart, batch.fillUsed));
      batch.sealed += batch.fillUsed - batch.fillStart;
      batch.fillStart = batch.fillUsed;
    }
  }

  /** An empty batch: the last one written, reused, or a new one. */
  #newBatch(): Batch {
    const promise = new Promise<void>(captureSettlers);
    const resolve = capturedResolve;
    const reject = capturedReject;
    const batch = this.#spareBatch;
    if (batch === null) {
      return {
        segments: [],
        buffers: [],
        fill: null,
        fillStart: 0,
        fillUsed: 0,
        count: 0,
        sealed: 0,
        promise,
        resolve,
        reject,
      };
    }
    this.#spareBatch = null;
    batch.promise = promise;
    batch.resolve = resolve;
    batch.reject = reject;
    return batch;
  }

  /** Puts `batch` on the direct path of `send()` (it must be pending, with a gather buffer). */
  #openFast(batch: Batch): void {
    this.#fast = batch;
    this.#fastFill = batch.fill;
    this.#fastEnd = batch.fill!.length;
    this.#fastUsed = batch.fillUsed;
    this.#fastCount = 0;
    this.#fastPromise = batch.promise;
  }

  /** Returns a written (or never used) batch's buffers to the spares and keeps the batch for reuse. */
  #reuse(batch: Batch): void {
    this.#recycle(batch);
    // (Setting an array's length is a runtime call: skip it when empty.)
    if (batch.segments.length !== 0) batch.segments.length = 0;
    if (batch.buffers.length !== 0) batch.buffers.length = 0;
    batch.fill = null;
    batch.fillStart =
      batch.fillUsed =
      batch.count =
      batch.sealed =
        0;
    this.#spareBatch = batch;
  }

  /**
   * Ends the direct path, and forgets `batch` if it is the pending batch and
   * no send joined it (a batch the writer opened for sends that did not come).
   */
  #dropIfEmpty(batch: Batch): void {
    this.#foldFast();
    if (this.#pending === batch && batch.count === 0) {
      this.#pending = null;
      this.#reuse(batch);
    }
  }

  /** Ends the direct path of `send()`, writing its state back into the batch. */
  #foldFast(): void {
    const batch = this.#fast;
    if (batch === null) return;
    batch.fillUsed = this.#fastUsed;
    batch.count += this.#fastCount;
    this.#fast = null;
    this.#fastFill = null;
    this.#fastPromise = null;
  }

  /**
   * Writes queued batches until none is left; one batch at a time. With
   * `later`, it starts a microtask later, once the current task's sends
   * have joined the batch.
   */
  async #pump(later = false): Promise<void> {
    if (later) await undefined;
    try {
      while (this.#pending !== null && this.#conn !== null && this.#state !== "reconnecting") {
        const conn = this.#conn;
        const batch = this.#pending;
        this.#pending = null;
        this.#foldFast();
        this.#lastBatchSize = batch.count;
        this.#inflightCost = batchCost(batch);
        try {
          const segments = batch.segments;
          for (let i = 0; i < segments.length; i++) {
            const segment = segments[i];
            let offset = 0;
            while (offset < segment.length) {
              this.#writeSince = WRITE_STARTED;
              offset += await conn.write(offset === 0 ? segment : segment.subarray(offset));
            }
          }
          // The unsealed span of the gather buffer is written last, through
          // a view kept from the previous batch when it spans the same bytes
          // (a burst after a burst of the same size: no view made per batch).
          if (batch.fill !== null && batch.fillUsed > batch.fillStart) {
            const span = this.#spanOf(batch.fill, batch.fillStart, batch.fillUsed);
            let offset = 0;
            while (offset < span.length) {
              this.#writeSince = WRITE_STARTED;
              offset += await conn.write(offset === 0 ? span : span.subarray(offset));
            }
          }
          this.#writeSince = 0;
          this.#wrote = true;
          this.#inflightCost = 0;
          batch.resolve();
          this.#reuse(batch);
          if (this.#pending === null && this.#fastLimit >= 0 && this.#state === "open") {
            // Whoever awaited that batch is likely to send again right away:
            // give them a batch on the direct path and one microtask to fill
            // it, so a burst after a burst (or a send after an awaited send)
            // skips `#sendAny` and this loop goes on writing.
            const next = this.#pending = this.#newBatch();
            this.#room(next, 0);
            this.#openFast(next);
            await undefined;
            this.#dropIfEmpty(next);
          }
        } catch (error) {
          this.#writeSince = 0;
          this.#inflightCost = 0;
          rejectBatch(
            batch,
            new FramedError("ERR_CONNECTION_CLOSED", "Connection is closed", { cause: error }),
          );
          if (conn === this.#conn) this.#drop(error);
          break;
        }
      }
    } finally {
      this.#writing = false;
      const pending = this.#pending;
      if (pending !== null) this.#dropIfEmpty(pending);
      if ((this.#pending === null || this.#conn === null) && this.#drainWaiters.length > 0) {
        const waiters = this.#drainWaiters;
        this.#drainWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  /** `buffer.subarray(start, end)`, or the same view as last time when it spans the same bytes. */
  #spanOf(buffer: Uint8Array, start: number, end: number): Uint8Array {
    if (this.#spanBuffer === buffer && this.#spanStart === start && this.#spanEnd === end) {
      return this.#span!;
    }
    this.#spanBuffer = buffer;
    this.#spanStart = start;
    this.#spanEnd = end;
    return this.#span = buffer.subarray(start, end);
  }

  /** Keeps the largest written buffers as spares, smallest first. */
  #recycle(batch: Batch): void {
    const buffers = batch.buffers;
    for (let i = 0; i < buffers.length; i++) this.#spare(buffers[i]);
    if (batch.fill !== null) this.#spare(batch.fill);
  }

  /** Keeps `buffer` if it is among the largest {@linkcode SPARE_BUFFERS} seen. */
  #spare(buffer: Uint8Array): void {
    const spares = this.#spares;
    // Ascending by size, kept by insertion (no comparator calls).
    if (spares.length < SPARE_BUFFERS) {
      spares.push(buffer);
      for (let i = spares.length - 1; i > 0 && spares[i - 1].length > spares[i].length; i--) {
        [spares[i - 1], spares[i]] = [spares[i], spares[i - 1]];
      }
    } else if (buffer.length > spares[0].length) {
      spares[0] = buffer;
      for (let i = 0; i + 1 < spares.length && spares[i].length > spares[i + 1].length; i++) {
        [spares[i], spares[i + 1]] = [spares[i + 1], spares[i]];
      }
    }
  }

  /** What the send queue holds: the batch being written and the one filling. */
  #queued(): number {
    const pending = this.#pending;
    if (pending === null) return this.#inflightCost;
    const direct = this.#fast === pending
      ? this.#fastUsed - pending.fillUsed + this.#fastCount * MESSAGE_COST
      : 0;
    return this.#inflightCost + batchCost(pending) + direct;
  }

  #drain(): Promise<void> {
    if (!this.#writing && this.#pending === null) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  // ---- lifetime --------------------------------------------------------

  /**
   * Checks every time limit (called by the shared sweep): `idleTimeout` (no
   * traffic while we wait on the peer), `messageTimeout` (an incomplete
   * message while we wait on the peer) and `sendTimeout` (a write the peer
   * does not take).
   */
  [CHECK_LIMITS](now: number): void {
    const state = this.#state;
    if (state !== "open" && state !== "closing") return;
    const { idleTimeout, messageTimeout, sendTimeout } = this.#settings;
    // Not reading means the consumer is behind, not that the peer is silent.
    if (!this.#reading || this.#wrote) this.#lastActivity = now;
    this.#wrote = false;
    if (this.#writeSince === WRITE_STARTED) this.#writeSince = now;
    if (idleTimeout > 0 && now - this.#lastActivity >= idleTimeout) {
      this.#finish(
        new DOMException(`idleTimeout: connection was idle for ${idleTimeout} ms`, "TimeoutError"),
      );
    } else if (
      messageTimeout > 0 && this.#readSince > 0 && (this.#rend > this.#rstart || this.#big) &&
      now - this.#readSince + this.#partialWait >= messageTimeout
    ) {
      this.#finish(
        new DOMException(
          `messageTimeout: a message stayed incomplete for ${messageTimeout} ms`,
          "TimeoutError",
        ),
      );
    } else if (sendTimeout > 0 && this.#writeSince > 0 && now - this.#writeSince >= sendTimeout) {
      this.#finish(
        new DOMException(
          `sendTimeout: the peer took nothing we sent for ${sendTimeout} ms`,
          "TimeoutError",
        ),
      );
    }
  }

  /** The socket ended without `close()`: reconnect, or end the connection. */
  #drop(error: unknown): void {
    if (this.#state !== "open") return;
    if (this.#settings.redial) {
      this.#startReconnect();
      return;
    }
    this.#finish(
      error === null ? this.#framed ? this.#framedLeftover() : this.#rawLeftover() : error,
    );
  }

  #framedLeftover(): Error | null {
    if (this.#rend > this.#rstart || this.#big) {
      return new FramedSyntaxError("ERR_INVALID_PAYLOAD", "Stream ended inside a message");
    }
    return null;
  }

  #startReconnect(): void {
    this.#state = "reconnecting";
    this.#foldFast();
    const old = this.#conn;
    this.#conn = null;
    try {
      old?.close();
    } catch {
      // Already closed by the failure that brought us here.
    }
    this.#resetReceive();
    const abort = new AbortController();
    this.#reconnectAbort = abort;
    this.#reconnecting = this.#settings.redial!(abort.signal).then((conn) => {
      if (this.#state !== "reconnecting") {
        conn.close();
        return;
      }
      this.#conn = conn;
      this.#remoteAddr = conn.remoteAddr as Deno.NetAddr;
      this.#localAddr = conn.localAddr as Deno.NetAddr;
      this.#state = "open";
      this.#lastActivity = performance.now();
      if (this.#pending !== null && !this.#writing) {
        this.#writing = true;
        this.#pump();
      }
    }, (error) => {
      if (this.#state === "reconnecting") this.#finish(error);
    });
  }

  #closedError(): FramedError {
    return new FramedError(
      "ERR_CONNECTION_CLOSED",
      "Connection is closed",
      this.#error === undefined ? undefined : { cause: this.#error },
    );
  }

  /** Ends everything; `error` null means a normal close. */
  #finish(error: unknown): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#foldFast();
    this.#error = error ?? undefined;
    unwatch(this);
    this.#writeSince = 0;
    if (this.#onAbort) this.#settings.signal?.removeEventListener("abort", this.#onAbort);
    this.#reconnectAbort?.abort();
    const conn = this.#conn;
    this.#conn = null;
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
    const pending = this.#pending;
    this.#pending = null;
    if (pending !== null) {
      rejectBatch(pending, this.#closedError());
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
    this.#span = this.#spanBuffer = null;
    this.#freeReceive();
    this.#endReadable(error);
    this.#settings.onEnd?.(this as unknown as FramedConnection<never, unknown>);
    if (error === null) this.#settle.resolve();
    else this.#settle.reject(error);
  }
}
