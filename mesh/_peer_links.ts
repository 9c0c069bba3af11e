/**
 * The table of peers and their links: what happens when a link to a member
 * is established (member list, state and a PING go out, `peerjoin`), while
 * it is read (see `_link_reader.ts`), and when it ends (pending requests
 * fail, a redial is scheduled, `peerleave` on a goodbye). Events, the
 * state, requests and the join go through injected hooks; the links are
 * handed in, so it opens no sockets itself.
 *
 * @module
 */

import { MeshError } from "./errors.ts";
import { MeshPeer } from "./peer.ts";
import type { MeshStateEntry } from "./state.ts";
import type {
  MeshConnectionErrorDetail,
  MeshEventMap,
  MeshLeaveReason,
  MeshMessage,
  MeshPeerEventDetail,
} from "./types.ts";
import { type Link, type LinkConnection, peerFault } from "./_link.ts";
import { readLink } from "./_link_reader.ts";
import type { Member as TableMember, Membership } from "./_membership.ts";
import type { DecodedReply, WireMember } from "./_protocol.ts";
import { encodeMembersFrame, encodeTime, KIND_PING } from "./_protocol.ts";
import type { ReplyChannel } from "./_requests.ts";
import { stateFrames } from "./_state_sync.ts";

type Member = TableMember<Link>;

/** What the peer table works with. */
export interface PeerLinksOptions {
  /** The member table. */
  readonly members: Membership<Link>;
  /** The pause before redialling a link closed for the peer's fault. */
  readonly reconnectInterval: number;
  /** The largest STATE frame accepted. */
  readonly stateFrameLimit: number;
  /** The clock. */
  now(): number;
  /** Whether this member has left. */
  isClosed(): boolean;
  /** Dispatches an event on the mesh. */
  emit(event: Event): void;
  /** Keeps a task alive until the mesh closes. */
  track(task: Promise<unknown>): void;
  /** The whole replicated state (sent on every new link). */
  stateSnapshot(): MeshStateEntry[];
  /** Replicated entries from a peer. */
  mergeState(entries: MeshStateEntry[]): void;
  /** The inbox of `messages()`. */
  readonly inbox: {
    readonly full: boolean;
    whenDrained(): Promise<void>;
    deliver(message: MeshMessage): void;
  };
  /** Answers a request from `peer`. */
  answer(
    link: ReplyChannel,
    peer: MeshPeer,
    requestId: number,
    type: string,
    enc: number,
    body: Uint8Array,
  ): void;
  /** Our pending requests. */
  readonly requests: {
    settle(peerId: string, reply: DecodedReply): void;
    failPeer(peerId: string, reason: () => unknown): void;
  };
  /** A member let us in (the join, if one runs, may be done). */
  linked(): void;
  /** The first member list on a link arrived in full (the join may be done). */
  heardMembers(): void;
}

/** The peers of one member and the links to them. */
export class PeerLinks {
  /** The other members that count as peers, keyed by id. */
  readonly peers: Map<string, MeshPeer> = new Map();
  #options: PeerLinksOptions;

  /** @param options what it works with */
  constructor(options: PeerLinksOptions) {
    this.#options = options;
  }

  /** A handshake set up `link` to `member`: take it into use. */
  established(member: Member, link: Link): void {
    const { members, now, stateSnapshot, track } = this.#options;
    const old = member.link;
    if (old && old !== link) {
      old.replaced = true;
      old.fail(new DOMException("Replaced by a newer connection", "AbortError"));
    }
    const time = now();
    members.verify(member, link, link.dialer);
    // A new member with the name of a lost one replaces it.
    for (const other of members.values()) {
      if (other !== member && other.name === member.name) this.forget(other, "replaced");
    }
    member.knows.clear();
    this.postMembers(member, members.share(member, members.list()));
    const snapshot = stateSnapshot();
    if (snapshot.length > 0) {
      // In pieces under the control limit, however large the state is.
      for (const frame of stateFrames(snapshot, true)) link.post(frame).catch(() => {});
    }
    link.post(encodeTime(KIND_PING, time));
    if (!member.peer) {
      member.peer = new MeshPeer(
        member.id,
        member.name,
        { hostname: member.host, port: member.port },
        () => ({
          rtt: member.link?.rtt ?? NaN,
          suspect: member.suspect,
          connected: member.link?.open ?? false,
          bufferedAmount: member.link?.bufferedAmount ?? 0,
          lastHeard: member.lastHeard,
        }),
      );
      this.peers.set(member.id, member.peer);
      members.floodJoined(member);
      this.emitPeer("peerjoin", member.peer);
    }
    track(this.#read(member, link));
    // Any member that let us in (a seed, or one that dialled us first) means
    // we are in the mesh.
    this.#options.linked();
  }

  /** Sends pieces of a member list to `member`. */
  postMembers(member: Member, pieces: readonly WireMember[][]): void {
    for (const piece of pieces) {
      member.link?.post(encodeMembersFrame(piece)).catch(() => {});
    }
  }

  /** The open link to peer `peerId`; throws `ERR_UNKNOWN_PEER` / `ERR_PEER_LEFT`. */
  linkTo(peerId: string): Link {
    const member = this.#options.members.get(peerId);
    if (!member?.peer) {
      throw new MeshError("ERR_UNKNOWN_PEER", `No peer with id "${peerId}" in the mesh`);
    }
    if (!member.link?.open) {
      throw new MeshError("ERR_PEER_LEFT", `Peer "${member.name}" is not connected right now`);
    }
    return member.link;
  }

  /** Reports a connection closed for the peer's fault (`connectionerror`). */
  connectionError(error: unknown, conn: LinkConnection, peerId?: string): void {
    const typed = peerFault(error);
    if (!typed || this.#options.isClosed()) return;
    let remoteAddr: Deno.NetAddr;
    try {
      remoteAddr = conn.remoteAddr;
    } catch {
      remoteAddr = { transport: "tcp", hostname: "", port: 0 };
    }
    const detail: MeshConnectionErrorDetail = {
      error: typed,
      remoteAddr,
      ...(peerId ? { peerId } : {}),
    };
    this.#options.emit(new CustomEvent("connectionerror", { detail }));
  }

  /** `member` stops counting as a peer (`peerleave` with `reason`). */
  drop(member: Member, reason: MeshLeaveReason): void {
    const peer = member.peer;
    member.peer = undefined;
    member.suspect = false;
    if (!peer) return;
    this.peers.delete(member.id);
    this.emitPeer("peerleave", peer, reason);
  }

  /** Removes `member` from the table, closing its link. */
  forget(member: Member, reason: MeshLeaveReason): void {
    if (member.link) {
      member.link.replaced = true;
      member.link.fail(new DOMException("Member forgotten", "AbortError"));
      member.link = undefined;
    }
    this.#options.members.remove(member);
    this.drop(member, reason);
  }

  /** Dispatches a peer event. */
  emitPeer(type: keyof MeshEventMap, peer: MeshPeer, reason?: MeshLeaveReason): void {
    const detail: MeshPeerEventDetail = {
      peer,
      id: peer.id,
      name: peer.name,
      addr: peer.addr,
      ...(reason ? { reason } : {}),
    };
    this.#options.emit(new CustomEvent(type, { detail }));
  }

  /** Forgets every link (the mesh has closed them). */
  clear(): void {
    for (const member of this.#options.members.values()) member.link = undefined;
    this.peers.clear();
  }

  #read(member: Member, link: Link): Promise<void> {
    const options = this.#options;
    return readLink(member, link, {
      stateFrameLimit: options.stateFrameLimit,
      now: options.now,
      inboxFull: () => options.inbox.full,
      inboxDrained: () => options.inbox.whenDrained(),
      deliver: (member, type, content) => {
        const message: MeshMessage = { from: member.id, type, content, peer: member.peer! };
        options.inbox.deliver(message);
        options.emit(new CustomEvent<MeshMessage>("message", { detail: message }));
      },
      answer: (link, member, id, type, enc, body) =>
        options.answer(link, member.peer!, id, type, enc, body),
      settle: (member, reply) => options.requests.settle(member.id, reply),
      members: (member, link, entries, last) => {
        options.members.merge(member, entries);
        // The first list on a link is the whole list (see established()).
        if (member.link === link && last) options.heardMembers();
      },
      state: (entries) => options.mergeState(entries),
      fault: (error, member, link) => this.connectionError(error, link.conn, member.id),
      track: options.track,
      ended: (member, link, error) => this.#linkClosed(member, link, error),
    });
  }

  #linkClosed(member: Member, link: Link, error: unknown): void {
    if (!link.closing) link.fail(error);
    if (member.link !== link) return;
    member.link = undefined;
    const why = link.remoteClose ? ` (it closed the connection: ${link.remoteClose})` : "";
    this.#options.requests.failPeer(
      member.id,
      () => new MeshError("ERR_PEER_LEFT", `Connection to "${member.name}" was lost${why}`),
    );
    if (this.#options.isClosed()) return;
    // Lost without a goodbye: reconnect at once (after a pause when we
    // closed it for the peer's fault); the failure detector declares it dead
    // if that keeps failing for deadTimeout.
    const pause = link.closing || peerFault(error) ? this.#options.reconnectInterval : 0;
    this.#options.members.linkLost(member, link.leaving, pause);
    if (link.leaving) this.drop(member, "leave");
  }
}
