/**
 * The engine behind {@linkcode FramedConnection}: a receive loop that parses
 * frames out of one reusable buffer, and a writer that gathers every queued
 * frame into as few socket writes as it can.
 *
 * @module
 */

import type { FramedConnection, PeerCertificate } from "./connection.ts";
import { type Decoder, decoderFor, type Encoder, encoderFor, NUMERIC_CODECS } from "./_codec.ts";
import {
  ConnectionClosedError,
  InvalidPayloadError,
  MessageTooLargeError,
  NotConnectedError,
  UnsentQueueFullError,
} from "./errors.ts";
import type { MessageType, NumericType } from "./types.ts";
import {
  headerSize,
  LONG_HEADER_SIZE,
  LONG_LENGTH_MARKER,
  readLongLength,
  SHORT_HEADER_SIZE,
  SHORT_LENGTH_LIMIT,
  writeHeader,
} from "./_wire.ts";
import { isNumericType } from "./_codec.ts";

/**
 * Socket reads land in one buffer per connection. It starts small and grows
 * (up to the maximum) while reads keep filling it or a message needs the
 * room; messages larger than the maximum get a buffer of their own that the
 * socket reads straight into.
 */
const RECEIVE_BUFFER_INITIAL = 64 * 1024;
const RECEIVE_BUFFER_MAX = 256 * 1024;
/** First allocation for a message above that; it doubles as the payload arrives. */
const BIG_MESSAGE_INITIAL = 1024 * 1024;
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
/** Bytes queued behind the socket before `writable` pushes back. */
const WRITABLE_HIGH_WATER_MARK = 256 * 1024;
/** How long `close()` waits for queued messages to reach a peer that does not read. */
export const CLOSE_LINGER = 10_000;

/**
 * The socket surface the engine needs: `Deno.Conn` has it, and so does the
 * `node:tls` adapter used for client-certificate servers.
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
  maxUnsentMessages: number;
  discardMessagesBeforeOpen: boolean;
  signal?: AbortSignal;
  /** Opens a replacement socket after a drop (client with `reconnect.onDrop`). */
  redial?: (signal: AbortSignal) => Promise<ByteConn>;
}

/** Messages queued together; they are written together and settle together. */
interface Batch {
  /** Byte ranges to write, in order: spans of gather buffers and large payloads. */
  segments: Uint8Array[];
  /** Gather buffers this batch fills; they return to the spares once written. */
  buffers: Uint8Array[];
  /** The gather buffer being filled and where its unsealed span starts. */
  fill: Uint8Array | null;
  fillStart: number;
  fillUsed: number;
  count: number;
  bytes: number;
  promise: Promise<void>;
  resolve: () => void;
  reject: (reason: unknown) => void;
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
  readonly writable: WritableStream<S>;
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

  // Receiving.
  #reader!: ReadableStreamDefaultController<R>;
  #delivered = 0;
  #reading = false;
  #readError: { error: unknown } | null = null;
  #rbuf = new Uint8Array(RECEIVE_BUFFER_INITIAL);
  #rend = 0;
  #big: Uint8Array<ArrayBuffer> | null = null;
  #bigFilled = 0;
  #bigLength = 0;
  #rawText: TextDecoder | null = null;
  #rawCarry: Uint8Array | null = null;

  // Sending.
  #pending: Batch | null = null;
  /**
   * The pending batch while `send()` may append to it directly: the
   * connection is open, its write is scheduled and it has a gather buffer.
   * Null whenever any of that stops being true.
   */
  #fast: Batch | null = null;
  /**
   * The largest payload the direct path takes: a `Uint8Array` that fits the
   * one-byte header and `maxMessageSize`; -1 when the send type or framing
   * needs the encoder.
   */
  #fastLimit: number;
  #queuedBytes = 0;
  #writing = false;
  #lastBatchSize = 1;
  #spares: Uint8Array[] = [];
  #drainWaiters: (() => void)[] = [];
  #writer!: WritableStreamDefaultController;

  // Timers and lifetime.
  #lastActivity = performance.now();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
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
      pull: (controller) => this.#pull(controller),
      cancel: () => this.close(),
    }, { highWaterMark: 1 });

    this.writable = new WritableStream<S>({
      start: (controller) => {
        this.#writer = controller;
      },
      write: (chunk) => {
        const sent = this.send(chunk);
        if (this.#state !== "open" && this.#state !== "reconnecting") return sent;
        if (this.#queuedBytes > WRITABLE_HIGH_WATER_MARK) return sent;
        sent.catch((error) => this.#writer.error(error));
      },
      close: () => this.close(),
      abort: (reason) => this.#finish(reason ?? new DOMException("Aborted", "AbortError")),
    });

    if (settings.idleTimeout > 0) {
      this.#idleTimer = setTimeout(this.#checkIdle, settings.idleTimeout);
    }
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
    const batch = this.#fast;
    if (batch !== null && value instanceof Uint8Array) {
      const length = value.length;
      const fill = batch.fill!;
      const used = batch.fillUsed;
      const end = used + SHORT_HEADER_SIZE + length;
      if (length <= this.#fastLimit && end <= fill.length) {
        fill[used] = length;
        fill.set(value, used + SHORT_HEADER_SIZE);
        batch.fillUsed = end;
        batch.count++;
        batch.bytes += length;
        this.#queuedBytes += length;
        return batch.promise;
      }
    }
    return this.#sendAny(value);
  }

  #sendAny(value: S): Promise<void> {
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
      return Promise.reject(error);
    }
    const limit = this.#settings.maxMessageSize;
    if (this.#framed && payload.length > limit) {
      return Promise.reject(new MessageTooLargeError(payload.length, limit));
    }
    if (state === "reconnecting") {
      if (this.#settings.discardMessagesBeforeOpen) {
        return Promise.reject(new NotConnectedError());
      }
      if ((this.#pending?.count ?? 0) >= this.#settings.maxUnsentMessages) {
        return Promise.reject(new UnsentQueueFullError(this.#settings.maxUnsentMessages));
      }
    }
    let batch = this.#pending;
    if (batch === null) {
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      // A send nobody awaits must not crash the program when the connection
      // dies; `closed` reports that. Awaiting it still throws.
      promise.catch(() => {});
      batch = this.#pending = {
        segments: [],
        buffers: [],
        fill: null,
        fillStart: 0,
        fillUsed: 0,
        count: 0,
        bytes: 0,
        promise,
        resolve,
        reject,
      };
    }
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
    }
    batch.count++;
    batch.bytes += length;
    this.#queuedBytes += length;
    if (!this.#writing && state === "open") {
      this.#writing = true;
      // A caller that awaits each send gets its write started at once; after
      // a burst, wait a microtask so every send of the task joins the batch.
      if (this.#lastBatchSize === 1) this.#pump();
      else queueMicrotask(this.#pumpTask);
    }
    if (
      this.#fastLimit >= 0 && this.#writing && this.#state === "open" &&
      this.#pending === batch && batch.fill !== null
    ) {
      this.#fast = batch;
    }
    return batch.promise;
  }

  async close(): Promise<void> {
    if (this.#state === "reconnecting") {
      this.#finish(null);
    } else if (this.#state === "open") {
      this.#state = "closing";
      this.#fast = null;
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

  async #pull(controller: ReadableStreamDefaultController<R>): Promise<void> {
    if (this.#readError) {
      controller.error(this.#readError.error);
      return;
    }
    const before = this.#delivered;
    // Time spent waiting for the consumer is not the peer's silence.
    if (!this.#reading) this.#lastActivity = performance.now();
    while (this.#delivered === before) {
      if (this.#state === "reconnecting") {
        await this.#reconnecting;
        continue;
      }
      const conn = this.#conn;
      if (conn === null || this.#state === "closed") return;
      const big = this.#big;
      let n: number | null;
      this.#reading = true;
      try {
        n = await conn.read(
          big ? big.subarray(this.#bigFilled) : this.#rbuf.subarray(this.#rend),
        );
      } catch (error) {
        if (conn === this.#conn) this.#drop(error);
        continue;
      } finally {
        this.#reading = false;
      }
      if (conn !== this.#conn) continue;
      if (n === null) {
        this.#drop(null);
        continue;
      }
      this.#lastActivity = performance.now();
      try {
        if (big) {
          this.#bigFilled += n;
          if (this.#bigFilled === this.#bigLength) {
            this.#big = null;
            this.#deliver(big, true);
          } else if (this.#bigFilled === big.length) {
            // Memory follows the bytes that actually arrived, not the claim.
            const grown = new Uint8Array(Math.min(this.#bigLength, big.length * 2));
            grown.set(big);
            this.#big = grown;
          }
        } else if (this.#framed) {
          const filled = this.#rend + n === this.#rbuf.length;
          this.#rend += n;
          this.#parseFrames();
          // Reads that fill the buffer mean a fast sender: read more per call.
          if (filled && this.#rbuf.length < RECEIVE_BUFFER_MAX && this.#big === null) {
            this.#growReceiveBuffer(this.#rbuf.length * 2, 0, this.#rend);
          }
        } else {
          this.#receiveRaw(n);
        }
      } catch (error) {
        this.#finish(error);
        return;
      }
    }
  }

  #deliver(payload: Uint8Array<ArrayBuffer>, owned: boolean): void {
    const value = this.#decode(payload, owned) as R;
    this.#reader.enqueue(value);
    this.#delivered++;
  }

  /** Delivers every whole frame in the receive buffer and keeps the rest. */
  #parseFrames(): void {
    const buf = this.#rbuf;
    const end = this.#rend;
    const limit = this.#settings.maxMessageSize;
    let pos = 0;
    while (pos < end) {
      let length = buf[pos];
      let header = SHORT_HEADER_SIZE;
      if (length === LONG_LENGTH_MARKER) {
        if (end - pos < LONG_HEADER_SIZE) break;
        length = readLongLength(buf, pos);
        header = LONG_HEADER_SIZE;
      }
      if (length > limit) {
        this.#rend = 0;
        throw new MessageTooLargeError(length, limit);
      }
      const total = header + length;
      if (end - pos >= total) {
        this.#deliver(buf.subarray(pos + header, pos + total), false);
        pos += total;
        continue;
      }
      if (total > buf.length) {
        if (total <= RECEIVE_BUFFER_MAX) {
          this.#growReceiveBuffer(total, pos, end);
          return;
        }
        // Too big for the shared buffer: give it its own, read straight into
        // it, and let it grow as the bytes come (a bare header costs little).
        const big = new Uint8Array(Math.min(length, BIG_MESSAGE_INITIAL));
        big.set(buf.subarray(pos + header, end));
        this.#big = big;
        this.#bigLength = length;
        this.#bigFilled = end - pos - header;
        pos = end;
      }
      break;
    }
    if (pos === end) {
      this.#rend = 0;
    } else {
      buf.copyWithin(0, pos, end);
      this.#rend = end - pos;
    }
  }

  /** Replaces the receive buffer by one of at least `size` bytes, keeping `[from, to)`. */
  #growReceiveBuffer(size: number, from: number, to: number): void {
    let capacity = this.#rbuf.length * 2;
    while (capacity < size) capacity *= 2;
    const grown = new Uint8Array(Math.min(capacity, RECEIVE_BUFFER_MAX));
    grown.set(this.#rbuf.subarray(from, to));
    this.#rbuf = grown;
    this.#rend = to - from;
  }

  #receiveRaw(n: number): void {
    const chunk = this.#rbuf.subarray(0, n);
    const type = this.#settings.receiveType;
    if (type === "string") {
      let text: string;
      try {
        text = this.#rawText!.decode(chunk, { stream: true });
      } catch (cause) {
        throw new InvalidPayloadError("Received bytes are not valid UTF-8", { cause });
      }
      if (text.length > 0) {
        this.#reader.enqueue(text as R);
        this.#delivered++;
      }
      return;
    }
    if (isNumericType(type)) {
      this.#receiveRawNumbers(type, chunk);
      return;
    }
    this.#reader.enqueue(chunk.slice() as R);
    this.#delivered++;
  }

  #receiveRawNumbers(type: NumericType, chunk: Uint8Array): void {
    const { size, read } = NUMERIC_CODECS[type];
    let bytes = chunk;
    if (this.#rawCarry) {
      bytes = new Uint8Array(this.#rawCarry.length + chunk.length);
      bytes.set(this.#rawCarry);
      bytes.set(chunk, this.#rawCarry.length);
      this.#rawCarry = null;
    }
    const whole = bytes.length - (bytes.length % size);
    const view = new DataView(bytes.buffer, bytes.byteOffset, whole);
    for (let offset = 0; offset < whole; offset += size) {
      this.#reader.enqueue(read(view, offset) as R);
      this.#delivered++;
    }
    if (whole < bytes.length) this.#rawCarry = bytes.slice(whole);
  }

  /** Raw-framing leftovers at the end of the stream are an error, not a silent loss. */
  #rawLeftover(): Error | null {
    if (this.#rawCarry) {
      return new InvalidPayloadError(
        `Stream ended inside a "${this.#settings.receiveType}" element (${this.#rawCarry.length} bytes left over)`,
      );
    }
    if (this.#rawText) {
      try {
        const text = this.#rawText.decode();
        if (text.length > 0) {
          this.#reader.enqueue(text as R);
          this.#delivered++;
        }
      } catch (cause) {
        return new InvalidPayloadError("Stream ended inside a UTF-8 character", { cause });
      }
    }
    return null;
  }

  #resetReceive(): void {
    this.#rend = 0;
    this.#big = null;
    this.#bigFilled = 0;
    this.#rawCarry = null;
    this.#rawText = !this.#framed && this.#settings.receiveType === "string"
      ? new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
      : null;
  }

  /** Ends `readable`, after whatever it already holds when there is an error. */
  #endReadable(error: unknown): void {
    try {
      if (error === null) {
        this.#reader.close();
      } else if ((this.#reader.desiredSize ?? 0) > 0) {
        this.#reader.error(error);
      } else {
        this.#readError = { error };
      }
    } catch {
      // Already closed or cancelled.
    }
  }

  // ---- sending ---------------------------------------------------------

  #pumpTask = (): void => {
    this.#pump();
  };

  /** The batch's gather buffer, replaced by a bigger one when `size` bytes do not fit. */
  #room(batch: Batch, size: number): Uint8Array {
    const fill = batch.fill;
    if (fill !== null && batch.fillUsed + size <= fill.length) return fill;
    this.#seal(batch);
    // A burst that outgrew its buffer gets one twice as big, so the next
    // burst of the same size fits in one buffer (one write).
    const wanted = Math.min(
      Math.max(size, fill === null ? WRITE_BUFFER_INITIAL : fill.length * 2),
      WRITE_BUFFER_MAX,
    );
    let next = this.#spares.pop(); // the largest spare
    if (next === undefined || next.length < wanted) next = new Uint8Array(wanted);
    batch.buffers.push(next);
    batch.fill = next;
    batch.fillStart = 0;
    batch.fillUsed = 0;
    return next;
  }

  /** Closes the gather buffer's current span into a segment. */
  #seal(batch: Batch): void {
    if (batch.fill !== null && batch.fillUsed > batch.fillStart) {
      batch.segments.push(batch.fill.subarray(batch.fillStart, batch.fillUsed));
      batch.fillStart = batch.fillUsed;
    }
  }

  /** Writes queued batches until none is left; one batch at a time. */
  async #pump(): Promise<void> {
    try {
      while (this.#pending !== null && this.#conn !== null && this.#state !== "reconnecting") {
        const conn = this.#conn;
        const batch = this.#pending;
        this.#pending = null;
        this.#fast = null;
        this.#lastBatchSize = batch.count;
        this.#seal(batch);
        try {
          for (const segment of batch.segments) {
            let offset = await conn.write(segment);
            while (offset < segment.length) offset += await conn.write(segment.subarray(offset));
          }
          this.#lastActivity = performance.now();
          this.#queuedBytes -= batch.bytes;
          this.#recycle(batch);
          batch.resolve();
        } catch (error) {
          this.#queuedBytes -= batch.bytes;
          batch.reject(new ConnectionClosedError({ cause: error }));
          if (conn === this.#conn) this.#drop(error);
          break;
        }
      }
    } finally {
      this.#writing = false;
      this.#fast = null;
      if (this.#pending === null || this.#conn === null) {
        const waiters = this.#drainWaiters;
        this.#drainWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  /** Keeps the largest written buffers as spares, smallest first. */
  #recycle(batch: Batch): void {
    const spares = this.#spares;
    // Ascending by size, kept by insertion (no comparator calls).
    for (const buffer of batch.buffers) {
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
  }

  #drain(): Promise<void> {
    if (!this.#writing && this.#pending === null) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  // ---- lifetime --------------------------------------------------------

  #checkIdle = (): void => {
    const idle = this.#settings.idleTimeout;
    const now = performance.now();
    // Not reading means the consumer is behind, not that the peer is silent.
    if (!this.#reading && this.#state === "open") this.#lastActivity = now;
    const quiet = now - this.#lastActivity;
    if (quiet >= idle) {
      this.#idleTimer = undefined;
      this.#finish(new DOMException(`Connection was idle for ${idle} ms`, "TimeoutError"));
    } else {
      this.#idleTimer = setTimeout(this.#checkIdle, idle - quiet);
    }
  };

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
    if (this.#rend > 0 || this.#big) {
      return new InvalidPayloadError("Stream ended inside a message");
    }
    return null;
  }

  #startReconnect(): void {
    this.#state = "reconnecting";
    this.#fast = null;
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

  #closedError(): ConnectionClosedError {
    return new ConnectionClosedError(
      this.#error === undefined ? undefined : { cause: this.#error },
    );
  }

  /** Ends everything; `error` null means a normal close. */
  #finish(error: unknown): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#fast = null;
    this.#error = error ?? undefined;
    clearTimeout(this.#idleTimer);
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
      pending.reject(this.#closedError());
      this.#queuedBytes -= pending.bytes;
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
    this.#endReadable(error);
    if (error === null) this.#settle.resolve();
    else this.#settle.reject(error);
  }
}
