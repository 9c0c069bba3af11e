/**
 * u32 id allocation without fast reuse (enslavism's wrap-around was broken).
 *
 * @module
 */

import { MAX_ID } from "./_protocol.ts";

/**
 * Hands out u32 ids in increasing order, wrapping after 2^32 - 1 and skipping ids still in use,
 * so a freed id comes back only after every other id was handed out: a stale packet addressed to
 * a departed peer cannot reach a newcomer.
 */
export class IdAllocator {
  #next: number;

  constructor(first = 0) {
    this.#next = first >>> 0;
  }

  /** The next free id; throws `RangeError` when all 2^32 ids are in use. */
  allocate(inUse: { has(id: number): boolean; readonly size: number }): number {
    if (inUse.size > MAX_ID) throw new RangeError("Every u32 id is in use");
    for (;;) {
      const id = this.#next;
      this.#next = id === MAX_ID ? 0 : id + 1;
      if (!inUse.has(id)) return id;
    }
  }
}
