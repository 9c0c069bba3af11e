/**
 * The member table: who is in the mesh, what each peer is known to have
 * heard (so news is flooded once), the queue of news to flood, and the
 * merging of gossiped member lists, with gossip about members nobody has
 * reached yet held apart and bounded per source ({@linkcode GossipAdmission}).
 * No sockets and no timers: the clock is injected, and what must happen to
 * a connection is handed back through callbacks.
 *
 * @module
 */

import type { MeshAddress, MeshPeer } from "./peer.ts";
import { GossipAdmission } from "./_admission.ts";
import type { Rejection } from "./_handshake.ts";
import {
  MEMBER_HEARD,
  MEMBER_LEFT,
  MEMBER_LINKED,
  MEMBER_LIVE,
  MEMBERS_PER_FRAME,
  type MemberState,
  type WireMember,
} from "./_protocol.ts";

/**
 * Of two members that learn of each other, only the lower id dials; the
 * higher id dials too only if no connection came within this many ms. This
 * halves the connections set up while a mesh forms and avoids most
 * simultaneous-dial races.
 */
export const DIAL_GRACE = 600;

/** What the member table needs of a connection. */
export interface MemberLink {
  readonly open: boolean;
}

/** One entry of the member table. */
export interface Member<L extends MemberLink = MemberLink> {
  id: string;
  name: string;
  host: string;
  port: number;
  beat: number;
  beatAt: number;
  left: boolean;
  link?: L;
  pending?: "dial" | "accept";
  peer?: MeshPeer;
  suspect: boolean;
  lastHeard: number;
  failures: number;
  nextDialAt: number;
  /** The higher id of a pair leaves the dialling to the lower id until then. */
  waitUntil: number;
  /** Member entries (`id:left`) this member is known to have: not flooded to it again. */
  knows: Set<string>;
  attempted: boolean;
  /** A connection to it succeeded once; unverified members only come from gossip. */
  verified: boolean;
  /** Id of the member whose gossip told us about it (unverified members). */
  source?: string;
  /** Its source dialled its address (so an unreachable one is the source's fault). */
  vouched?: boolean;
  /** Its source only heard of it: a join does not wait for it. */
  heard?: boolean;
  /** We reached it by dialling its address once. */
  dialled?: boolean;
}

/** This member, as it appears first in its own member list. */
export interface SelfEntry {
  id: string;
  name: string;
  /** The advertised host ("" when the peers should use the address they see). */
  host: string;
  port: number;
}

/** Limits, clock and callbacks of a {@linkcode Membership}. */
export interface MembershipOptions<L extends MemberLink> {
  self: SelfEntry;
  /** Most members reached; also the most gossiped ones held apart at once. */
  maxMembers: number;
  /** Gossiped members from one source waiting to be reached, at most. */
  maxUnverifiedMembers: number;
  /** Gossiped members from one source found unreachable before it is cut off. */
  maxUnreachableMembers: number;
  /** Whether a gossiped address may be dialled. */
  allowAddress: (addr: MeshAddress) => boolean;
  /** The clock (`performance.now()` in a mesh). */
  now: () => number;
  /** A linked member gossiped too many unreachable members: cut it off (`ERR_MEMBER_LIMIT`). */
  onSourceCutOff: (offender: Member<L>) => void;
  /** Gossip says an unlinked member left: it leaves (`peerleave` `"leave"`). */
  onLeft: (member: Member<L>) => void;
}

/** What a peer is known to have of a member entry (a heard-of entry counts as the live one). */
function knowKey(id: string, state: number): string {
  return state === MEMBER_LEFT ? `${id}:1` : `${id}:0`;
}

/** The gossip entry of a member in `state`. */
export function wireEntry(member: Member, state: MemberState): WireMember {
  const { id, name, host, port, beat } = member;
  return { id, name, host, port, beat, state };
}

/** The member table of one mesh member. */
export class Membership<L extends MemberLink> {
  /** This member's heartbeat counter (gossiped with its own entry). */
  beat = 0;
  #options: MembershipOptions<L>;
  #members = new Map<string, Member<L>>();
  #floodQueue = new Map<string, WireMember>();
  #admission: GossipAdmission;
  #unverified = 0;
  /** Ids with an inbound handshake under way: reserved against a second one. */
  #accepting = new Set<string>();

  /** @param options limits, clock and callbacks */
  constructor(options: MembershipOptions<L>) {
    this.#options = options;
    this.#admission = new GossipAdmission({
      maxUnverified: options.maxUnverifiedMembers,
      maxUnreachable: options.maxUnreachableMembers,
    });
  }

  /** The member with `id`, if known. */
  get(id: string): Member<L> | undefined {
    return this.#members.get(id);
  }

  /** Every known member (reached or not), in the order they were learned. */
  values(): IterableIterator<Member<L>> {
    return this.#members.values();
  }

  /** Gossiped members not reached yet. */
  get unverified(): number {
    return this.#unverified;
  }

  /** Members reached at least once. */
  verifiedCount(): number {
    let count = 0;
    for (const member of this.#members.values()) if (member.verified) count++;
    return count;
  }

  /** Whether a live member other than `id` holds `name`. */
  nameHeld(name: string, id: string): boolean {
    for (const member of this.#members.values()) {
      if (member.name !== name || member.id === id || member.left) continue;
      // A live connection holds the name; a lost one can be taken over (restart).
      if (member.link?.open && !member.suspect) return true;
    }
    return false;
  }

  /** Whether `member` has an address we may dial. */
  dialable(member: Member<L>): boolean {
    return member.host !== "" && member.port > 0 &&
      this.#options.allowAddress({ hostname: member.host, port: member.port });
  }

  /** Adds a member entry (and floods it as live unless `flood` is false). */
  add(id: string, name: string, host: string, port: number, beat: number, flood = true): Member<L> {
    const now = this.#options.now();
    const member: Member<L> = {
      id,
      name,
      host,
      port,
      beat,
      beatAt: now,
      left: false,
      suspect: false,
      lastHeard: now,
      failures: 0,
      nextDialAt: now,
      waitUntil: this.#options.self.id > id ? now + DIAL_GRACE : 0,
      knows: new Set(),
      attempted: false,
      verified: false,
    };
    this.#members.set(id, member);
    if (flood) this.#floodQueue.set(id, { id, name, host, port, beat, state: MEMBER_LIVE });
    return member;
  }

  /** Removes a member entry, freeing its gossip slot when it was never reached. */
  remove(member: Member<L>): void {
    if (member.source !== undefined) return this.dropUnverified(member, false);
    this.#members.delete(member.id);
  }

  /**
   * Removes a gossiped member that was never reached; when `unreachable`,
   * counts it against the member that gossiped it, and cuts that one off
   * (`onSourceCutOff`) once it has sent too many.
   */
  dropUnverified(member: Member<L>, unreachable: boolean): void {
    if (this.#members.get(member.id) === member) this.#members.delete(member.id);
    const source = member.source;
    if (source === undefined) return;
    member.source = undefined;
    this.#unverified--;
    if (!unreachable) return this.#admission.release(source);
    if (!this.#admission.unreachable(source)) return;
    const offender = this.#members.get(source);
    for (const other of [...this.#members.values()]) {
      if (other.source === source && !other.pending) this.dropUnverified(other, false);
    }
    if (offender?.link?.open) this.#options.onSourceCutOff(offender);
  }

  /**
   * A connection to `member` is up: it counts as reached (verified), its
   * gossip slot is freed, and it is told everything afresh.
   */
  verify(member: Member<L>, link: L, dialled: boolean): void {
    const now = this.#options.now();
    member.link = link;
    member.pending = undefined;
    member.failures = 0;
    member.attempted = true;
    member.left = false;
    member.lastHeard = now;
    member.beatAt = now;
    member.suspect = false;
    member.verified = true;
    if (dialled) member.dialled = true;
    if (member.source !== undefined) {
      this.#admission.release(member.source);
      member.source = undefined;
      member.vouched = false;
      this.#unverified--;
    }
  }

  /**
   * Decides on an inbound handshake from member `id` called `name`: a
   * refusal, or `undefined` after reserving the id against a second
   * handshake ({@linkcode endAccept} frees it). A member slot is taken only
   * once the handshake is done.
   */
  admitHello(id: string, name: string): Rejection | undefined {
    if (this.nameHeld(name, id)) {
      return { code: "ERR_NAME_TAKEN", message: `Name "${name}" is already taken` };
    }
    const member = this.#members.get(id);
    if (member?.pending === "accept" || this.#accepting.has(id)) {
      return { code: "ERR_DUPLICATE", message: "A connection is being set up already" };
    }
    if (member?.link?.open && !member.suspect) {
      // The live connection stays: a second one for a live id is either a
      // stale redial or someone claiming that id.
      return { code: "ERR_DUPLICATE", message: "A connection to this member is up" };
    }
    if (member?.pending === "dial" && this.#options.self.id < id) {
      // Simultaneous dials: the connection dialled by the lower id is kept.
      return { code: "ERR_DUPLICATE", message: "Keeping the connection dialled by the lower id" };
    }
    const full = this.refuseWhenFull(id);
    if (full) return full;
    if (member) member.pending = "accept";
    this.#accepting.add(id);
  }

  /** `ERR_MESH_FULL` when `id` is not a member yet and `maxMembers` are reached. */
  refuseWhenFull(id: string): Rejection | undefined {
    if (this.#members.get(id)?.verified) return undefined;
    if (this.verifiedCount() < this.#options.maxMembers) return undefined;
    return { code: "ERR_MESH_FULL", message: "Too many members" };
  }

  /** The inbound handshake of `id` admitted by {@linkcode admitHello} ended. */
  endAccept(id: string): void {
    this.#accepting.delete(id);
    const member = this.#members.get(id);
    if (member?.pending === "accept") member.pending = undefined;
  }

  /**
   * `member`'s link ended: when it said LEAVE, it has left (and the news is
   * flooded); else it is dialled again at once, or after
   * `reconnectInterval` when `pause` (we closed it for the peer's fault),
   * and the higher id of the pair leaves the first try to the lower one.
   */
  linkLost(member: Member<L>, leaving: boolean, pause: number): void {
    const now = this.#options.now();
    if (leaving) {
      member.left = true;
      member.beatAt = now;
      this.flood(member, MEMBER_LEFT);
      return;
    }
    member.attempted = true;
    member.failures = 0;
    member.nextDialAt = now + pause;
    if (this.#options.self.id > member.id) member.waitUntil = now + DIAL_GRACE;
  }

  /** Queues `member`'s entry in `state` to be flooded to every linked member. */
  flood(member: Member<L>, state: MemberState): void {
    this.#floodQueue.set(member.id, wireEntry(member, state));
  }

  /** Queues a newly linked member's entry (live, or linked when we did not dial it). */
  floodJoined(member: Member<L>): void {
    this.flood(member, member.dialled ? MEMBER_LIVE : MEMBER_LINKED);
  }

  /**
   * Takes the flood queue: for each of `linked`, the queued entries it is
   * not known to have (marked as known now), in MEMBERS pieces.
   */
  takeNews(linked: readonly Member<L>[]): Array<[Member<L>, WireMember[][]]> {
    if (this.#floodQueue.size === 0 || linked.length === 0) return [];
    // New entries go at once to every member not known to have them.
    const news = [...this.#floodQueue.values()];
    const out: Array<[Member<L>, WireMember[][]]> = [];
    for (const member of linked) {
      const unknown = news.filter((e) =>
        e.id !== member.id && !member.knows.has(knowKey(e.id, e.state))
      );
      if (unknown.length > 0) out.push([member, this.share(member, unknown)]);
    }
    this.#floodQueue.clear();
    return out;
  }

  /** The whole list: this member first, then every entry we may pass on. */
  list(): WireMember[] {
    const list: WireMember[] = [{ ...this.#options.self, beat: this.beat, state: MEMBER_LIVE }];
    for (const m of this.#members.values()) {
      // A member we only heard of first hand is passed on once, marked as
      // heard of (so nobody blames us if it is a lie), never further.
      const state = m.verified
        ? (m.left ? MEMBER_LEFT : m.dialled ? MEMBER_LIVE : MEMBER_LINKED)
        : m.heard
        ? undefined
        : MEMBER_HEARD;
      if (state !== undefined) list.push(wireEntry(m, state));
    }
    return list;
  }

  /**
   * Marks `list` as known to `member` and cuts it into MEMBERS pieces. A
   * list that fills its last piece gets an empty one after it, so the
   * receiver sees where it ends.
   */
  share(member: Member<L>, list: readonly WireMember[]): WireMember[][] {
    for (const entry of list) member.knows.add(knowKey(entry.id, entry.state));
    // In pieces well under the control limit, however many members there are.
    const pieces: WireMember[][] = [];
    for (let i = 0; i < list.length; i += MEMBERS_PER_FRAME) {
      pieces.push(list.slice(i, i + MEMBERS_PER_FRAME));
    }
    if (list.length % MEMBERS_PER_FRAME === 0) pieces.push([]);
    return pieces;
  }

  /** Merges the entries of a MEMBERS frame from `from`. */
  merge(from: Member<L>, entries: readonly WireMember[]): void {
    const { self, allowAddress, maxMembers } = this.#options;
    const now = this.#options.now();
    for (const { id, name, host, port, beat, state } of entries) {
      const left = state === MEMBER_LEFT;
      if (id === self.id) {
        from.knows.add(knowKey(id, state));
        continue;
      }
      let member = this.#members.get(id);
      if (!member) {
        if (left || host === "" || port === 0) continue;
        if (!allowAddress({ hostname: host, port })) continue;
        // Not a member until reached: held apart, a bounded number per source.
        if (this.#unverified >= maxMembers) continue;
        if (!this.#admission.admit(from.id)) continue;
        member = this.add(id, name, host, port, beat, false);
        member.source = from.id;
        // The source says it reached this member: if that is not true, the
        // source is to blame (and we pass the entry on once, marked).
        member.vouched = state === MEMBER_LIVE;
        member.heard = state === MEMBER_HEARD;
        // First-hand news travels one more hop, marked as heard of.
        if (!member.heard) {
          this.#floodQueue.set(id, { id, name, host, port, beat, state: MEMBER_HEARD });
        }
        this.#unverified++;
        from.knows.add(knowKey(id, state));
        continue;
      }
      from.knows.add(knowKey(id, state));
      // Someone connected to it tells us of it: a join waits for it after all.
      if (member.heard && state !== MEMBER_HEARD) member.heard = false;
      if (beat > member.beat) {
        member.beat = beat;
        member.beatAt = now;
      }
      if (left && !member.left && member !== from && member.verified) {
        member.left = true;
        member.beatAt = now;
        this.#floodQueue.set(id, {
          id,
          name,
          host: member.host,
          port: member.port,
          beat: member.beat,
          state: MEMBER_LEFT,
        });
        if (!member.link) this.#options.onLeft(member);
      }
      if (member.host === "" && host !== "") member.host = host;
    }
  }
}
