/**
 * The inbox behind `Mesh.messages()`: every open iterator gets each message;
 * when one holds `size` unread messages, the readers of the peers' links
 * wait ({@linkcode Inbox.whenDrained}) until it is down to half, so a slow
 * consumer pauses the senders instead of growing memory.
 *
 * @module
 */

interface Queue<T> {
  items: T[];
  wake?: () => void;
  ended: boolean;
}

/** Messages for the `messages()` iterators, with backpressure on the readers. */
export class Inbox<T> {
  #size: number;
  #queues = new Set<Queue<T>>();
  #drained: PromiseWithResolvers<void> | undefined;
  #ended = false;

  /** @param size messages one iterator holds before the readers pause */
  constructor(size: number) {
    this.#size = size;
  }

  /** Whether an iterator holds `size` messages or more (the readers must wait). */
  get full(): boolean {
    for (const queue of this.#queues) {
      if (!queue.ended && queue.items.length >= this.#size) return true;
    }
    return false;
  }

  /** Resolves once an iterator has made room (or ended); wait on it while {@linkcode full}. */
  whenDrained(): Promise<void> {
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  /** Hands `message` to every open iterator. */
  deliver(message: T): void {
    for (const queue of this.#queues) {
      if (queue.ended) continue;
      queue.items.push(message);
      queue.wake?.();
    }
  }

  /** Ends every iterator (after the messages they hold) and lets the readers go. */
  end(): void {
    this.#ended = true;
    for (const queue of this.#queues) {
      queue.ended = true;
      queue.wake?.();
    }
    this.#wake();
  }

  /** A new iterator over the messages delivered from now on (ended at once after {@linkcode end}). */
  iterator(): AsyncIterableIterator<T> {
    const queue: Queue<T> = { items: [], ended: this.#ended };
    this.#queues.add(queue);
    const release = () => {
      this.#queues.delete(queue);
      this.#wake();
    };
    const iterator: AsyncIterableIterator<T> = {
      next: async (): Promise<IteratorResult<T>> => {
        while (queue.items.length === 0) {
          if (queue.ended) {
            release();
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => queue.wake = resolve);
          queue.wake = undefined;
        }
        const value = queue.items.shift()!;
        if (queue.items.length === this.#size >> 1) this.#wake();
        return { value, done: false };
      },
      return: (): Promise<IteratorResult<T>> => {
        queue.ended = true;
        queue.items.length = 0;
        queue.wake?.();
        release();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  #wake(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.resolve();
  }
}
