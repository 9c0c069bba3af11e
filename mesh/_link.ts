/**
 * One established connection to another member: batches outgoing frames,
 * authenticates them when a secret is in use, and reads frames back.
 *
 * @module
 */

import type { FramedConnection } from "../framed/mod.ts";
import type { FrameMac } from "./_auth.ts";
import { MeshRangeError, MeshSyntaxError } from "./errors.ts";
import { fragment, Reassembler } from "./_fragment.ts";
import {
  BATCH_BYTES,
  BATCH_FRAME_LIMIT,
  encodeBatch,
  encodeClose,
  FRAGMENT_SIZE,
  KIND_FRAGMENT,
  messageTooLarge,
  WIRE_FRAME_LIMIT,
} from "./_protocol.ts";

/** Bounds of one link. */
export interface LinkLimits {
  /** Largest frame taken in (after joining its pieces), in bytes. */
  maxFrameSize: number;
  /**
   * Bytes queued for the peer at most on top of one frame of `maxFrameSize`,
   * each frame counting {@linkcode FRAME_COST} more than its size (so empty
   * frames fill it too); above it the link fails with `ERR_SLOW_PEER`.
   */
  maxQueuedBytes: number;
}

/** What a queued frame costs beyond its bytes (the objects that hold it). */
export const FRAME_COST = 64;

/** How long a link being closed for a reason waits for the CLOSE frame to leave. */
const CLOSE_GRACE = 200;

/** A framed connection carrying raw bytes both ways. */
export type ByteConnection = FramedConnection<Uint8Array, Uint8Array>;

/** What a {@linkcode Link} uses of its connection (a `ByteConnection` has it all). */
export interface LinkConnection {
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly remoteAddr: Deno.NetAddr;
  send(frame: Uint8Array): Promise<void>;
}

interface Batch {
  frames: Uint8Array[];
  size: number;
  done: PromiseWithResolvers<void>;
  sealed: boolean;
  /** What a fan-out waits for: written, or waiting longer than STALL_MS. */
  waited?: Promise<void>;
  stallTimer?: ReturnType<typeof setTimeout>;
}

/**
 * A fan-out (broadcast) waits this long at most for one peer's write; a
 * peer whose write takes longer is "stalled" until that write finishes, and
 * fan-outs queue for it (bounded by `maxQueuedBytes`) without waiting.
 */
export const STALL_MS = 500;
/** Bytes waiting above which a fan-out does not wait for a peer either. */
export const FANOUT_HIGH_WATER = 1024 * 1024;

/**
 * The `framed/` options of every mesh connection, dialled or accepted:
 * length-framed bytes, and a frame limit small in every phase (larger
 * frames travel in pieces, see _fragment.ts), so nobody makes a member
 * buffer more than that before authenticating.
 */
export const WIRE_FRAMING = {
  framing: "length",
  sendType: "bytes",
  receiveType: "bytes",
  maxMessageSize: WIRE_FRAME_LIMIT,
} as const;

/** The peer sent CLOSE: the link ends without a fault of the peer's. */
export class LinkClosedByPeer extends Error {}

/**
 * The typed error to report when `error` is the peer's fault (it went over
 * a limit or sent something invalid); `undefined` for ordinary ends.
 */
export function peerFault(error: unknown): (Error & { code: string }) | undefined {
  if (
    error instanceof MeshSyntaxError ||
    (error instanceof MeshRangeError && error.code !== "ERR_TOO_MANY_REQUESTS")
  ) return error;
  const framed = error as { name?: string; code?: unknown; size?: number; limit?: number };
  if (framed?.code === "ERR_MESSAGE_TOO_LARGE" && typeof framed.size === "number") {
    return messageTooLarge(framed.size, framed.limit ?? 0);
  }
  return undefined;
}

/** Closes a framed connection at once, dropping anything unsent. */
export function destroyConnection(
  conn: { readonly writable: WritableStream<Uint8Array> },
  reason?: unknown,
): void {
  conn.writable.abort(reason ?? new DOMException("Connection dropped", "AbortError")).catch(
    () => {},
  );
}

/** Reads one frame, or `null` at end of stream. */
export async function readFrame(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<Uint8Array | null> {
  const { value, done } = await reader.read();
  return done ? null : value;
}

/** An established, handshaken connection to one peer. */
export class Link {
  readonly conn: LinkConnection;
  readonly dialer: boolean;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #sendMac?: FrameMac;
  #receiveMac?: FrameMac;
  #batches: Batch[] = [];
  #writing = false;
  #buffered = 0;
  #charged = 0;
  #stalled = false;
  #limits: LinkLimits;
  #reassembler: Reassembler;
  #closing: unknown = undefined;
  #error: unknown = undefined;
  #failed = Promise.withResolvers<null>();
  /** The peer announced a graceful leave. */
  leaving = false;
  /** A newer connection to the same peer took over. */
  replaced = false;
  /** Requests from the peer being answered right now. */
  handling = 0;
  /** Code and message of a CLOSE frame the peer sent, if any. */
  remoteClose?: string;
  lastHeard: number = performance.now();
  rtt = NaN;

  constructor(
    conn: LinkConnection,
    reader: ReadableStreamDefaultReader<Uint8Array>,
    dialer: boolean,
    limits: LinkLimits,
    sendMac?: FrameMac,
    receiveMac?: FrameMac,
  ) {
    this.#limits = limits;
    this.#reassembler = new Reassembler(limits.maxFrameSize);
    this.conn = conn;
    this.#reader = reader;
    this.dialer = dialer;
    this.#sendMac = sendMac;
    this.#receiveMac = receiveMac;
  }

  /** Bytes queued and not yet written. */
  get bufferedAmount(): number {
    return this.#buffered;
  }

  /** The error the link failed with, if it did. */
  get failure(): unknown {
    return this.#error;
  }

  /** Whether {@linkcode Link.closeWith} is closing the link. */
  get closing(): boolean {
    return this.#closing !== undefined && this.#error === undefined;
  }

  /** Whether the link still accepts frames. */
  get open(): boolean {
    return this.#error === undefined && this.#closing === undefined;
  }

  /**
   * Queues a frame. Small frames written in the same burst share one write
   * (and one mac); the promise resolves once the write holding the frame has
   * been handed to the socket.
   */
  post(frame: Uint8Array): Promise<void> {
    const error = this.#error ?? this.#closing;
    if (error !== undefined) {
      const failed = Promise.reject(error);
      failed.catch(() => {});
      return failed;
    }
    // Room for one message of any allowed size on top of the limit, so a
    // large message being written does not count against the small ones
    // after it.
    if (this.#charged > this.#limits.maxQueuedBytes + this.#limits.maxFrameSize) {
      // The peer does not read: it loses its link, not everybody their memory.
      this.fail(
        new MeshRangeError(
          "ERR_SLOW_PEER",
          `Peer is not reading: ${this.#buffered} bytes queued (maxQueuedBytes is ${this.#limits.maxQueuedBytes})`,
          { size: this.#buffered, limit: this.#limits.maxQueuedBytes },
        ),
      );
      return this.post(frame);
    }
    if (frame.length > FRAGMENT_SIZE) {
      let last!: Promise<void>;
      // Pieces are written alone (never inside a BATCH), the receiver joins them.
      for (const piece of fragment(frame)) last = this.#enqueue(piece, true);
      return last;
    }
    return this.#enqueue(frame);
  }

  /**
   * Queues a frame of a fan-out. Resolves once it is written or once its
   * write has waited {@linkcode STALL_MS} (it stays queued); returns
   * `undefined` without waiting when the peer is behind already (stalled, or
   * over {@linkcode FANOUT_HIGH_WATER} queued). One slow peer thus never
   * sets the pace of a broadcast; its queue is bounded by `maxQueuedBytes`.
   */
  postFanOut(frame: Uint8Array): Promise<void> | undefined {
    const behind = this.#stalled || this.#buffered > FANOUT_HIGH_WATER;
    const done = this.post(frame);
    const batch = this.#batches.at(-1);
    if (behind || !batch || this.#error !== undefined) {
      done.catch(() => {});
      return behind ? undefined : done;
    }
    if (!batch.waited) {
      const stalled = Promise.withResolvers<void>();
      batch.stallTimer = setTimeout(() => {
        this.#stalled = true;
        stalled.resolve();
      }, STALL_MS);
      batch.waited = Promise.race([batch.done.promise, stalled.promise]);
      batch.waited.catch(() => {});
    }
    return batch.waited;
  }

  #enqueue(frame: Uint8Array, alone = false): Promise<void> {
    this.#buffered += frame.length;
    this.#charged += frame.length + FRAME_COST;
    let batch = this.#batches.at(-1);
    // Each frame costs 4 bytes of length in a batch: count them, so a batch
    // never outgrows the transport's frame limit.
    if (
      alone || !batch || batch.sealed || frame.length > BATCH_FRAME_LIMIT ||
      batch.size + 4 * (batch.frames.length + 1) + frame.length > BATCH_BYTES
    ) {
      batch = {
        frames: [],
        size: 0,
        done: Promise.withResolvers<void>(),
        sealed: alone || frame.length > BATCH_FRAME_LIMIT,
      };
      batch.done.promise.catch(() => {});
      this.#batches.push(batch);
    }
    batch.frames.push(frame);
    batch.size += frame.length;
    if (!this.#writing) {
      this.#writing = true;
      queueMicrotask(() => this.#pump());
    }
    return batch.done.promise;
  }

  async #pump(): Promise<void> {
    while (this.#batches.length > 0 && this.#error === undefined) {
      const batch = this.#batches[0];
      batch.sealed = true;
      let payload = batch.frames.length === 1
        ? batch.frames[0]
        : encodeBatch(batch.frames, batch.size);
      if (this.#sendMac) payload = this.#sendMac.seal(payload);
      try {
        await this.conn.send(payload);
      } catch (error) {
        this.fail(error);
        break;
      }
      this.#batches.shift();
      this.#buffered -= batch.size;
      this.#charged -= batch.size + FRAME_COST * batch.frames.length;
      clearTimeout(batch.stallTimer);
      this.#stalled = false;
      batch.done.resolve();
    }
    this.#writing = false;
  }

  /** Reads the next frame (a BATCH frame is returned whole), or `null` at end. */
  async read(): Promise<Uint8Array | null> {
    while (true) {
      const read = readFrame(this.#reader);
      read.catch(() => {});
      const sealed = await Promise.race([read, this.#failed.promise]);
      if (sealed === null || sealed.length === 0) {
        if (sealed === null) return null;
        throw new MeshSyntaxError("ERR_INVALID_FRAME", "Empty frame");
      }
      if (this.#closing !== undefined) return null;
      this.lastHeard = performance.now();
      let frame = sealed;
      if (this.#receiveMac) {
        const opened = this.#receiveMac.open(sealed);
        if (!opened) throw new MeshSyntaxError("ERR_BAD_MAC", "Frame authentication failed");
        frame = opened;
      }
      if (frame[0] !== KIND_FRAGMENT) return frame;
      const whole = this.#reassembler.push(frame);
      if (whole) return whole;
    }
  }

  /**
   * Closes the link because the peer went over a limit or broke the
   * protocol: tells it why in a CLOSE frame (bounded wait), then drops it.
   */
  async closeWith(error: Error & { code: string }): Promise<void> {
    if (this.#error !== undefined || this.#closing !== undefined) return;
    const written = this.post(
      encodeClose(error.code, error.message),
    );
    written.catch(() => {});
    this.#closing = error;
    this.#failed.resolve(null);
    // Keep reading (and dropping) what the peer sends during the grace: a
    // socket closed with unread input sends a reset, which can destroy the
    // CLOSE frame in the peer's receive buffer before it is read.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<null>((resolve) => timer = setTimeout(resolve, CLOSE_GRACE, null));
    while (true) {
      const next = await Promise.race([readFrame(this.#reader).catch(() => null), expired]);
      if (next === null) break;
    }
    await expired;
    clearTimeout(timer);
    this.fail(error);
  }

  /** Marks the link failed: rejects queued frames and drops the socket. */
  fail(error: unknown): void {
    if (this.#error !== undefined) return;
    this.#error = error ?? new DOMException("Link closed", "AbortError");
    this.#failed.resolve(null);
    for (const batch of this.#batches) {
      clearTimeout(batch.stallTimer);
      batch.done.reject(this.#error);
    }
    this.#batches = [];
    this.#buffered = 0;
    this.#charged = 0;
    this.#reader.cancel().catch(() => {});
    destroyConnection(this.conn, this.#error);
  }

  /** Waits (bounded) until everything queued is written, then closes. */
  async finish(timeout: number): Promise<void> {
    const last = this.#batches.at(-1);
    if (last && this.#error === undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        last.done.promise.catch(() => {}),
        new Promise<void>((resolve) => timer = setTimeout(resolve, timeout)),
      ]);
      clearTimeout(timer);
    }
    this.fail(new DOMException("Link closed", "AbortError"));
    await this.conn.closed.catch(() => {});
  }
}
