/**
 * What the connections of one server share: a byte budget for what they
 * hold, and slots for the CPU-heavy work (inflating). Private to the module.
 *
 * @module
 */

import { CLOSE_TRY_AGAIN_LATER } from "./_frame.ts";
import { WebSocketRangeError } from "./errors.ts";

const RESOLVED = Promise.resolve();

/** The error (1013 `ERR_SERVER_BUSY`) that closes a connection the spent budget cannot hold. */
export function serverBusy(): WebSocketRangeError {
  return new WebSocketRangeError("ERR_SERVER_BUSY", "The server's receive buffer budget is spent", {
    closeCode: CLOSE_TRY_AGAIN_LATER,
  });
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
