/**
 * Bookkeeping of members learned by gossip and not reached yet. A member a
 * peer tells us about is "unverified" until a connection to it succeeds; it
 * does not take a member slot, each peer may have only so many of its
 * entries waiting at once, and a peer whose entries keep turning out
 * unreachable is cut off, so one member's gossip cannot fill another's
 * member table with addresses nobody can reach.
 *
 * @module
 */

/** Limits of {@linkcode GossipAdmission}. */
export interface GossipAdmissionLimits {
  /** Entries from one source waiting to be reached, at most. */
  maxUnverified: number;
  /** Entries from one source found unreachable before the source is cut off. */
  maxUnreachable: number;
}

interface Source {
  waiting: number;
  unreachable: number;
}

/** Counts, per gossiping member, its entries waiting and found unreachable. */
export class GossipAdmission {
  #limits: GossipAdmissionLimits;
  #sources = new Map<string, Source>();

  /** @param limits the per-source limits */
  constructor(limits: GossipAdmissionLimits) {
    this.#limits = limits;
  }

  /** Entries waiting from `source`. */
  waiting(source: string): number {
    return this.#sources.get(source)?.waiting ?? 0;
  }

  /** Takes a slot for a new entry from `source`; false when it has too many waiting. */
  admit(source: string): boolean {
    let counts = this.#sources.get(source);
    if (!counts) this.#sources.set(source, counts = { waiting: 0, unreachable: 0 });
    if (counts.waiting >= this.#limits.maxUnverified) return false;
    counts.waiting++;
    return true;
  }

  /** An entry from `source` was reached (or dropped without a verdict): frees its slot. */
  release(source: string): void {
    const counts = this.#sources.get(source);
    if (counts && counts.waiting > 0) counts.waiting--;
  }

  /**
   * An entry from `source` could not be reached: frees its slot and counts
   * it. Returns true when `source` has now gossiped more unreachable entries
   * than allowed.
   */
  unreachable(source: string): boolean {
    const counts = this.#sources.get(source);
    if (!counts) return false;
    if (counts.waiting > 0) counts.waiting--;
    counts.unreachable++;
    return counts.unreachable > this.#limits.maxUnreachable;
  }

  /** Forgets everything about `source` (its connection is gone). */
  forget(source: string): void {
    this.#sources.delete(source);
  }
}
