/**
 * The receiving half of the rfc6455 engine: reads TCP into a reusable
 * buffer, parses and checks frames, reassembles (and inflates) messages and
 * queues them on `readable`, within the connection's limits (message size,
 * fragments, the server's byte budget, `messageTimeout`) and with TCP
 * backpressure: it reads only while `readable` has room. Control frames and
 * failures go to the socket (`ReceiverHost`), which owns the connection's
 * state and the close handshake. Private to the module.
 *
 * @module
 */

import { type ByteBudget, serverBusy, type Slots } from "./_budget.ts";
import type { DeflateCodec } from "./_deflate.ts";
import { concat } from "./_deflate.ts";
import {
  applyMask,
  type ByteStream,
  CLOSE_ABNORMAL,
  CLOSE_INTERNAL_ERROR,
  CLOSE_INVALID_PAYLOAD,
  CLOSE_MESSAGE_TOO_BIG,
  CLOSE_POLICY_VIOLATION,
  CLOSE_PROTOCOL_ERROR,
  type FrameHeader,
  MAX_CONTROL_PAYLOAD,
  MAX_HEADER_SIZE,
  newHeader,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PONG,
  OPCODE_TEXT,
  parseHeader,
  RSV1,
} from "./_frame.ts";
import {
  type WebSocketClosingError,
  WebSocketError,
  type WebSocketErrorCode,
  WebSocketRangeError,
  WebSocketSyntaxError,
} from "./errors.ts";

/** The outcome of a connection: the close code and reason (1006 when TCP was lost). */
export interface CloseInfo {
  /** Close code received from (or, on a protocol failure, sent to) the peer. */
  code: number;
  /** Close reason (UTF-8 decoded). */
  reason: string;
}

/** What the receiver needs from its socket: the close-handshake state, and where frames go. */
export interface ReceiverHost {
  readyState(): 0 | 1 | 2 | 3;
  /** We sent our close frame. */
  closeSent(): boolean;
  /** The peer's close frame, once it came. */
  closeReceived(): CloseInfo | null;
  /** The close we reported when we failed the connection. */
  failure(): CloseInfo | null;
  /** Fails the connection with `err`'s close code. */
  fail(err: WebSocketClosingError): void;
  /** Ends the connection (TCP gone). */
  finish(info: CloseInfo): void;
  /** A ping, pong or close frame arrived. */
  control(opcode: number, payload: Uint8Array): void;
  /** The application cancelled `readable`. */
  cancel(): void;
}

/** The receive limits of one connection. */
export interface ReceiverOptions {
  client: boolean;
  maxMessageSize: number;
  maxFragments: number;
  messageTimeout: number;
  budget: ByteBudget | null;
  slots: Slots | null;
  codec: DeflateCodec | null;
  leftover: Uint8Array;
}

const EMPTY = new Uint8Array(0);
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

/** Reads, checks and reassembles the frames of one connection. */
export class Receiver {
  #conn: ByteStream;
  #host: ReceiverHost;
  #client: boolean;
  #maxMessageSize: number;
  #codec: DeflateCodec | null;
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

  /** Starts reading `conn` (after the handshake; `leftover` came with the head). */
  constructor(conn: ByteStream, options: ReceiverOptions, host: ReceiverHost) {
    const { client, maxMessageSize, maxFragments, messageTimeout, budget, slots, codec, leftover } =
      options;
    this.#conn = conn;
    this.#host = host;
    this.#client = client;
    this.#maxMessageSize = Math.min(maxMessageSize, MAX_MESSAGE_SIZE_CAP);
    this.#maxFragments = maxFragments;
    this.#messageTimeout = messageTimeout;
    this.#budget = budget;
    this.#slots = slots;
    this.#codec = codec;
    this.#buf = new Uint8Array(Math.max(IDLE_BUFFER, leftover.length));
    this.#buf.set(leftover);
    this.#end = leftover.length;
    this.#readable = new ReadableStream<string | Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#pumpOnce(),
      cancel: () => {
        this.#readableOpen = false;
        host.cancel();
      },
    }, {
      highWaterMark: READ_AHEAD,
      size: (message) => message.length + MESSAGE_WEIGHT,
    });
  }

  /** The messages, in order (see `Rfc6455Socket.readable`). */
  get readable(): ReadableStream<string | Uint8Array> {
    return this.#readable;
  }

  /** Reads on regardless of the application (the close handshake must see the peer's close frame). */
  keepReading(): void {
    this.#draining = true;
  }

  /** Reads until the connection is closed, regardless of the application. */
  drain(): Promise<void> {
    return this.#drain();
  }

  /** Reads no more. */
  stop(): void {
    this.#readDone = true;
  }

  /** Forgets the message being reassembled (the connection failed). */
  discardMessage(): void {
    this.#msgChunks = [];
    this.#msgText = [];
    this.#tail = null;
    this.#tailAt = 0;
  }

  /** The connection is closed: stops timers, gives the budget back, ends `readable`. */
  end(): void {
    this.#readDone = true;
    if (this.#messageTimer !== undefined) {
      clearTimeout(this.#messageTimer);
      this.#messageTimer = undefined;
    }
    if (this.#held > 0) {
      this.#budget?.release(this.#held);
      this.#held = 0;
    }
    if (this.#readableOpen) {
      this.#readableOpen = false;
      try {
        this.#controller.close();
      } catch { /* already closed or cancelled */ }
    }
  }

  #pumpOnce(): Promise<void> {
    if (this.#pumping === null) {
      this.#pumping = this.#pump().catch((err) => {
        // A bug must not leave the socket open with a dead reader.
        this.#host.fail(
          new WebSocketError("ERR_INTERNAL", `Internal error: ${(err as Error)?.message ?? err}`, {
            closeCode: CLOSE_INTERNAL_ERROR,
            cause: err,
          }),
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
    while (this.#host.readyState() !== 3 && !this.#readDone) {
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
        this.#host.fail(problem);
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
        this.#host.closeSent() && this.#host.closeReceived() === null &&
        h.opcode !== OPCODE_CLOSE &&
        ++this.#framesAfterClose > CLOSE_DRAIN_FRAMES
      ) {
        // Still no close frame: a flood of (empty) frames gets no more of our CPU.
        this.#readDone = true;
        this.#host.finish(this.#host.failure() ?? { code: CLOSE_ABNORMAL, reason: "" });
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
      this.#host.fail(
        new WebSocketRangeError(
          "ERR_MESSAGE_TOO_LARGE",
          `Cannot allocate a message of "${claimed}" bytes`,
          { closeCode: CLOSE_MESSAGE_TOO_BIG, size: claimed },
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
    if (n !== null && this.#host.closeSent() && this.#host.closeReceived() === null) {
      // Waiting for the peer's close frame, we read only to find it: a peer
      // that keeps streaming data instead gets CLOSE_DRAIN_LIMIT bytes, not our CPU.
      this.#drainedAfterClose += n;
      if (this.#drainedAfterClose > CLOSE_DRAIN_LIMIT) n = null;
    }
    if (n === null) {
      this.#readDone = true;
      const received = this.#host.closeReceived();
      this.#host.finish(
        received && this.#host.closeSent()
          ? received
          : this.#host.failure() ?? { code: CLOSE_ABNORMAL, reason: "" },
      );
      return null;
    }
    return n;
  }

  #checkHeader(h: FrameHeader): WebSocketClosingError | null {
    const op = h.opcode;
    const violation = (code: WebSocketErrorCode, message: string) =>
      new WebSocketSyntaxError(code, message, { closeCode: CLOSE_PROTOCOL_ERROR });
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
        return new WebSocketRangeError(
          "ERR_CONTROL_TOO_LARGE",
          `Control frame payload of "${h.length}" bytes exceeds ${MAX_CONTROL_PAYLOAD}`,
          { closeCode: CLOSE_PROTOCOL_ERROR, size: h.length, limit: MAX_CONTROL_PAYLOAD },
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
      return new WebSocketRangeError(
        "ERR_TOO_MANY_FRAGMENTS",
        `Message exceeds the limit of "${this.#maxFragments}" fragments`,
        { closeCode: CLOSE_MESSAGE_TOO_BIG, limit: this.#maxFragments },
      );
    }
    const so = op === OPCODE_CONTINUATION ? this.#msgLength : 0;
    if (h.length > this.#maxMessageSize - so) {
      return new WebSocketRangeError(
        "ERR_MESSAGE_TOO_LARGE",
        `Message exceeds the limit of "${this.#maxMessageSize}" bytes`,
        { closeCode: CLOSE_MESSAGE_TOO_BIG, size: so + h.length, limit: this.#maxMessageSize },
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
    if (opcode >= 8) return this.#host.control(opcode, payload);
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
          return this.failUtf8();
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
        return this.failUtf8();
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
    if (this.#host.readyState() === 3) return false;
    const unread = this.#readableOpen
      ? Math.max(0, READ_AHEAD - (this.#controller.desiredSize ?? READ_AHEAD))
      : 0;
    const partial = this.#msgOpcode !== 0 ? this.#msgLength + this.#inflated : 0;
    const want = Math.max(0, this.#dedicated + partial + unread - UNCHARGED);
    const delta = want - this.#held;
    if (delta > 0 && !budget.reserve(delta)) {
      if (fail) this.#host.fail(serverBusy());
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
      if (this.#host.readyState() === 3) {
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
      if (this.#host.readyState() === 3) return;
      this.#host.fail(
        closesConnection(err) ? err : new WebSocketSyntaxError(
          "ERR_INVALID_COMPRESSED_DATA",
          "Invalid compressed data",
          { closeCode: CLOSE_INVALID_PAYLOAD, cause: err },
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
          return this.failUtf8();
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
          return this.failUtf8();
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

  /** Fails the connection for invalid UTF-8 (a text message or a close reason). */
  failUtf8(): void {
    this.#streamDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    this.#host.fail(
      new WebSocketSyntaxError("ERR_INVALID_UTF8", "Invalid UTF-8 in a text message", {
        closeCode: CLOSE_INVALID_PAYLOAD,
      }),
    );
  }

  #deliver(message: string | Uint8Array): void {
    this.#delivered++;
    if (!this.#readableOpen || this.#host.readyState() === 3) return;
    // After our close frame we keep reading only to find the peer's; data
    // the application has no room for is dropped instead of piling up.
    if (this.#host.closeSent() && (this.#controller.desiredSize ?? 0) <= 0) return;
    try {
      this.#controller.enqueue(message);
    } catch {
      this.#readableOpen = false;
    }
    if (this.#budget !== null && (message.length > UNCHARGED / 4 || this.#held > 0)) {
      this.#account();
    }
  }

  #armMessageTimer(): void {
    this.#messageTimer = setTimeout(() => {
      this.#messageTimer = undefined;
      // Paused by our own reader (backpressure): not the peer's fault; the next read re-arms.
      if (!this.#reading || this.#host.readyState() !== 1) return;
      this.#host.fail(
        new WebSocketRangeError(
          "ERR_MESSAGE_TIMEOUT",
          `A frame or message was not completed within ${this.#messageTimeout} ms`,
          { closeCode: CLOSE_POLICY_VIOLATION, limit: this.#messageTimeout },
        ),
      );
    }, this.#messageTimeout);
  }
}

/** Whether `err` is one of ours that already says how to close the connection. */
function closesConnection(err: unknown): err is WebSocketClosingError {
  return (err instanceof WebSocketRangeError || err instanceof WebSocketSyntaxError) &&
    err.closeCode !== undefined;
}
