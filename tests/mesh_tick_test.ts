/**
 * mesh/_tick.ts on its own: one timer tick carries out the failure
 * detector's decisions through its hooks (heartbeats, suspect, dead,
 * forget, redial), floods membership news, sends the whole list to one
 * member per heartbeat round and knocks on the seeds when alone. A real
 * member table and detector on a fake clock; no sockets, no timers.
 */
import assert from "node:assert/strict";
import { FailureDetector, TICK } from "../mesh/_failure_detector.ts";
import type { Member, Membership } from "../mesh/_membership.ts";
import { MeshPeer } from "../mesh/peer.ts";
import { runTick, type TickHooks } from "../mesh/_tick.ts";
import { memberTable } from "./_tools/mesh_memory.ts";

interface FakeLink {
  open: boolean;
}

function setUp(alone = false) {
  const clock = { now: 0 };
  const members = memberTable<FakeLink>(() => clock.now);
  const calls: string[] = [];
  const sent: Array<[string, string[]]> = [];
  const hooks: TickHooks<FakeLink> = {
    detector: new FailureDetector({
      heartbeatInterval: 1000,
      suspectTimeout: 3000,
      deadTimeout: 6000,
      forgetTimeout: 20_000,
      reconnectInterval: 2000,
      random: () => 0,
    }, 0),
    members,
    random: () => 0,
    inboxFull: () => false,
    alone: () => alone,
    ping: (_link, now) => calls.push(`ping@${now}`),
    dead: (member, link) => {
      calls.push(`dead:${member.id}:${link ? "link" : "none"}`);
      member.peer = undefined; // as the mesh does: it is no peer any more
    },
    suspect: (member) => calls.push(`suspect:${member.id}`),
    dial: (member) => calls.push(`dial:${member.id}`),
    dialSeeds: () => calls.push("seeds"),
    postMembers: (member, pieces) => sent.push([member.id, pieces.flat().map((e) => e.id)]),
  };
  return { clock, members, calls, sent, hooks };
}

function linkedPeer(members: Membership<FakeLink>, id: string): Member<FakeLink> {
  const member = members.add(id, `name-${id}`, "127.0.0.1", 5000, 0);
  members.verify(member, { open: true }, true);
  member.peer = new MeshPeer(id, member.name, { hostname: "127.0.0.1", port: 5000 }, () => ({
    rtt: NaN,
    suspect: false,
    connected: true,
    bufferedAmount: 0,
    lastHeard: 0,
  }));
  return member;
}

Deno.test("runTick() pings every linked member on a heartbeat round and counts the beat", () => {
  const { members, calls, hooks } = setUp();
  linkedPeer(members, "a");
  linkedPeer(members, "b");
  runTick(TICK, hooks);
  assert.deepEqual(calls, [`ping@${TICK}`, `ping@${TICK}`]);
  assert.equal(members.beat, 1);
  // Within the heartbeat interval nothing more goes out.
  calls.length = 0;
  runTick(2 * TICK, hooks);
  assert.deepEqual(calls, []);
  assert.equal(members.beat, 1);
});

Deno.test("runTick() floods news and sends the whole member list to one member per heartbeat round", () => {
  const { members, sent, hooks } = setUp();
  linkedPeer(members, "a");
  runTick(TICK, hooks);
  // The news of a's arrival is not sent back to a; the anti-entropy round
  // sends a the whole list, this member first.
  assert.deepEqual(sent, [["a", ["m", "a"]]]);
});

Deno.test("runTick() carries out suspect, then dead, then a redial for a member that falls silent", () => {
  const { clock, members, calls, hooks } = setUp();
  const a = linkedPeer(members, "a");
  for (clock.now = TICK; clock.now <= 6100; clock.now += TICK) runTick(clock.now, hooks);
  const verdicts = calls.filter((call) => !call.startsWith("ping"));
  assert.deepEqual(verdicts, ["suspect:a", "dead:a:link", "dial:a"]);
  assert.equal(a.link, undefined, "the detector took the link away");
});

Deno.test("runTick() redials a member without a link and forgets it after forgetTimeout", () => {
  const { clock, members, calls, hooks } = setUp();
  // (A lower id than this member's "m" would leave the first dial to the other side.)
  members.add("z", "name-z", "127.0.0.1", 5000, 0);
  runTick(TICK, hooks);
  assert.deepEqual(calls, ["dial:z"]);
  for (clock.now = 2 * TICK; clock.now <= 20_000; clock.now += TICK) runTick(clock.now, hooks);
  assert.ok(members.get("z"), "kept until forgetTimeout");
  runTick(20_100, hooks);
  assert.equal(members.get("z"), undefined);
});

Deno.test("runTick() knocks on the seeds on a heartbeat round only when alone", () => {
  const lonely = setUp(true);
  runTick(TICK, lonely.hooks);
  runTick(2 * TICK, lonely.hooks);
  assert.deepEqual(lonely.calls, ["seeds"], "once per heartbeat round");
  const joining = setUp(false);
  runTick(TICK, joining.hooks);
  assert.deepEqual(joining.calls, []);
});
