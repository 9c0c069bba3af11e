/**
 * The sending half of the rfc6455 engine: frames queued by the socket are
 * coalesced into one write per batch (masked on the client side) and
 * written in order. The writer starts at the end of the current task, so a
 * burst (a room fan-out, a loop of sends) is one write; a fan-out message
 * (`FanOutMessage`) is encoded and framed once and its bytes copied to every
 * server connection. `bufferedAmount` counts what was accepted and not
 * written yet. The socket decides what may be sent (state, close
 * handshake); this class only frames and writes. Private to the module.
 *
 * @module
 */

import { WebSocketError } from "./errors.ts";
import {
  applyMask,
  type ByteStream,
  FIN,
  headerSize,
  MaskKeys,
  OPCODE_BINARY,
  OPCODE_PONG,
  OPCODE_TEXT,
  writeHeader,
} from "./_frame.ts";

/** A frame waiting to be written. */
export interface OutFrame {
  first: number;
  payload: Uint8Array;
  /** What it adds to `bufferedAmount` (0 for control frames). */
  amount: number;
  /** The whole unmasked frame, made once and shared (a fan-out message); server side only. */
  wire?: Uint8Array;
  resolve?: () => void;
  reject?: (err: unknown) => void;
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
/** Strings up to this many UTF-16 units (≤ 1023 UTF-8 bytes) are encoded into a shared slab. */
const SMALL_TEXT = 341;
/** Size of the shared slab short strings are encoded into. */
const TEXT_SLAB_SIZE = 8 * 1024;
/** Largest coalescing buffer for outgoing frames. */
const MAX_SCRATCH = 256 * 1024;
/** Coalescing buffer a quiet connection keeps (a bigger one is given back). */
const IDLE_SCRATCH = 16 * 1024;

/** Why a send was refused or cut short: the connection is not (or no longer) open. */
export function notOpen(state: number): WebSocketError {
  return new WebSocketError(
    "ERR_NOT_OPEN",
    `WebSocket is not open: readyState "${state}" (${state === 2 ? "CLOSING" : "CLOSED"})`,
  );
}

/** Frames and writes outgoing frames for one connection. */
export class Sender {
  #conn: ByteStream;
  #client: boolean;
  #onLost: () => void;
  #maskKeys = new MaskKeys();
  #queue: OutFrame[] = [];
  #queuedPong: OutFrame | null = null;
  #writing = false;
  #scratch: Uint8Array = EMPTY;
  #lastBatch = 0;
  #bufferedAmount = 0;
  #textSlab: Uint8Array | null = null;
  #textSlabAt = 0;

  /** `client` masks every frame; `onLost` is called once when a write fails (TCP gone). */
  constructor(conn: ByteStream, client: boolean, onLost: () => void) {
    this.#conn = conn;
    this.#client = client;
    this.#onLost = onLost;
  }

  /** Bytes accepted and not yet handed to the socket. */
  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  /** Counts `amount` more bytes as buffered; returns the new total. */
  charge(amount: number): number {
    return this.#bufferedAmount += amount;
  }

  /** Takes back bytes counted by `charge()` for a message that will not be queued. */
  uncharge(amount: number): void {
    this.#bufferedAmount -= amount;
  }

  /**
   * The UTF-8 of a text message: short strings are bump-allocated from a
   * send slab (never reused in place), longer ones encoded on their own.
   */
  encodeText(text: string): Uint8Array {
    if (text.length > SMALL_TEXT) return encoder.encode(text);
    if (this.#textSlab === null || this.#textSlabAt + text.length * 3 > TEXT_SLAB_SIZE) {
      this.#textSlab = new Uint8Array(TEXT_SLAB_SIZE);
      this.#textSlabAt = 0;
    }
    const at = this.#textSlabAt;
    const { written } = encoder.encodeInto(text, this.#textSlab.subarray(at));
    this.#textSlabAt = (at + written + 7) & ~7;
    return this.#textSlab.subarray(at, at + written);
  }

  /** Queues a frame nobody awaits (the connection is known to be open). */
  push(
    first: number,
    payload: Uint8Array,
    amount: number,
    frame: OutFrame = { first, payload, amount },
  ): void {
    this.#queue.push(frame);
    this.#kick();
  }

  /**
   * Queues a fan-out message nobody awaits (the connection is known to be
   * open): a server copies its shared frame, a client masks the payload.
   */
  pushMessage(message: FanOutMessage): void {
    const payload = message.payload;
    const wire = this.#client ? null : message.wire;
    this.#queue.push(
      wire === null
        ? { first: FIN | message.opcode, payload, amount: payload.length }
        : { first: FIN | message.opcode, payload, amount: payload.length, wire },
    );
    this.#kick();
  }

  /** Queues a frame; resolves once it was written (rejects with `ERR_NOT_OPEN` if it never is). */
  enqueue(first: number, payload: Uint8Array, amount: number): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queue.push({ first, payload, amount, resolve, reject });
    this.#kick();
    return promise;
  }

  /**
   * Starts the writer at the end of the current task (a microtask), so that
   * every frame queued in one burst — a fan-out of many messages, a batch
   * of sends — goes out in one write instead of one write per frame.
   */
  #kick(): void {
    if (this.#writing) return;
    this.#writing = true;
    queueMicrotask(() => void this.#flush());
  }

  /**
   * Answers a ping. A peer that pings faster than it reads our pongs gets
   * one pong for the latest ping (RFC 6455 §5.5.3), not an unbounded queue.
   */
  pong(payload: Uint8Array): void {
    if (this.#queuedPong) {
      this.#queuedPong.payload = payload;
      return;
    }
    this.#queuedPong = { first: FIN | OPCODE_PONG, payload, amount: 0 };
    this.push(this.#queuedPong.first, payload, 0, this.#queuedPong);
  }

  /** Puts `frame` (a close frame) first and drops everything queued (its senders see `ERR_NOT_OPEN`). */
  jumpQueue(frame: OutFrame): void {
    for (const queued of this.#queue) this.#settle(queued, true);
    this.#queue = [frame];
    this.#queuedPong = null;
    this.#kick();
  }

  /** Drops everything queued (the connection is closed). */
  cancel(): void {
    for (const frame of this.#queue) this.#settle(frame, true);
    this.#queue = [];
  }

  async #flush(): Promise<void> {
    const masked = this.#client;
    let batch: OutFrame[] = [];
    let i = 0;
    try {
      while (this.#queue.length > 0) {
        batch = this.#queue;
        this.#queue = [];
        this.#queuedPong = null;
        i = 0;
        while (i < batch.length) {
          // Coalesce as many whole frames as fit into one scratch write.
          let total = 0;
          let j = i;
          for (; j < batch.length; j++) {
            const wire = batch[j].wire;
            const size = wire !== undefined
              ? wire.length
              : headerSize(batch[j].payload.length, masked) + batch[j].payload.length;
            if (total + size > MAX_SCRATCH) break;
            total += size;
          }
          if (j > i) {
            if (this.#scratch.length < total) {
              this.#scratch = new Uint8Array(
                Math.min(MAX_SCRATCH, Math.max(total, this.#scratch.length * 2)),
              );
            }
            this.#lastBatch = total;
            const out = this.#scratch;
            let at = 0;
            for (let k = i; k < j; k++) at = this.#encodeInto(out, at, batch[k]);
            await this.#writeAll(out.subarray(0, at));
            for (let k = i; k < j; k++) this.#settle(batch[k]);
            i = j;
          } else {
            this.#lastBatch = MAX_SCRATCH;
            await this.#writeLarge(batch[i]);
            this.#settle(batch[i]);
            i++;
          }
        }
      }
    } catch (err) {
      for (; i < batch.length; i++) this.#settle(batch[i], err);
      for (const frame of this.#queue) this.#settle(frame, err);
      this.#queue = [];
      this.#writing = false;
      this.#onLost();
      return;
    }
    this.#writing = false;
    // A connection that went quiet gives back a grown coalescing buffer, so
    // ten thousand idle sockets do not each keep 256 KiB.
    if (this.#scratch.length > IDLE_SCRATCH && this.#lastBatch <= IDLE_SCRATCH) {
      this.#scratch = EMPTY;
    }
  }

  #settle(frame: OutFrame, err?: unknown): void {
    this.#bufferedAmount -= frame.amount;
    if (err === undefined) frame.resolve?.();
    else frame.reject?.(notOpen(3));
  }

  #encodeInto(out: Uint8Array, at: number, frame: OutFrame): number {
    if (frame.wire !== undefined) {
      out.set(frame.wire, at);
      return at + frame.wire.length;
    }
    const length = frame.payload.length;
    if (this.#client) {
      const key = this.#maskKeys.next();
      at = writeHeader(out, at, frame.first, length, key);
      applyMask(frame.payload, out.subarray(at, at + length), key);
    } else {
      at = writeHeader(out, at, frame.first, length, undefined);
      out.set(frame.payload, at);
    }
    return at + length;
  }

  async #writeLarge(frame: OutFrame): Promise<void> {
    if (frame.wire !== undefined) return await this.#writeAll(frame.wire);
    const payload = frame.payload;
    const length = payload.length;
    if (!this.#client) {
      const header = new Uint8Array(headerSize(length, false));
      writeHeader(header, 0, frame.first, length, undefined);
      await this.#writeAll(header);
      await this.#writeAll(payload);
      return;
    }
    // Mask piecewise through the scratch buffer: no copy of the whole payload.
    if (this.#scratch.length < MAX_SCRATCH) this.#scratch = new Uint8Array(MAX_SCRATCH);
    const out = this.#scratch;
    const key = this.#maskKeys.next();
    let at = writeHeader(out, 0, frame.first, length, key);
    let done = 0;
    while (done < length) {
      const take = Math.min(out.length - at, length - done);
      applyMask(payload.subarray(done, done + take), out.subarray(at, at + take), key, done);
      await this.#writeAll(out.subarray(0, at + take));
      done += take;
      at = 0;
    }
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.length) {
      written += await this.#conn.write(data.subarray(written));
    }
  }
}

/** Fan-out messages up to this many bytes share one ready-made frame; bigger ones get a header each. */
const MAX_SHARED_WIRE = 64 * 1024;

/**
 * One message offered to many connections (room delivery, `broadcast()`):
 * its UTF-8 and its unmasked frame are made once, on first use, and every
 * server connection copies the same bytes instead of encoding and framing
 * the message again.
 */
export class FanOutMessage {
  /** The message as `send()` takes it. */
  readonly data: string | Uint8Array;
  /** `OPCODE_TEXT` for a string, `OPCODE_BINARY` for bytes. */
  readonly opcode: number;
  #payload: Uint8Array | undefined;
  #wire: Uint8Array | null | undefined;

  constructor(data: string | Uint8Array) {
    this.data = data;
    this.opcode = typeof data === "string" ? OPCODE_TEXT : OPCODE_BINARY;
  }

  /** The payload bytes (the UTF-8 of a string, encoded once). */
  get payload(): Uint8Array {
    return this.#payload ??= typeof this.data === "string" ? encoder.encode(this.data) : this.data;
  }

  /** The whole unmasked, uncompressed final frame; `null` for a payload too big to copy. */
  get wire(): Uint8Array | null {
    if (this.#wire !== undefined) return this.#wire;
    const payload = this.payload;
    if (payload.length > MAX_SHARED_WIRE) return this.#wire = null;
    const wire = new Uint8Array(headerSize(payload.length, false) + payload.length);
    wire.set(payload, writeHeader(wire, 0, FIN | this.opcode, payload.length, undefined));
    return this.#wire = wire;
  }
}
