/**
 * Connect-flood protection for a host, wire-compatible with stock ENet
 * clients (upstream lsalzman/enet#278: forged CONNECTs fill the peer table and
 * lock legitimate clients out for the ~30 s a half-open slot lives).
 *
 * Two mechanisms, neither needing anything from the client:
 * - **Half-open eviction** (always on): a peer that sent CONNECT but has not
 *   acknowledged VERIFY_CONNECT is half-open. When a new CONNECT finds no free
 *   slot, or `maximumHalfOpenPeers` are half-open, the oldest half-open peer is
 *   dropped silently for it. A spoofed source never acknowledges, a real
 *   client does within one round trip, so real clients win while a flood runs
 *   (like a TCP SYN cache). Connected peers are never touched. This holds
 *   while (free slots ÷ forged CONNECTs per second) exceeds a real client's
 *   round trip: 63 free slots against 2000 forgeries/s leave ~30 ms.
 * - **Per-source rate limit** (opt-in, `connectRateLimit`): a token bucket per
 *   source IP address for new CONNECTs; the table of sources is bounded and
 *   forgets the least recently seen.
 *
 * A stateless cookie is not offered: a stock client's CONNECT/ACK exchange has
 * no field that could echo one back.
 *
 * @module
 */

/** Per source address CONNECT rate limit. */
export interface ConnectRateLimit {
  /** New CONNECTs accepted per second from one IP address. */
  perSecond: number;
  /** Burst allowance. @default perSecond */
  burst?: number;
}

/** Most source addresses the rate limiter remembers. */
export const CONNECT_GUARD_MAXIMUM_SOURCES = 4096;

interface Bucket {
  tokens: number;
  time: number;
}

interface HalfOpen {
  generation: number;
}

/** What the guard needs to know about a peer slot. */
export interface GuardedPeer {
  readonly state: number;
  readonly generation: number;
}

/** Admission decisions for incoming CONNECTs of one host. */
export class ConnectGuard<P extends GuardedPeer> {
  readonly maximumHalfOpen: number;
  readonly #halfOpenState: number;
  readonly #rate: { perSecond: number; burst: number } | null;
  readonly #sources = new Map<string, Bucket>();
  // Insertion order = age: the first live entry is the oldest half-open peer.
  readonly #halfOpen = new Map<P, HalfOpen>();

  /**
   * @param maximumHalfOpen most half-open peers before the oldest is evicted
   * @param halfOpenState the peer state meaning half-open (ACKNOWLEDGING_CONNECT)
   */
  constructor(maximumHalfOpen: number, halfOpenState: number, rate?: ConnectRateLimit) {
    this.maximumHalfOpen = maximumHalfOpen;
    this.#halfOpenState = halfOpenState;
    this.#rate = rate ? { perSecond: rate.perSecond, burst: rate.burst ?? rate.perSecond } : null;
  }

  /** Whether a CONNECT from `hostname` passes the rate limit (consumes a token if so). */
  admit(hostname: string, now: number): boolean {
    const rate = this.#rate;
    if (rate === null) return true;
    let bucket = this.#sources.get(hostname);
    if (bucket === undefined) {
      if (this.#sources.size >= CONNECT_GUARD_MAXIMUM_SOURCES) {
        this.#sources.delete(this.#sources.keys().next().value!);
      }
      bucket = { tokens: rate.burst, time: now };
    } else {
      this.#sources.delete(hostname); // re-inserted below: most recently seen last
      bucket.tokens = Math.min(
        rate.burst,
        bucket.tokens + (now - bucket.time) * rate.perSecond / 1000,
      );
      bucket.time = now;
    }
    this.#sources.set(hostname, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #live(peer: P, entry: HalfOpen): boolean {
    return peer.state === this.#halfOpenState && peer.generation === entry.generation;
  }

  /** Half-open peers still waiting for their acknowledgement. */
  halfOpenCount(): number {
    for (const [peer, entry] of this.#halfOpen) {
      if (!this.#live(peer, entry)) this.#halfOpen.delete(peer);
    }
    return this.#halfOpen.size;
  }

  /**
   * The half-open peer to drop so a new CONNECT can be served, or null when
   * none needs to go: `freeSlot` says whether the table still has room.
   */
  victim(freeSlot: boolean): P | null {
    // The map's size bounds the live count from above: only purge when it matters.
    if (freeSlot && this.#halfOpen.size < this.maximumHalfOpen) return null;
    if (freeSlot && this.halfOpenCount() < this.maximumHalfOpen) return null;
    for (const [peer, entry] of this.#halfOpen) {
      this.#halfOpen.delete(peer);
      if (this.#live(peer, entry)) return peer;
    }
    return null;
  }

  /** Records that `peer` just became half-open. */
  opened(peer: P): void {
    this.#halfOpen.delete(peer);
    this.#halfOpen.set(peer, { generation: peer.generation });
  }
}
