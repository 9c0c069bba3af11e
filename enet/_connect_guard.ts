/**
 * Connect-flood protection for a host, wire-compatible with stock ENet
 * clients (upstream lsalzman/enet#278: forged CONNECTs fill the peer table and
 * lock legitimate clients out for the ~30 s a half-open slot lives).
 *
 * A CONNECT does not take a peer slot. The host answers it with the
 * VERIFY_CONNECT C would send (offering a free slot) and remembers a small
 * **half-open record**; the slot is taken only when a datagram comes back
 * from that address to that slot with the session bits it was given (the
 * acknowledgement of VERIFY_CONNECT). A spoofed source never answers, so its
 * record costs a few hundred bytes and no timers, retransmissions, peer
 * objects or slot; a real client's CONNECT retransmission gets the same
 * VERIFY_CONNECT again from its record. Several records may offer the same
 * free slot: the first to answer gets it, a later one is told DISCONNECT.
 *
 * Bounds, all checked before anything is allocated:
 * - `maximumConnectRate`: CONNECT datagrams handled per second host-wide
 *   (token bucket); the rest are dropped unread, so a flood cannot take the
 *   CPU that connected peers need.
 * - `maximumHalfOpenPeers`: records kept; the oldest is forgotten for a new
 *   one, so a legitimate client has (records ÷ flood rate) to answer:
 *   16 384 records against 30 000 forged CONNECTs/s leave it ~0.5 s.
 * - `maximumHalfOpenPerAddress`: records per source IP address; a new one
 *   from a full address forgets that address's oldest, so a flood from one
 *   address churns only its own records.
 * - `connectRateLimit` (opt-in): a token bucket of new handshakes per source
 *   IP address; the table of sources is bounded and forgets the least
 *   recently seen.
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
/** How long a half-open record may wait for its answer (C's default timeoutMaximum). */
export const HALF_OPEN_LIFETIME_MS = 30_000;
/** A record answers a retransmitted CONNECT at most this often. */
export const HALF_OPEN_RESEND_INTERVAL_MS = 100;

interface Bucket {
  tokens: number;
  time: number;
}

/** What the host remembers of a CONNECT it answered. */
export interface HalfOpenRecord {
  readonly key: string;
  readonly hostname: string;
  /** The source address (also the peer's address once it answers). */
  readonly address: { hostname: string; port: number };
  readonly connectID: number;
  /** The peer slot VERIFY_CONNECT offered. */
  readonly slot: number;
  readonly created: number;
  /** The whole VERIFY_CONNECT command as sent. */
  readonly verify: Uint8Array;
  /** Fields the peer takes once the client answers. */
  readonly outgoingPeerID: number;
  readonly incomingSessionID: number;
  readonly outgoingSessionID: number;
  readonly channelCount: number;
  readonly mtu: number;
  readonly windowSize: number;
  readonly incomingBandwidth: number;
  readonly outgoingBandwidth: number;
  readonly packetThrottleInterval: number;
  readonly packetThrottleAcceleration: number;
  readonly packetThrottleDeceleration: number;
  readonly data: number;
  /** When VERIFY_CONNECT last went out (service time). */
  sentTime: number;
}

/** Limits of a {@linkcode ConnectGuard}. */
export interface ConnectGuardLimits {
  maximumHalfOpen: number;
  maximumHalfOpenPerAddress: number;
  maximumConnectRate: number;
  rate?: ConnectRateLimit;
}

/** Admission decisions and half-open records for incoming CONNECTs of one host. */
export class ConnectGuard {
  readonly maximumHalfOpen: number;
  readonly maximumHalfOpenPerAddress: number;
  readonly #rate: { perSecond: number; burst: number } | null;
  readonly #sources = new Map<string, Bucket>();
  readonly #connectRate: number;
  #connectTokens: number;
  #connectTime = 0;
  // Insertion order = age: the first entry is the oldest record.
  readonly #records = new Set<HalfOpenRecord>();
  readonly #byAddress = new Map<string, HalfOpenRecord[]>();
  readonly #perHost = new Map<string, HalfOpenRecord[]>();

  constructor(limits: ConnectGuardLimits) {
    this.maximumHalfOpen = limits.maximumHalfOpen;
    this.maximumHalfOpenPerAddress = limits.maximumHalfOpenPerAddress;
    this.#connectRate = limits.maximumConnectRate;
    this.#connectTokens = limits.maximumConnectRate;
    const rate = limits.rate;
    this.#rate = rate ? { perSecond: rate.perSecond, burst: rate.burst ?? rate.perSecond } : null;
  }

  /** Half-open records held. */
  get size(): number {
    return this.#records.size;
  }

  /** Spends one token of the host-wide CONNECT budget; false when it is empty. */
  spend(now: number): boolean {
    const rate = this.#connectRate;
    if (now !== this.#connectTime) {
      // The bucket holds one second's worth.
      this.#connectTokens = Math.min(
        rate,
        this.#connectTokens + (now - this.#connectTime) * rate / 1000,
      );
      this.#connectTime = now;
    }
    if (this.#connectTokens < 1) return false;
    this.#connectTokens -= 1;
    return true;
  }

  /** Whether a new CONNECT from `hostname` passes the per-source rate limit (consumes a token if so). */
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

  /** The live record of (`key`, `connectID`), if any. */
  find(key: string, connectID: number, now: number): HalfOpenRecord | undefined {
    const list = this.#byAddress.get(key);
    if (list === undefined) return undefined;
    for (const record of list) {
      if (record.connectID === connectID) return this.#fresh(record, now);
    }
    return undefined;
  }

  /** The live record of `key` that was offered `slot`, if any. */
  forSlot(key: string, slot: number, now: number): HalfOpenRecord | undefined {
    const list = this.#byAddress.get(key);
    if (list === undefined) return undefined;
    for (const record of list) {
      if (record.slot === slot) return this.#fresh(record, now);
    }
    return undefined;
  }

  #fresh(record: HalfOpenRecord, now: number): HalfOpenRecord | undefined {
    if (now - record.created < HALF_OPEN_LIFETIME_MS) return record;
    this.remove(record);
    return undefined;
  }

  /** Remembers `record`, forgetting the oldest records when full or expired. */
  add(record: HalfOpenRecord): void {
    for (const oldest of this.#records) {
      if (
        this.#records.size < this.maximumHalfOpen &&
        record.created - oldest.created < HALF_OPEN_LIFETIME_MS
      ) break;
      this.remove(oldest);
    }
    const ofHost = this.#perHost.get(record.hostname);
    if (ofHost !== undefined && ofHost.length >= this.maximumHalfOpenPerAddress) {
      this.remove(ofHost[0]);
    }
    this.#records.add(record);
    const list = this.#byAddress.get(record.key);
    if (list === undefined) this.#byAddress.set(record.key, [record]);
    else list.push(record);
    const hostList = this.#perHost.get(record.hostname);
    if (hostList === undefined) this.#perHost.set(record.hostname, [record]);
    else hostList.push(record);
  }

  /** Forgets `record`. */
  remove(record: HalfOpenRecord): void {
    if (!this.#records.delete(record)) return;
    const list = this.#byAddress.get(record.key)!;
    if (list.length === 1) this.#byAddress.delete(record.key);
    else list.splice(list.indexOf(record), 1);
    const hostList = this.#perHost.get(record.hostname)!;
    if (hostList.length === 1) this.#perHost.delete(record.hostname);
    else hostList.splice(hostList.indexOf(record), 1);
  }
}
