/**
 * Setting up links: dialling members and seeds, accepting connections
 * (at most `maxPendingHandshakes` in their handshake at once), running the
 * handshake with the member table deciding who is let in, and what a failed
 * or refused dial means for the member dialled (backoff, drop, forget). An
 * established link is handed to the mesh through a callback.
 *
 * @module
 */

import { connect } from "../framed/mod.ts";
import { type MeshError, MeshRangeError } from "./errors.ts";
import {
  type ByteConnection,
  destroyConnection,
  Link,
  type LinkLimits,
  WIRE_FRAMING,
} from "./_link.ts";
import type { Member as TableMember, Membership } from "./_membership.ts";
import { type Handshaker, joinEnding, Refusal } from "./_handshake.ts";
import { HandshakeSlots } from "./_handshake_slots.ts";
import { nextDialAfterDuplicate, nextDialAfterFailure } from "./_failure_detector.ts";
import type { Reject } from "./_protocol.ts";

type Member = TableMember<Link>;

/** What a {@linkcode Connector} works with, and how it reports. */
export interface ConnectorOptions {
  handshaker: Handshaker;
  members: Membership<Link>;
  linkLimits: LinkLimits;
  handshakeTimeout: number;
  reconnectInterval: number;
  maxPendingHandshakes: number;
  /** CA certificates: dial over TLS. */
  caCerts?: string[];
  /** Aborts dials in progress (the member leaves). */
  signal: AbortSignal;
  isClosed: () => boolean;
  track: (task: Promise<unknown>) => void;
  /** A link is up. */
  established: (member: Member, link: Link) => void;
  /** A connection was closed for the peer's fault (or not: the callee sorts it out). */
  connectionError: (error: unknown, conn: ByteConnection, peerId?: string) => void;
  /** A member's address now belongs to someone else. */
  replaced: (member: Member) => void;
  /** A dial ended: the join may be complete. */
  dialEnded: () => void;
  /** A refusal that ends a join (name taken, wrong secret or version). */
  joinFailed: (error: MeshError) => void;
}

/** Dials and accepts connections, up to an established link. */
export class Connector {
  #options: ConnectorOptions;
  /** Inbound connections in their handshake (bounded; they hold no member slot). */
  #accepting: HandshakeSlots<ByteConnection>;
  #handshakes = new Set<ByteConnection>();

  /** @param options what it works with */
  constructor(options: ConnectorOptions) {
    this.#options = options;
    const { maxPendingHandshakes } = options;
    this.#accepting = new HandshakeSlots(maxPendingHandshakes, (conn) => {
      const error = new MeshRangeError(
        "ERR_HANDSHAKE_LIMIT",
        `More than maxPendingHandshakes of ${maxPendingHandshakes} handshakes`,
        { limit: maxPendingHandshakes },
      );
      options.connectionError(error, conn);
      options.handshaker.refuse(conn, "ERR_HANDSHAKE_LIMIT", error.message);
    });
  }

  /** Drops every connection still in its handshake. */
  destroyAll(): void {
    for (const conn of this.#handshakes) destroyConnection(conn);
  }

  /** Runs the handshake of an inbound connection. */
  async accept(conn: ByteConnection): Promise<void> {
    const { handshaker, members } = this.#options;
    this.#handshakes.add(conn);
    this.#accepting.admit(conn);
    let claimedId: string | undefined;
    try {
      const done = await handshaker.accept(conn, {
        holdsSlot: () => this.#accepting.has(conn),
        isClosed: this.#options.isClosed,
        admit: (hello) => {
          const refusal = members.admitHello(hello.id, hello.name);
          if (!refusal) claimedId = hello.id;
          return refusal;
        },
        confirm: (hello) => members.refuseWhenFull(hello.id),
      });
      if (!done) return;
      const { id, name, host, port } = done.peer;
      const member = members.get(id) ?? members.add(id, name, host, port, 0, false);
      member.name = name;
      member.host = host;
      member.port = port;
      this.#handshakes.delete(conn);
      this.#accepting.release(conn);
      const { linkLimits } = this.#options;
      this.#options.established(
        member,
        new Link(conn, done.reader, false, linkLimits, done.sendMac, done.receiveMac),
      );
    } catch (error) {
      this.#options.connectionError(error, conn, claimedId);
      destroyConnection(conn);
    } finally {
      this.#handshakes.delete(conn);
      this.#accepting.release(conn);
      if (claimedId) members.endAccept(claimedId);
    }
  }

  /**
   * Dials a member (or a seed when `to` is undefined). Resolves `true` when
   * a link was set up, `false` when the attempt failed harmlessly; rejects
   * with `MeshError` when refused for a reason that ends a join.
   */
  async dial(hostname: string, port: number, to: Member | undefined): Promise<boolean> {
    const { handshaker, members, isClosed, caCerts } = this.#options;
    if (to) to.pending = "dial";
    let conn: ByteConnection | undefined;
    try {
      conn = await connect({
        hostname,
        port,
        ...WIRE_FRAMING,
        connectTimeout: this.#options.handshakeTimeout,
        reconnect: false,
        signal: this.#options.signal,
        ...(caCerts ? { caCerts, tls: true } : {}),
      });
    } catch {
      if (to) this.#dialFailed(to);
      return false;
    }
    if (isClosed()) {
      destroyConnection(conn);
      if (to) to.pending = undefined;
      return false;
    }
    this.#handshakes.add(conn);
    try {
      const done = await handshaker.dial(conn, hostname, to?.id, {
        isClosed,
        nameFree: (name, id) => !members.nameHeld(name, id),
      });
      const { id, name, host, port } = done.peer;
      let member = members.get(id);
      if (!member) member = members.add(id, name, host, port, 0);
      if (to && to !== member) to.pending = undefined;
      member.name = name;
      member.host = host;
      member.port = port;
      this.#handshakes.delete(conn);
      const { linkLimits } = this.#options;
      this.#options.established(
        member,
        new Link(conn, done.reader, true, linkLimits, done.sendMac, done.receiveMac),
      );
      return true;
    } catch (error) {
      this.#options.connectionError(error, conn, to?.id);
      destroyConnection(conn);
      if (to) {
        to.pending = undefined;
        if (error instanceof Refusal) this.#refusedDial(to, error.reject);
        else this.#dialFailed(to);
      }
      const ending = joinEnding(error);
      if (ending) {
        this.#options.joinFailed(ending);
        throw ending;
      }
      return false;
    } finally {
      this.#handshakes.delete(conn);
    }
  }

  #refusedDial(member: Member, reject: Reject): void {
    const now = performance.now();
    if (reject.code === "ERR_DUPLICATE") {
      // The other side's connection is being set up; look again soon in
      // case that one fails.
      member.nextDialAt = nextDialAfterDuplicate(now, this.#options.handshakeTimeout);
      return;
    }
    if (reject.code === "ERR_WRONG_PEER" || reject.code === "ERR_SELF") {
      // The member is gone: its address now belongs to someone else.
      if (!member.verified) {
        return this.#options.members.dropUnverified(member, member.vouched === true);
      }
      this.#options.replaced(member);
      return;
    }
    this.#dialFailed(member);
  }

  #dialFailed(member: Member): void {
    if (!member.verified) {
      // Gossip about a member nobody can reach: it never takes a slot.
      this.#options.members.dropUnverified(member, member.vouched === true);
      this.#options.dialEnded();
      return;
    }
    member.pending = undefined;
    member.attempted = true;
    member.failures++;
    member.nextDialAt = nextDialAfterFailure(
      performance.now(),
      member.failures,
      this.#options.reconnectInterval,
    );
    this.#options.dialEnded();
  }
}
