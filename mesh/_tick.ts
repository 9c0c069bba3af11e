/**
 * One timer tick of a member: the failure detector's decisions are carried
 * out (heartbeats, suspect, dead, forget, redial), membership news is
 * flooded, and on a heartbeat round the whole member list goes to one random
 * member (anti-entropy) or, when alone, the seeds are dialled again. The
 * clock and every side effect are injected: no sockets, no timers.
 *
 * @module
 */

import type { FailureDetector } from "./_failure_detector.ts";
import type { Member, MemberLink, Membership } from "./_membership.ts";
import type { WireMember } from "./_protocol.ts";

/** What one tick acts through. */
export interface TickHooks<L extends MemberLink> {
  /** The failure detector deciding. */
  readonly detector: FailureDetector;
  /** The member table. */
  readonly members: Membership<L>;
  /** Random numbers in [0, 1) (the anti-entropy target). */
  random(): number;
  /** Whether the inbox is full (heartbeats are not judged while paused). */
  inboxFull(): boolean;
  /** Whether this member is alone: no peers and no join running. */
  alone(): boolean;
  /** Sends a heartbeat on `link`. */
  ping(link: L, now: number): void;
  /** `member` was silent for `deadTimeout`: close `link` (if any), declare it gone. */
  dead(member: Member<L>, link: L | undefined): void;
  /** `member` was silent for `suspectTimeout`. */
  suspect(member: Member<L>): void;
  /** Dials `member`. */
  dial(member: Member<L>): void;
  /** Dials the seeds again. */
  dialSeeds(): void;
  /** Sends pieces of a member list to `member`. */
  postMembers(member: Member<L>, pieces: readonly WireMember[][]): void;
}

/** Runs one tick at time `now`. */
export function runTick<L extends MemberLink>(now: number, hooks: TickHooks<L>): void {
  const { members } = hooks;
  const { heartbeat, linked, actions } = hooks.detector.tick<L, Member<L>>(
    now,
    [...members.values()],
    hooks.inboxFull(),
    (member) => members.dialable(member),
  );
  if (heartbeat) members.beat++;
  for (const action of actions) {
    const member = action.member;
    switch (action.kind) {
      case "ping":
        hooks.ping(action.link, now);
        break;
      case "dead":
        hooks.dead(member, action.link);
        break;
      case "suspect":
        hooks.suspect(member);
        break;
      case "forget":
        members.remove(member);
        break;
      case "dial":
        hooks.dial(member);
        break;
    }
  }
  for (const [member, pieces] of members.takeNews(linked)) hooks.postMembers(member, pieces);
  if (heartbeat && linked.length > 0) {
    // Anti-entropy: the whole list to one random member each round.
    const target = linked[Math.floor(hooks.random() * linked.length)];
    hooks.postMembers(target, members.share(target, members.list()));
  }
  // Alone: knock on the seeds again (a healed partition, a restarted mesh).
  if (heartbeat && linked.length === 0 && hooks.alone()) hooks.dialSeeds();
}
