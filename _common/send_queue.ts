/**
 * A bounded per-connection outgoing queue for fan-out. Broadcasts, room
 * publishes and master forwards offer a message to each member's queue and
 * never await one member, so a member that does not read hurts only itself:
 * its queue fills up to `maxMessages`/`maxBytes`, and the caller then applies
 * its documented policy (drop the message, or close the member with
 * 1008/1013). A write that does not finish within `sendTimeout` reports the
 * member as stalled.
 *
 * Shared by every module; not part of the public API.
 *
 * @module
 */

/** Limits of one {@linkcode SendQueue}. */
export interface SendQueueLimits {
  /** Messages waiting at most (counted, so empty messages fill it too). */
  maxMessages: number;
  /** Bytes waiting at most. */
  maxBytes: number;
  /** Milliseconds one write may take before `onStall` is called; 0 turns it off. */
  sendTimeout: number;
}

/** What a {@linkcode SendQueue} calls. */
export interface SendQueueSink<T> {
  /** Writes one message; the queue awaits it before the next. */
  write(item: T): Promise<void>;
  /**
   * Optional fast path: takes `item` at once, and returns `true`, when the
   * transport can without waiting (its own buffer is below its mark); then
   * no promise or timer is made for it. `false` means nothing was taken:
   * the queue calls `write()` and waits.
   */
  writeNow?(item: T): boolean;
  /** A write took longer than `sendTimeout`. Called once; the queue is then closed. */
  onStall?(): void;
  /** A write failed. Called once; the queue is then closed. */
  onError?(error: unknown): void;
}

/** Why {@linkcode SendQueue.offer} refused a message. */
export type SendQueueRefusal = "full" | "closed";

/**
 * A bounded FIFO drained by one writer at a time.
 *
 * @example
 * ```ts
 * import { SendQueue } from "./send_queue.ts";
 *
 * const written: string[] = [];
 * const queue = new SendQueue<string>({ maxMessages: 2, maxBytes: 1024, sendTimeout: 0 }, {
 *   write: async (s) => void written.push(s),
 * });
 * queue.offer("a", 1);
 * await queue.idle();
 * console.log(written); // ["a"]
 * ```
 */
export class SendQueue<T> {
  #limits: SendQueueLimits;
  #sink: SendQueueSink<T>;
  #items: T[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  #draining = false;
  #closed = false;
  #idle: PromiseWithResolvers<void> | undefined;

  /** Creates a queue that writes through `sink`. */
  constructor(limits: SendQueueLimits, sink: SendQueueSink<T>) {
    this.#limits = limits;
    this.#sink = sink;
  }

  /** Messages waiting (not counting one being written). */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Bytes waiting (not counting one being written). */
  get bytes(): number {
    return this.#bytes;
  }

  /** True once closed: offers are refused. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues `item` of `size` bytes. Returns `undefined` when queued, or why
   * it was refused; never waits.
   */
  offer(item: T, size: number): SendQueueRefusal | undefined {
    if (this.#closed) return "closed";
    // Nothing waiting and nothing being written: hand it straight over when the sink can.
    if (!this.#draining && this.length === 0 && this.#sink.writeNow?.(item)) {
      return undefined;
    }
    if (
      this.length >= this.#limits.maxMessages ||
      (this.length > 0 && this.#bytes + size > this.#limits.maxBytes)
    ) return "full";
    this.#items.push(item);
    this.#sizes.push(size);
    this.#bytes += size;
    if (!this.#draining) this.#drain();
    return undefined;
  }

  /** Resolves once nothing is waiting or being written (or the queue closed). */
  idle(): Promise<void> {
    if (!this.#draining || this.#closed) return Promise.resolve();
    return (this.#idle ??= Promise.withResolvers()).promise;
  }

  /** Drops what is waiting and refuses further offers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#items = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#settleIdle();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (!this.#closed && this.#head < this.#items.length) {
        const item = this.#items[this.#head];
        this.#bytes -= this.#sizes[this.#head];
        this.#items[this.#head] = undefined as T;
        this.#head++;
        if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#sizes = this.#sizes.slice(this.#head);
          this.#head = 0;
        }
        if (this.#sink.writeNow?.(item)) continue;
        const ok = await this.#write(item);
        if (!ok) return;
      }
    } finally {
      this.#draining = false;
      this.#settleIdle();
    }
  }

  async #write(item: T): Promise<boolean> {
    const { sendTimeout } = this.#limits;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const writing = this.#sink.write(item);
      if (sendTimeout <= 0) {
        await writing;
        return true;
      }
      const stalled = await Promise.race([
        writing.then(() => false),
        new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), sendTimeout)),
      ]);
      if (stalled) {
        writing.catch(() => {});
        this.close();
        this.#sink.onStall?.();
        return false;
      }
      return true;
    } catch (error) {
      this.close();
      this.#sink.onError?.(error);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  #settleIdle(): void {
    const idle = this.#idle;
    this.#idle = undefined;
    idle?.resolve();
  }
}
