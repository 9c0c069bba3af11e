/**
 * The bound on inbound handshakes in progress. Connections that have not
 * finished their handshake never take member slots; they take one of these
 * instead, and beyond the bound the oldest is dropped: it had the longest
 * time to finish, and an honest handshake takes one round trip, so a flood of
 * new connections cannot keep an honest one out for long.
 *
 * @module
 */

/** An insertion-ordered set of at most `max` items; admitting one more evicts the oldest. */
export class HandshakeSlots<T> {
  #max: number;
  #evict: (item: T) => void;
  #items = new Set<T>();

  /**
   * @param max items held at most
   * @param evict called with each item dropped to make room
   */
  constructor(max: number, evict: (item: T) => void) {
    this.#max = max;
    this.#evict = evict;
  }

  /** Items held. */
  get size(): number {
    return this.#items.size;
  }

  /** Takes a slot for `item`, evicting the oldest items beyond the bound. */
  admit(item: T): void {
    while (this.#items.size >= this.#max) {
      const [oldest] = this.#items;
      this.#items.delete(oldest);
      this.#evict(oldest);
    }
    this.#items.add(item);
  }

  /** Whether `item` still holds a slot (false once evicted or released). */
  has(item: T): boolean {
    return this.#items.has(item);
  }

  /** Frees the slot of `item` (its handshake ended). */
  release(item: T): void {
    this.#items.delete(item);
  }
}
