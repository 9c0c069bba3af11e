/**
 * mesh/_membership.ts on its own: adding, merging gossip, flooding news
 * once, the bound on unverified gossip and cutting off a source of
 * unreachable members. In process, with a fake clock; no sockets, no timers.
 */
import assert from "node:assert/strict";
import { type Member, type MemberLink, Membership } from "../mesh/_membership.ts";
import {
  MEMBER_HEARD,
  MEMBER_LEFT,
  MEMBER_LINKED,
  MEMBER_LIVE,
  MEMBERS_PER_FRAME,
  type WireMember,
} from "../mesh/_protocol.ts";

interface FakeLink extends MemberLink {
  open: boolean;
}

function table(limits: { maxUnverifiedMembers?: number; maxUnreachableMembers?: number } = {}) {
  const clock = { now: 1000 };
  const cutOff: string[] = [];
  const left: string[] = [];
  const members = new Membership<FakeLink>({
    self: { id: "m", name: "me", host: "127.0.0.1", port: 4000 },
    maxMembers: 16,
    maxUnverifiedMembers: limits.maxUnverifiedMembers ?? 8,
    maxUnreachableMembers: limits.maxUnreachableMembers ?? 2,
    allowAddress: (addr) => addr.hostname === "127.0.0.1",
    now: () => clock.now,
    onSourceCutOff: (offender) => cutOff.push(offender.id),
    onLeft: (member) => left.push(member.id),
  });
  return { members, clock, cutOff, left };
}

function linked(members: Membership<FakeLink>, id: string): Member<FakeLink> {
  const member = members.add(id, `name-${id}`, "127.0.0.1", 5000, 0);
  members.verify(member, { open: true }, true);
  return member;
}

const entry = (id: string, state: WireMember["state"], beat = 1): WireMember => ({
  id,
  name: `name-${id}`,
  host: "127.0.0.1",
  port: 5001,
  beat,
  state,
});

Deno.test("Membership.list() puts this member first, then each entry in the state it may pass on", () => {
  const { members } = table();
  const a = linked(members, "a");
  members.merge(a, [entry("g", MEMBER_LIVE)]);
  members.beat = 7;
  assert.deepEqual(members.list().map((e) => [e.id, e.state, e.beat]), [
    ["m", MEMBER_LIVE, 7],
    ["a", MEMBER_LIVE, 0],
    ["g", MEMBER_HEARD, 1],
  ]);
});

Deno.test("Membership floods news once to each linked member that does not have it", () => {
  const { members } = table();
  const a = linked(members, "a");
  const b = linked(members, "b");
  members.takeNews([a, b]); // the adds
  members.merge(a, [entry("g", MEMBER_LIVE)]);
  const news = members.takeNews([a, b]);
  // a told us: only b gets g (marked as heard of).
  assert.deepEqual(news.map(([m, pieces]) => [m.id, pieces.flat().map((e) => [e.id, e.state])]), [
    ["b", [["g", MEMBER_HEARD]]],
  ]);
  assert.deepEqual(members.takeNews([a, b]), []);
});

Deno.test("Membership.share() cuts a list into MEMBERS pieces and ends a full one with an empty piece", () => {
  const { members } = table();
  const a = linked(members, "a");
  const list = Array.from({ length: MEMBERS_PER_FRAME }, (_, i) => entry(`x${i}`, MEMBER_LIVE));
  const pieces = members.share(a, list);
  assert.deepEqual(pieces.map((p) => p.length), [MEMBERS_PER_FRAME, 0]);
  assert.equal(members.share(a, list.slice(1)).length, 1);
});

Deno.test("Membership.merge() holds gossiped members apart, bounded per source", () => {
  const { members } = table({ maxUnverifiedMembers: 2 });
  const a = linked(members, "a");
  members.merge(a, [entry("g1", MEMBER_LIVE), entry("g2", MEMBER_LIVE), entry("g3", MEMBER_LIVE)]);
  assert.equal(members.unverified, 2);
  assert.equal(members.get("g3"), undefined);
  assert.equal(members.verifiedCount(), 1);
  // Addresses not allowed, left entries and entries without an address are never taken.
  members.merge(a, [{ ...entry("h", MEMBER_LIVE), host: "10.0.0.1" }, entry("l", MEMBER_LEFT)]);
  assert.equal(members.get("h"), undefined);
  assert.equal(members.get("l"), undefined);
});

Deno.test("Membership cuts off a source once too many of its members turn out unreachable", () => {
  const { members, cutOff } = table({ maxUnreachableMembers: 1 });
  const a = linked(members, "a");
  members.merge(a, [entry("g1", MEMBER_LIVE), entry("g2", MEMBER_LIVE), entry("g3", MEMBER_LIVE)]);
  members.dropUnverified(members.get("g1")!, true);
  assert.deepEqual(cutOff, []);
  members.dropUnverified(members.get("g2")!, true);
  assert.deepEqual(cutOff, ["a"]);
  // Its other entries go with it.
  assert.equal(members.get("g3"), undefined);
  assert.equal(members.unverified, 0);
});

Deno.test("Membership: gossip that a linked-off member left makes it leave and floods the news", () => {
  const { members, left, clock } = table();
  const a = linked(members, "a");
  const b = linked(members, "b");
  b.link = undefined;
  members.takeNews([a]);
  clock.now = 2000;
  members.merge(a, [entry("b", MEMBER_LEFT, 5)]);
  assert.deepEqual(left, ["b"]);
  assert.equal(b.left, true);
  assert.equal(b.beat, 5);
  assert.equal(b.beatAt, 2000);
  assert.deepEqual(members.takeNews([a]), []); // a told us
});

Deno.test("Membership.nameHeld() counts live, unsuspected links only; a lost one can be taken over", () => {
  const { members } = table();
  const a = linked(members, "a");
  assert.equal(members.nameHeld("name-a", "other"), true);
  assert.equal(members.nameHeld("name-a", "a"), false);
  a.suspect = true;
  assert.equal(members.nameHeld("name-a", "other"), false);
  a.suspect = false;
  a.link!.open = false;
  assert.equal(members.nameHeld("name-a", "other"), false);
});

Deno.test("Membership.add() makes the higher id of a pair wait DIAL_GRACE before dialling", () => {
  const { members, clock } = table();
  clock.now = 50;
  assert.equal(members.add("a", "a", "127.0.0.1", 1, 0).waitUntil, 650); // "m" > "a"
  assert.equal(members.add("z", "z", "127.0.0.1", 1, 0).waitUntil, 0);
  assert.equal(members.get("a")!.lastHeard, 50);
  members.floodJoined(members.get("a")!);
  assert.equal(members.list().find((e) => e.id === "a")?.state, MEMBER_HEARD);
  members.verify(members.get("a")!, { open: true }, false);
  assert.equal(members.list().find((e) => e.id === "a")?.state, MEMBER_LINKED);
});
