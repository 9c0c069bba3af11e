/**
 * mesh/_join.ts on its own: when a join is complete, how seeds are dialled
 * and retried, and the two ways it times out, on a fake clock. No sockets,
 * no real timers.
 */
import assert from "node:assert/strict";
import { MeshError } from "../mesh/mod.ts";
import { Join, type JoinMember } from "../mesh/_join.ts";

class FakeClock {
  #timers = new Set<{ at: number; fn: () => void }>();
  #sleepers: Array<() => void> = [];
  now = 0;
  after = (ms: number, fn: () => void): () => void => {
    const timer = { at: this.now + ms, fn };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  };
  sleep = (_ms: number): Promise<void> => new Promise((resolve) => this.#sleepers.push(resolve));
  advance(ms: number): void {
    this.now += ms;
    for (const timer of [...this.#timers]) {
      if (timer.at <= this.now) {
        this.#timers.delete(timer);
        timer.fn();
      }
    }
  }
  wakeSleepers(): void {
    for (const wake of this.#sleepers.splice(0)) wake();
  }
  get timers(): number {
    return this.#timers.size;
  }
}

const seed = (port: number) => ({ hostname: "127.0.0.1", port });
const tried = (extra: Partial<JoinMember> = {}): JoinMember => ({
  left: false,
  attempted: true,
  verified: true,
  ...extra,
});

Deno.test("Join completes once linked, the member list is in and every dialable member was tried", async () => {
  const clock = new FakeClock();
  const join = new Join([seed(1)], 10_000, clock);
  const members = [tried({ link: {} }), tried({ attempted: false })];
  join.seedLinked = true;
  join.heardMembers = true;
  join.seedsSettled = true;
  join.check(members, () => true);
  members[1].attempted = true;
  members[1].pending = "dial";
  join.check(members, () => true);
  // Not dialable, or only heard of second hand: not waited for.
  join.check(
    [...members.slice(0, 1), tried({ verified: false, heard: true, attempted: false })],
    () => true,
  );
  await join.done.promise;
  assert.equal(clock.timers, 0);
});

Deno.test("Join fails with ERR_SEED_UNREACHABLE when no seed answered, TimeoutError when some did", async () => {
  const clock = new FakeClock();
  const lonely = new Join([seed(1), seed(2)], 500, clock);
  clock.advance(500);
  await assert.rejects(
    lonely.done.promise,
    (e) => e instanceof MeshError && e.code === "ERR_SEED_UNREACHABLE" && /:1", /.test(e.message),
  );
  const partial = new Join([seed(1)], 500, clock);
  partial.seedLinked = true;
  clock.advance(500);
  await assert.rejects(
    partial.done.promise,
    (e) => e instanceof DOMException && e.name === "TimeoutError",
  );
});

Deno.test("Join.dialSeeds() dials each distinct seed, retries the ones not up, and reports when all settled", async () => {
  const clock = new FakeClock();
  const join = new Join([seed(1), seed(2), seed(1)], 10_000, clock);
  const dials: number[] = [];
  let up = false;
  let settled = 0;
  const running = join.dialSeeds(
    (s) => {
      dials.push(s.port);
      return Promise.resolve(s.port === 1 || up);
    },
    () => false,
    () => settled++,
  );
  for (let i = 0; i < 5 && dials.length < 2; i++) await Promise.resolve();
  assert.deepEqual(dials, [1, 2]);
  up = true;
  // Each round waits 100 ms (fake): wake it until the seeds have settled.
  let finished = false;
  running.then(() => finished = true);
  for (let round = 0; round < 5 && !finished; round++) {
    for (let i = 0; i < 10; i++) await Promise.resolve();
    clock.wakeSleepers();
  }
  await running;
  assert.deepEqual(dials, [1, 2, 2]);
  assert.equal(settled, 1);
  assert.equal(join.seedsSettled, true);
  join.done.resolve();
});

Deno.test("Join.dialSeeds(): a MeshError from a seed fails the join", async () => {
  const clock = new FakeClock();
  const join = new Join([seed(1)], 10_000, clock);
  const refusal = new MeshError("ERR_NAME_TAKEN", "taken");
  const running = join.dialSeeds(() => Promise.reject(refusal), () => false, () => {});
  await assert.rejects(join.done.promise, (e) => e === refusal);
  clock.wakeSleepers(); // the join is over: no more rounds
  await running;
});
