/**
 * mesh/_failure_detector.ts on its own: heartbeats, suspect, dead, forget,
 * redial and the stall allowance, tick by tick on a fake clock. No sockets,
 * no timers.
 */
import assert from "node:assert/strict";
import { FailureDetector, TICK, type WatchedMember } from "../mesh/_failure_detector.ts";

interface FakeLink {
  open: boolean;
}

type Watched = WatchedMember<FakeLink> & { id: string };

function member(id: string, now: number, linked: boolean): Watched {
  return {
    id,
    ...(linked ? { link: { open: true }, peer: {} } : {}),
    left: false,
    suspect: false,
    lastHeard: now,
    beatAt: now,
    failures: 0,
    nextDialAt: now,
    waitUntil: 0,
  };
}

const options = {
  heartbeatInterval: 1000,
  suspectTimeout: 3000,
  deadTimeout: 6000,
  forgetTimeout: 60_000,
  reconnectInterval: 2000,
  random: () => 0.5,
};

function kinds(result: { actions: { kind: string; member: { id: string } }[] }) {
  return result.actions.map((a) => `${a.kind}:${a.member.id}`);
}

Deno.test("FailureDetector pings every linked member once per heartbeatInterval", () => {
  const detector = new FailureDetector(options, 0);
  const a = member("a", 0, true);
  const first = detector.tick(TICK, [a], false, () => true);
  assert.equal(first.heartbeat, true);
  assert.deepEqual(kinds(first), ["ping:a"]);
  assert.deepEqual(first.linked, [a]);
  assert.deepEqual(kinds(detector.tick(2 * TICK, [a], false, () => true)), []);
  assert.equal(detector.tick(TICK + 1000, [a], false, () => true).heartbeat, true);
});

Deno.test("FailureDetector suspects a silent peer once, then declares it dead and schedules a redial", () => {
  const detector = new FailureDetector(options, 0);
  const a = member("a", 0, true);
  const link = a.link!;
  let now = 0;
  const seen: string[] = [];
  while (now < 6100) {
    now += TICK;
    const result = detector.tick(now, [a], false, () => true);
    seen.push(...kinds(result).filter((k) => !k.startsWith("ping")));
    if (result.actions.some((action) => action.kind === "dead")) {
      assert.equal(a.suspect, true);
      // What the caller does: the peer is gone.
      a.peer = undefined;
      a.suspect = false;
    }
  }
  assert.deepEqual(seen, ["suspect:a", "dead:a"]);
  assert.equal(a.link, undefined);
  const dead = detector.tick(now + TICK, [a], false, () => true);
  assert.deepEqual(kinds(dead), []); // the redial waits reconnectInterval * random
  assert.ok(a.nextDialAt > now && a.nextDialAt <= now + 1000);
  assert.equal(link.open, true); // closing it is the caller's
});

Deno.test("FailureDetector does not count a full inbox or a stall of our own against a peer", () => {
  const detector = new FailureDetector(options, 0);
  const a = member("a", 0, true);
  // Paused: silence we caused.
  for (let now = TICK; now <= 10_000; now += TICK) detector.tick(now, [a], true, () => true);
  assert.equal(a.suspect, false);
  assert.equal(a.lastHeard, 10_000);
  // A 20 s stall of this member: forgiven.
  const result = detector.tick(30_000, [a], false, () => true);
  assert.deepEqual(kinds(result), ["ping:a"]);
  assert.equal(a.suspect, false);
});

Deno.test("FailureDetector redials an unlinked member when due and forgets one unheard for forgetTimeout", () => {
  const detector = new FailureDetector(options, 0);
  const lost = member("lost", 0, false);
  const waiting = { ...member("waiting", 0, false), waitUntil: 500 };
  const undialable = member("undialable", 0, false);
  const result = detector.tick(
    TICK,
    [lost, waiting, undialable],
    false,
    (m) => m.id !== "undialable",
  );
  assert.deepEqual(kinds(result), ["dial:lost"]);
  assert.equal(lost.nextDialAt, Infinity);
  const later = detector.tick(61_000, [waiting, undialable], false, () => true);
  assert.deepEqual(kinds(later), ["forget:waiting", "forget:undialable"]);
});
