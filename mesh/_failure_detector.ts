/**
 * Failure detection, one tick at a time: which members are suspect, dead,
 * to be forgotten or to be dialled again, and when a heartbeat is due. It
 * updates the members' timing fields and returns what must happen as
 * {@linkcode TickAction}s, in order; sending, closing and events are the
 * caller's. No sockets and no timers: the caller passes the time.
 *
 * @module
 */

/** Milliseconds between ticks of a mesh member. */
export const TICK = 50;

/** The fields of a member the detector reads and updates (a `Member` has them all). */
export interface WatchedMember<L extends { readonly open: boolean }> {
  link?: L;
  pending?: "dial" | "accept";
  /** Set while the member counts as a peer (from its first link until it is declared dead). */
  peer?: unknown;
  left: boolean;
  suspect: boolean;
  lastHeard: number;
  beatAt: number;
  failures: number;
  nextDialAt: number;
  waitUntil: number;
}

/** What one tick decided, for one member. */
export type TickAction<M, L> =
  /** Send a heartbeat (PING) on `link`. */
  | { kind: "ping"; member: M; link: L }
  /** Silent for `deadTimeout`: close `link` (if any) and declare it gone (`"timeout"`). */
  | { kind: "dead"; member: M; link?: L }
  /** Silent for `suspectTimeout`: emit `peersuspect`. */
  | { kind: "suspect"; member: M }
  /** Nobody has heard of it for `forgetTimeout`: remove it. */
  | { kind: "forget"; member: M }
  /** Unlinked and due: dial it (its `nextDialAt` is set to Infinity meanwhile). */
  | { kind: "dial"; member: M };

/** The outcome of one tick. */
export interface TickResult<M, L> {
  /** A heartbeat round is due (PINGs, anti-entropy, knocking on the seeds). */
  heartbeat: boolean;
  /** Members with an open link after this tick. */
  linked: M[];
  actions: TickAction<M, L>[];
}

/** Timeouts of a {@linkcode FailureDetector} (see `MeshOptions`). */
export interface FailureDetectorOptions {
  heartbeatInterval: number;
  suspectTimeout: number;
  deadTimeout: number;
  forgetTimeout: number;
  reconnectInterval: number;
  /** Random numbers in [0, 1) (jitter of redials). */
  random?: () => number;
}

/** Heartbeat timing and the per-member suspect/dead/forget/redial decisions. */
export class FailureDetector {
  #options: FailureDetectorOptions;
  #random: () => number;
  #nextHeartbeat = 0;
  #lastTick: number;

  /**
   * @param options the timeouts
   * @param now the time the member started (ms, same clock as {@linkcode tick})
   */
  constructor(options: FailureDetectorOptions, now: number) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#lastTick = now;
  }

  /**
   * One tick at `now`. `paused` says the inbox is full (we are not
   * reading, so silence is no evidence); `dialable` whether a member's
   * address may be dialled.
   */
  tick<L extends { readonly open: boolean }, M extends WatchedMember<L>>(
    now: number,
    members: Iterable<M>,
    paused: boolean,
    dialable: (member: M) => boolean,
  ): TickResult<M, L> {
    const { heartbeatInterval, suspectTimeout, deadTimeout, forgetTimeout } = this.#options;
    const heartbeat = now >= this.#nextHeartbeat;
    if (heartbeat) this.#nextHeartbeat = now + heartbeatInterval;
    // A member that could not run (CPU starvation, a long GC, a suspended
    // VM) heard nothing because it did not listen: forgive that stall
    // instead of declaring everyone dead (Lifeguard's local-health idea).
    const stall = now - this.#lastTick - TICK;
    this.#lastTick = now;
    const linked: M[] = [];
    const actions: TickAction<M, L>[] = [];
    for (const member of members) {
      const link = member.link;
      if (stall > TICK) member.lastHeard += stall;
      if (link?.open) {
        // Silence we caused by not reading is no evidence against the peer.
        if (paused) member.lastHeard = now;
        member.beatAt = now;
        if (heartbeat) actions.push({ kind: "ping", member, link });
      }
      if (member.peer) {
        const silent = now - member.lastHeard;
        if (silent > deadTimeout) {
          member.link = undefined;
          member.failures = 0;
          member.nextDialAt = now + this.#options.reconnectInterval * this.#random();
          actions.push({ kind: "dead", member, ...(link ? { link } : {}) });
        } else if (silent > suspectTimeout && !member.suspect) {
          member.suspect = true;
          actions.push({ kind: "suspect", member });
        }
      }
      if (member.link?.open) linked.push(member);
      if (!member.link && !member.pending) {
        if (now - member.beatAt > forgetTimeout) {
          actions.push({ kind: "forget", member });
          continue;
        }
        if (
          !member.left && now >= member.nextDialAt && now >= member.waitUntil && dialable(member)
        ) {
          member.nextDialAt = Infinity;
          actions.push({ kind: "dial", member });
        }
      }
    }
    return { heartbeat, linked, actions };
  }
}

/**
 * When to dial a member again after a failed attempt: exponential backoff
 * from 200 ms up to `reconnectInterval`, with ±25 % jitter.
 */
export function nextDialAfterFailure(
  now: number,
  failures: number,
  reconnectInterval: number,
  random: () => number = Math.random,
): number {
  const backoff = Math.min(reconnectInterval, 100 * 2 ** Math.min(failures, 10));
  return now + backoff * (0.75 + random() * 0.5);
}

/**
 * When to look again at a member whose connection is being set up from the
 * other side (`ERR_DUPLICATE`), in case that one fails.
 */
export function nextDialAfterDuplicate(
  now: number,
  handshakeTimeout: number,
  random: () => number = Math.random,
): number {
  return now + Math.min(handshakeTimeout, 250 + random() * 250);
}
