/**
 * Joining a mesh: dialling every seed until each has answered (or we are in
 * through another), and deciding when the join is complete: a seed let us
 * in, its member list has arrived in full, and every member it names has
 * been tried. No sockets: dialling goes through a callback; the clock is
 * injected.
 *
 * @module
 */

import { MeshError } from "./errors.ts";
import type { MeshAddress } from "./peer.ts";

/** What the join looks at of a member. */
export interface JoinMember {
  left: boolean;
  link?: unknown;
  pending?: "dial" | "accept";
  attempted: boolean;
  verified: boolean;
  heard?: boolean;
}

/** Timers of a {@linkcode Join}. */
export interface JoinClock {
  /** Runs `fn` after `ms`; returns the cancel function. */
  after: (ms: number, fn: () => void) => () => void;
  /** Resolves after `ms`. */
  sleep: (ms: number) => Promise<void>;
}

/** One join in progress. */
export class Join {
  /** Some member let us in (a seed, or one that dialled us first). */
  seedLinked = false;
  /** Every seed answered, or failed once we were in through another. */
  seedsSettled = false;
  /** The first member list on a link has arrived in full. */
  heardMembers = false;
  /** Settles when the join is complete, fails or times out. */
  readonly done: PromiseWithResolvers<void> = Promise.withResolvers<void>();
  readonly #seeds: MeshAddress[];
  readonly #clock: JoinClock;
  readonly #cancelTimer: () => void;
  #finished = false;

  /**
   * @param seeds the seeds (duplicates are dialled once)
   * @param timeout ms before the join fails: `ERR_SEED_UNREACHABLE` when no
   *   seed answered, else a `TimeoutError`
   */
  constructor(seeds: readonly MeshAddress[], timeout: number, clock: JoinClock) {
    this.#seeds = [...new Map(seeds.map((s) => [`${s.hostname}:${s.port}`, s])).values()];
    this.#clock = clock;
    this.#cancelTimer = clock.after(timeout, () =>
      this.done.reject(
        this.seedLinked
          ? new DOMException(
            `Joining the mesh timed out after ${timeout} ms (not every member answered)`,
            "TimeoutError",
          )
          : new MeshError(
            "ERR_SEED_UNREACHABLE",
            `No seed answered within ${timeout} ms: ${
              seeds.map((s) => `"${s.hostname}:${s.port}"`).join(", ")
            }`,
          ),
      ));
    const finish = () => {
      this.#finished = true;
      this.#cancelTimer();
    };
    this.done.promise.then(finish, finish);
  }

  /** Resolves the join when it is complete (see the module doc). */
  check(members: Iterable<JoinMember>, dialable: (member: JoinMember) => boolean): void {
    if (!this.seedLinked || !this.heardMembers || !this.seedsSettled) return;
    for (const member of members) {
      if (member.left || member.link) continue;
      if (!dialable(member)) continue;
      // Only heard of, second hand: not worth holding the join for.
      if (!member.verified && member.heard) continue;
      if (member.pending || !member.attempted) return;
    }
    this.done.resolve();
  }

  /**
   * Dials every seed (not only until one answers: two joiners that seed each
   * other could otherwise form a mesh of their own that nobody else knows).
   * Seeds not up yet are retried every 100 ms until the join ends. `dial`
   * resolves whether a link was set up; a `MeshError` from it fails the
   * join. `settled` is called once every seed has settled.
   */
  async dialSeeds(
    dial: (seed: MeshAddress) => Promise<boolean>,
    isClosed: () => boolean,
    settled: () => void,
  ): Promise<void> {
    const attempts = new Map<string, Promise<void>>();
    const done = new Set<string>();
    const seeds = this.#seeds;
    while (!this.#finished && !isClosed()) {
      for (const seed of seeds) {
        const key = `${seed.hostname}:${seed.port}`;
        if (attempts.has(key) || done.has(key)) continue;
        const attempt = dial(seed).then(
          (ok) => {
            if (ok) done.add(key);
            // A refused or failed seed counts once we are in through another.
            else if (this.seedLinked) done.add(key);
          },
          (error) => {
            if (error instanceof MeshError) this.done.reject(error);
          },
        ).finally(() => {
          attempts.delete(key);
          if (!this.#finished && done.size === seeds.length) {
            this.seedsSettled = true;
            settled();
          }
        });
        attempts.set(key, attempt);
      }
      if (done.size === seeds.length) break;
      await this.#clock.sleep(100);
    }
    await Promise.allSettled(attempts.values());
  }
}
