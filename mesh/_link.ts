/**
 * One established connection to another member: batches outgoing frames,
 * authenticates them when a secret is in use, and reads frames back.
 *
 * @module
 */

import type { FramedConnection } from "../framed/mod.ts";
import type { FrameMac } from "./_auth.ts";
import { MeshProtocolError } from "./errors.ts";
import { BATCH_BYTES, BATCH_FRAME_LIMIT, encodeBatch } from "./_protocol.ts";

/** A framed connection carrying raw bytes both ways. */
export type ByteConnection = FramedConnection<Uint8Array, Uint8Array>;

interface Batch {
  frames: Uint8Array[];
  size: number;
  done: PromiseWithResolvers<void>;
  sealed: boolean;
}

/** Closes a framed connection at once, dropping anything unsent. */
export function destroyConnection(conn: ByteConnection, reason?: unknown): void {
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
  readonly conn: ByteConnection;
  readonly dialer: boolean;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #sendMac?: FrameMac;
  #receiveMac?: FrameMac;
  #batches: Batch[] = [];
  #writing = false;
  #buffered = 0;
  #error: unknown = undefined;
  #failed = Promise.withResolvers<null>();
  /** The peer announced a graceful leave. */
  leaving = false;
  /** A newer connection to the same peer took over. */
  replaced = false;
  lastHeard: number = performance.now();
  rtt = NaN;

  constructor(
    conn: ByteConnection,
    reader: ReadableStreamDefaultReader<Uint8Array>,
    dialer: boolean,
    sendMac?: FrameMac,
    receiveMac?: FrameMac,
  ) {
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

  /** Whether the link still accepts frames. */
  get open(): boolean {
    return this.#error === undefined;
  }

  /**
   * Queues a frame. Small frames written in the same burst share one write
   * (and one mac); the promise resolves once the write holding the frame has
   * been handed to the socket.
   */
  post(frame: Uint8Array): Promise<void> {
    if (this.#error !== undefined) {
      const failed = Promise.reject(this.#error);
      failed.catch(() => {});
      return failed;
    }
    this.#buffered += frame.length;
    let batch = this.#batches.at(-1);
    if (
      !batch || batch.sealed || frame.length > BATCH_FRAME_LIMIT ||
      batch.size + frame.length > BATCH_BYTES
    ) {
      batch = {
        frames: [],
        size: 0,
        done: Promise.withResolvers<void>(),
        sealed: frame.length > BATCH_FRAME_LIMIT,
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
      batch.done.resolve();
    }
    this.#writing = false;
  }

  /** Reads the next frame (a BATCH frame is returned whole), or `null` at end. */
  async read(): Promise<Uint8Array | null> {
    const read = readFrame(this.#reader);
    read.catch(() => {});
    const sealed = await Promise.race([read, this.#failed.promise]);
    if (sealed === null || sealed.length === 0) {
      if (sealed === null) return null;
      throw new MeshProtocolError("ERR_INVALID_FRAME", "Empty frame");
    }
    this.lastHeard = performance.now();
    if (!this.#receiveMac) return sealed;
    const frame = this.#receiveMac.open(sealed);
    if (!frame) throw new MeshProtocolError("ERR_BAD_MAC", "Frame authentication failed");
    return frame;
  }

  /** Marks the link failed: rejects queued frames and drops the socket. */
  fail(error: unknown): void {
    if (this.#error !== undefined) return;
    this.#error = error ?? new DOMException("Link closed", "AbortError");
    this.#failed.resolve(null);
    for (const batch of this.#batches) batch.done.reject(this.#error);
    this.#batches = [];
    this.#buffered = 0;
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
