/**
 * An intrusive doubly linked list like C ENet's `ENetList`: a node sits in at
 * most one list at a time, insertion and removal anywhere are O(1), and the
 * engine's queues move nodes between lists without allocating.
 *
 * @module
 */

/** A list node; commands extend it. */
export class ListNode {
  /** Previous node (the sentinel at the front). */
  prev: ListNode = this;
  /** Next node (the sentinel at the back). */
  next: ListNode = this;
}

/** A circular list around a sentinel node. */
export class List<T extends ListNode> {
  /** The sentinel: `end` in C terms. */
  readonly sentinel: ListNode = new ListNode();
  /** Number of nodes. */
  size = 0;

  /** Whether the list has no nodes. */
  get empty(): boolean {
    return this.sentinel.next === this.sentinel;
  }

  /** First node or undefined. */
  front(): T | undefined {
    const node = this.sentinel.next;
    return node === this.sentinel ? undefined : node as T;
  }

  /** Last node or undefined. */
  back(): T | undefined {
    const node = this.sentinel.prev;
    return node === this.sentinel ? undefined : node as T;
  }

  /** Inserts `node` before `position` (`enet_list_insert`). */
  insertBefore(position: ListNode, node: T): void {
    node.prev = position.prev;
    node.next = position;
    position.prev.next = node;
    position.prev = node;
    this.size++;
  }

  /** Appends `node`. */
  push(node: T): void {
    this.insertBefore(this.sentinel, node);
  }

  /** Unlinks `node`, which must be in this list. */
  remove(node: T): T {
    node.prev.next = node.next;
    node.next.prev = node.prev;
    node.prev = node;
    node.next = node;
    this.size--;
    return node;
  }

  /** Removes and returns the first node. */
  shift(): T | undefined {
    const node = this.front();
    if (node !== undefined) this.remove(node);
    return node;
  }

  /** Drops every node. */
  clear(): void {
    let node = this.sentinel.next;
    while (node !== this.sentinel) {
      const next = node.next;
      node.prev = node;
      node.next = node;
      node = next;
    }
    this.sentinel.next = this.sentinel;
    this.sentinel.prev = this.sentinel;
    this.size = 0;
  }
}
