/**
 * Rooms and presence over a cluster, for any transport: a `RoomHub` tracks
 * which local members (connections) are in which room, subscribes the
 * engine only to rooms that have local members, delivers each room message
 * once to every member on every server, and keeps a cluster-wide view of
 * who is in which room with heartbeats and a reaper.
 *
 * `serve({ cluster })` of `@netkit/realtime/websocket` runs one hub per
 * server; other transports can run their own.
 *
 * @module
 */

import { ClusterCore } from "./_core.ts";
import { Listener } from "./_listener.ts";
import { checkRoom, dataBytes } from "./_settings.ts";
import { encodeFrame, type Frame } from "./_wire.ts";
import { ClusterError, ClusterRangeError, ClusterTypeError } from "./errors.ts";
import type { Cluster } from "./types.ts";

/**
 * One member of a room somewhere in the cluster.
 *
 * @example
 * ```ts
 * import { connectCluster, RoomHub, type RoomMember } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * await using hub = new RoomHub<object>(cluster, { fanOut: () => {} });
 * await hub.join({}, "lobby");
 * const members: RoomMember[] = await hub.to("lobby").members();
 * console.log(members[0].node === hub.id); // true
 * ```
 */
export interface RoomMember {
  /** The member's id, unique in the cluster (what `except()` accepts too). */
  readonly id: string;
  /** The id of the hub (server) the member is connected to. */
  readonly node: string;
}

/**
 * A member joined or left a room (left includes: its server died).
 *
 * @example
 * ```ts
 * import type { PresenceEvent } from "@netkit/realtime/cluster";
 * const log = (event: PresenceEvent) => console.log(event.type, event.room, event.member.id);
 * log({ type: "join", room: "lobby", member: { id: "a", node: "n" } });
 * ```
 */
export interface PresenceEvent {
  /** `"join"` or `"leave"`. */
  readonly type: "join" | "leave";
  /** The room. */
  readonly room: string;
  /** Who. */
  readonly member: RoomMember;
}

/**
 * Presence events of one room, as an async iterable; `break` or dispose ends it.
 *
 * @example
 * ```ts
 * import { connectCluster, RoomHub } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * await using hub = new RoomHub<object>(cluster, { fanOut: () => {} });
 * await using events = hub.to("lobby").watch();
 * await hub.join({}, "lobby");
 * for await (const event of events) {
 *   console.log(event.type); // "join"
 *   break;
 * }
 * ```
 */
export interface PresenceWatch extends AsyncIterable<PresenceEvent>, AsyncDisposable {
  /** Stops watching. */
  stop(): void;
}

/**
 * Who a room operation addresses: a room, minus some members.
 *
 * @example
 * ```ts
 * import { connectCluster, RoomHub, type RoomTarget } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * await using hub = new RoomHub<object>(cluster, { fanOut: () => {} });
 * const target: RoomTarget<object> = hub.to("lobby");
 * await target.send("hi");
 * ```
 */
export interface RoomTarget<M> {
  /** The same room without `members` (members or their ids). */
  except(...members: (M | string)[]): RoomTarget<M>;
  /**
   * Sends `data` to each member on every server, exactly once, in order per
   * publisher. Local members get it at once (through `fanOut`); resolves once
   * the engine took it for the other servers (held while it is away, up to
   * `publishBuffer`, else rejects with `ERR_ENGINE_UNAVAILABLE`).
   */
  send(data: string | Uint8Array): Promise<void>;
  /** Members of the room across the cluster (the excepted ones not counted). */
  count(): Promise<number>;
  /** The members across the cluster, like socket.io's `fetchSockets()` (without the excepted). */
  members(): Promise<RoomMember[]>;
  /** Join and leave events of the room from now on, local and remote. */
  watch(options?: { signal?: AbortSignal }): PresenceWatch;
}

/**
 * What a `RoomHub` needs from its transport.
 *
 * @example
 * ```ts
 * import { connectCluster, RoomHub, type RoomHubOptions } from "@netkit/realtime/cluster";
 * const options: RoomHubOptions<WebSocket> = {
 *   fanOut: (sockets, data) => {
 *     for (const socket of sockets) socket.send(data);
 *   },
 * };
 * await using cluster = await connectCluster();
 * await using hub = new RoomHub(cluster, options);
 * ```
 */
export interface RoomHubOptions<M> {
  /**
   * Offers `data` to each local member without waiting for any (a bounded
   * per-member send queue): one slow member must not stall the room.
   */
  fanOut(members: Iterable<M>, data: string | Uint8Array): void;
}

const PRESENCE = "_nk.p";
const roomSubject = (room: string) => `_nk.r.${room}`;
const hubSubject = (hub: string) => `_nk.h.${hub}`;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Presence events a watcher may leave unread before it ends with `ERR_SUBSCRIPTION_OVERFLOW`. */
const MAX_WATCH_PENDING = 10_000;

let hubCount = 0;
/** Member ids, process-wide: a member keeps one id whichever hub names it. */
const memberIds = new WeakMap<object, string>();

/** What this hub knows of another hub. */
interface NodeView {
  seq: number;
  lastSeen: number;
  rooms: Map<string, Set<string>>;
}

type PresenceMessage =
  | { t: "hb"; s: number }
  | { t: "d"; s: number; j?: [string, string]; l?: [string, string] }
  | { t: "hello" | "state"; s: number; r: Record<string, string[]> }
  | { t: "sync" }
  | { t: "bye" };

interface LocalRoom<M> {
  members: Set<M>;
  listener: Listener;
  ready: Promise<void>;
}

/**
 * Rooms and presence of one server over a {@linkcode Cluster}. Members are
 * the transport's connection objects; delivery goes through `fanOut`.
 *
 * Presence: every hub publishes a heartbeat each `presence.heartbeatInterval`
 * and a delta on each join/leave; the others request its full state when a
 * sequence number shows a gap. A hub not heard from is reaped so that its
 * members have left every view within `presence.timeout` of its death.
 *
 * @example
 * ```ts
 * import { connectCluster, RoomHub } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster();
 * const inbox: string[] = [];
 * const alice = { name: "alice" };
 * await using hub = new RoomHub<typeof alice>(cluster, {
 *   fanOut: (members, data) => {
 *     for (const member of members) inbox.push(`${member.name}: ${data}`);
 *   },
 * });
 * await hub.join(alice, "lobby");
 * await hub.to("lobby").send("hi");
 * console.log(inbox, await hub.to("lobby").count()); // ["alice: hi"] 1
 * ```
 */
export class RoomHub<M extends object> implements AsyncDisposable {
  /** This hub's id in the cluster (`RoomMember.node`). */
  readonly id: string;
  #core: ClusterCore;
  #fanOut: (members: Iterable<M>, data: string | Uint8Array) => void;
  #rooms = new Map<string, LocalRoom<M>>();
  #roomsOf = new WeakMap<M, Set<string>>();
  #memberCount = 0;
  #frameSeq = 0;
  #presenceSeq = 0;
  #view = new Map<string, NodeView>();
  #syncAsked = new Map<string, number>();
  #watchers = new Map<string, Set<(event: PresenceEvent) => void>>();
  #presenceListener: Listener;
  #directListener: Listener;
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopStatus: () => void;
  #stopClose: () => void;
  #closed = false;
  #closeWatchers = new Set<() => void>();
  /** Resolves once the presence subscriptions are active. */
  readonly ready: Promise<void>;

  /** Creates a hub on `cluster` (from `connectCluster()`). */
  constructor(cluster: Cluster, options: RoomHubOptions<M>) {
    if (!(cluster instanceof ClusterCore)) {
      throw new ClusterTypeError(
        "ERR_INVALID_OPTION",
        "cluster must come from connectCluster() or createLocalCluster()",
      );
    }
    if (typeof options?.fanOut !== "function") {
      throw new ClusterTypeError("ERR_INVALID_OPTION", `Option "fanOut" must be a function`);
    }
    this.#core = cluster;
    this.#fanOut = options.fanOut;
    this.id = `${cluster.nodeId}-${++hubCount}`;
    this.#presenceListener = new Listener((frame) => this.#onPresence(frame));
    this.#directListener = new Listener((frame) => this.#onPresence(frame));
    this.ready = Promise.all([
      cluster.listen(PRESENCE, this.#presenceListener),
      cluster.listen(hubSubject(this.id), this.#directListener),
    ]).then(() => this.#hello());
    this.ready.catch(() => {});
    const { heartbeatInterval, presenceTimeout } = cluster.settings;
    const tick = Math.min(250, Math.floor(heartbeatInterval / 2));
    const deadAfter = presenceTimeout - 2 * tick;
    // In one process a hub cannot die without saying goodbye: no heartbeats needed.
    if (cluster.engine !== "local") {
      this.#timers.push(
        setInterval(
          () => this.#sendPresence(PRESENCE, { t: "hb", s: this.#presenceSeq }),
          heartbeatInterval,
        ),
        setInterval(() => this.#reap(deadAfter), tick),
      );
    }
    this.#stopStatus = cluster.watchStatus((up) => {
      if (!up) return;
      // Everyone was cut off, not dead: restart their clocks, then exchange state again.
      const now = Date.now();
      for (const view of this.#view.values()) view.lastSeen = now;
      this.#hello();
    });
    this.#stopClose = cluster.onClose(() => void this.close());
  }

  /** The cluster-unique id of a local member (assigned on first use). */
  memberId(member: M): string {
    let id = memberIds.get(member);
    if (!id) memberIds.set(member, id = `${this.id}:${++this.#memberCount}`);
    return id;
  }

  /** The rooms `member` is in (a snapshot). */
  roomsOf(member: M): Set<string> {
    return new Set(this.#roomsOf.get(member));
  }

  /**
   * Adds `member` to `room`; resolves once room messages published from now
   * on reach it. Throws `ERR_INVALID_ROOM_NAME` / `ERR_ROOM_NAME_TOO_LONG`.
   */
  async join(member: M, room: string): Promise<void> {
    checkRoom(room);
    if (this.#closed) throw new ClusterError("ERR_CLUSTER_CLOSED", "The room hub is closed");
    let rooms = this.#roomsOf.get(member);
    if (!rooms) this.#roomsOf.set(member, rooms = new Set());
    if (rooms.has(room)) return await this.#rooms.get(room)?.ready;
    rooms.add(room);
    let local = this.#rooms.get(room);
    if (!local) {
      const listener = new Listener((frame) => this.#onRoomFrame(room, frame));
      local = {
        members: new Set(),
        listener,
        ready: this.#core.listen(roomSubject(room), listener),
      };
      this.#rooms.set(room, local);
    }
    local.members.add(member);
    const id = this.memberId(member);
    this.#presenceSeq++;
    this.#sendPresence(PRESENCE, { t: "d", s: this.#presenceSeq, j: [room, id] });
    this.#emit({ type: "join", room, member: { id, node: this.id } });
    await local.ready;
  }

  /** Removes `member` from `room` (nothing when it is not in it). */
  async leave(member: M, room: string): Promise<void> {
    checkRoom(room);
    const rooms = this.#roomsOf.get(member);
    if (!rooms?.delete(room)) return;
    const local = this.#rooms.get(room);
    if (!local) return;
    local.members.delete(member);
    const id = this.memberId(member);
    if (!this.#closed) {
      this.#presenceSeq++;
      this.#sendPresence(PRESENCE, { t: "d", s: this.#presenceSeq, l: [room, id] });
    }
    this.#emit({ type: "leave", room, member: { id, node: this.id } });
    if (local.members.size === 0) {
      this.#rooms.delete(room);
      await this.#core.unlisten(roomSubject(room), local.listener);
    }
  }

  /** Removes `member` from every room (call it when the connection closes). */
  async leaveAll(member: M): Promise<void> {
    await Promise.all(
      [...(this.#roomsOf.get(member) ?? [])].map((room) => this.leave(member, room)),
    );
  }

  /** Addresses `room` (checked: `ERR_INVALID_ROOM_NAME` / `ERR_ROOM_NAME_TOO_LONG`). */
  to(room: string): RoomTarget<M> {
    checkRoom(room);
    return this.#target(room, new Set());
  }

  #target(room: string, except: Set<string>): RoomTarget<M> {
    return {
      except: (...members) => {
        const more = new Set(except);
        for (const member of members) {
          more.add(typeof member === "string" ? member : this.memberId(member));
        }
        return this.#target(room, more);
      },
      send: (data) => this.#send(room, except, data),
      count: () => Promise.resolve(this.#count(room, except)),
      members: () => Promise.resolve(this.#members(room, except)),
      watch: (options = {}) => this.#watch(room, options.signal),
    };
  }

  /** Sends to a room minus `except` (member ids). */
  #send(room: string, except: Set<string>, data: string | Uint8Array): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new ClusterError("ERR_CLUSTER_CLOSED", "The room hub is closed"));
    }
    let bytes: Uint8Array;
    let text: boolean;
    try {
      ({ bytes, text } = dataBytes(data, this.#core.settings.maxMessageSize));
    } catch (error) {
      return Promise.reject(error);
    }
    const local = this.#rooms.get(room);
    if (local) this.#fanOut(this.#filter(local.members, except), data);
    let head = 2;
    const ids = [...except].map((id) => encoder.encode(id).subarray(0, 255));
    for (const id of ids) head += 1 + id.length;
    const body = new Uint8Array(head + bytes.length);
    new DataView(body.buffer).setUint16(0, Math.min(ids.length, 0xffff));
    let at = 2;
    for (const id of ids.slice(0, 0xffff)) {
      body[at++] = id.length;
      body.set(id, at);
      at += id.length;
    }
    body.set(bytes, at);
    return this.#core.publishFrame(
      roomSubject(room),
      encodeFrame(this.id, ++this.#frameSeq, text, body),
    );
  }

  #filter(members: Set<M>, except: Set<string>): Iterable<M> {
    if (except.size === 0) return members;
    return [...members].filter((member) => !except.has(this.memberId(member)));
  }

  #onRoomFrame(room: string, frame: Frame): void {
    if (frame.origin === this.id) return; // our own: local members got it at send()
    const local = this.#rooms.get(room);
    if (!local || local.members.size === 0) return;
    const body = frame.payload;
    if (body.length < 2) return;
    const count = (body[0] << 8) | body[1];
    let at = 2;
    const except = new Set<string>();
    for (let i = 0; i < count; i++) {
      const length = body[at++];
      if (at + length > body.length) return;
      except.add(decoder.decode(body.subarray(at, at + length)));
      at += length;
    }
    const payload = body.subarray(at);
    const data = frame.text ? decoder.decode(payload) : new Uint8Array(payload);
    this.#fanOut(this.#filter(local.members, except), data);
  }

  // Presence

  #localState(): Record<string, string[]> {
    const rooms: Record<string, string[]> = {};
    for (const [room, local] of this.#rooms) {
      rooms[room] = [...local.members].map((member) => this.memberId(member));
    }
    return rooms;
  }

  #hello(): void {
    if (this.#closed) return;
    this.#sendPresence(PRESENCE, { t: "hello", s: this.#presenceSeq, r: this.#localState() });
  }

  #sendPresence(subject: string, message: PresenceMessage): void {
    if (this.#closed && message.t !== "bye") return;
    const frame = encodeFrame(
      this.id,
      ++this.#frameSeq,
      true,
      encoder.encode(JSON.stringify(message)),
    );
    // Not held while the engine is away: heartbeats and state exchange heal what was missed.
    void this.#core.publishFrame(subject, frame, false).catch(() => {});
  }

  #askSync(node: string): void {
    const now = Date.now();
    if (now - (this.#syncAsked.get(node) ?? 0) < this.#core.settings.heartbeatInterval) return;
    this.#syncAsked.set(node, now);
    this.#sendPresence(hubSubject(node), { t: "sync" });
  }

  #onPresence(frame: Frame): void {
    const node = frame.origin;
    if (node === this.id || this.#closed) return;
    let message: PresenceMessage;
    try {
      message = JSON.parse(decoder.decode(frame.payload));
    } catch {
      return;
    }
    const view = this.#view.get(node);
    const now = Date.now();
    switch (message.t) {
      case "hb":
        if (view) view.lastSeen = now;
        if (!view || view.seq !== message.s) this.#askSync(node);
        return;
      case "d":
        if (view && message.s === view.seq + 1) {
          view.seq = message.s;
          view.lastSeen = now;
          if (message.j) this.#applyJoin(node, view, message.j[0], message.j[1]);
          if (message.l) this.#applyLeave(node, view, message.l[0], message.l[1]);
        } else if (!view || message.s > view.seq) {
          this.#askSync(node);
        }
        return;
      case "hello":
        this.#applyState(node, message.s, message.r);
        this.#sendPresence(hubSubject(node), {
          t: "state",
          s: this.#presenceSeq,
          r: this.#localState(),
        });
        return;
      case "state":
        this.#applyState(node, message.s, message.r);
        return;
      case "sync":
        this.#sendPresence(hubSubject(node), {
          t: "state",
          s: this.#presenceSeq,
          r: this.#localState(),
        });
        return;
      case "bye":
        this.#removeNode(node);
        return;
    }
  }

  #applyJoin(node: string, view: NodeView, room: string, id: string): void {
    if (typeof room !== "string" || typeof id !== "string") return;
    let members = view.rooms.get(room);
    if (!members) view.rooms.set(room, members = new Set());
    if (members.has(id)) return;
    members.add(id);
    this.#emit({ type: "join", room, member: { id, node } });
  }

  #applyLeave(node: string, view: NodeView, room: string, id: string): void {
    const members = view.rooms.get(room);
    if (!members?.delete(id)) return;
    if (members.size === 0) view.rooms.delete(room);
    this.#emit({ type: "leave", room, member: { id, node } });
  }

  #applyState(node: string, seq: number, rooms: Record<string, string[]>): void {
    if (typeof seq !== "number" || typeof rooms !== "object" || rooms === null) return;
    let view = this.#view.get(node);
    if (view && seq < view.seq) return; // older than what we applied
    if (!view) this.#view.set(node, view = { seq, lastSeen: Date.now(), rooms: new Map() });
    view.seq = seq;
    view.lastSeen = Date.now();
    for (const [room, members] of [...view.rooms]) {
      const now = new Set(Array.isArray(rooms[room]) ? rooms[room] : []);
      for (const id of [...members]) if (!now.has(id)) this.#applyLeave(node, view, room, id);
    }
    for (const [room, ids] of Object.entries(rooms)) {
      if (!Array.isArray(ids)) continue;
      for (const id of ids) this.#applyJoin(node, view, room, id);
    }
  }

  #removeNode(node: string): void {
    const view = this.#view.get(node);
    if (!view) return;
    this.#view.delete(node);
    this.#syncAsked.delete(node);
    for (const [room, members] of view.rooms) {
      for (const id of members) this.#emit({ type: "leave", room, member: { id, node } });
    }
  }

  #reap(deadAfter: number): void {
    if (!this.#core.connected) return; // cut off ourselves: nobody can be judged
    const now = Date.now();
    for (const [node, view] of this.#view) {
      if (now - view.lastSeen > deadAfter) this.#removeNode(node);
    }
  }

  #emit(event: PresenceEvent): void {
    for (const watcher of this.#watchers.get(event.room) ?? []) watcher(event);
  }

  #count(room: string, except: Set<string>): number {
    let count = 0;
    for (const member of this.#rooms.get(room)?.members ?? []) {
      if (!except.has(this.memberId(member))) count++;
    }
    for (const view of this.#view.values()) {
      for (const id of view.rooms.get(room) ?? []) if (!except.has(id)) count++;
    }
    return count;
  }

  #members(room: string, except: Set<string>): RoomMember[] {
    const list: RoomMember[] = [];
    for (const member of this.#rooms.get(room)?.members ?? []) {
      const id = this.memberId(member);
      if (!except.has(id)) list.push({ id, node: this.id });
    }
    for (const [node, view] of this.#view) {
      for (const id of view.rooms.get(room) ?? []) if (!except.has(id)) list.push({ id, node });
    }
    return list;
  }

  #watch(room: string, signal?: AbortSignal): PresenceWatch {
    const queue: PresenceEvent[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    let error: unknown;
    let watchers = this.#watchers.get(room);
    if (!watchers) this.#watchers.set(room, watchers = new Set());
    const set = watchers;
    const push = (event: PresenceEvent) => {
      if (queue.length >= MAX_WATCH_PENDING) {
        error = new ClusterRangeError(
          "ERR_SUBSCRIPTION_OVERFLOW",
          `More than ${MAX_WATCH_PENDING} presence events of "${room}" were left unread`,
        );
        stop();
        return;
      }
      queue.push(event);
      wake?.();
    };
    const stop = () => {
      if (ended) return;
      ended = true;
      set.delete(push);
      if (set.size === 0 && this.#watchers.get(room) === set) this.#watchers.delete(room);
      signal?.removeEventListener("abort", stop);
      this.#closeWatchers.delete(stop);
      wake?.();
    };
    set.add(push);
    if (signal?.aborted) stop();
    else signal?.addEventListener("abort", stop, { once: true });
    this.#closeWatchers.add(stop);
    return {
      stop,
      async *[Symbol.asyncIterator]() {
        try {
          while (true) {
            if (queue.length > 0) {
              yield queue.shift()!;
              continue;
            }
            if (error) throw error;
            if (ended) return;
            const { promise, resolve } = Promise.withResolvers<void>();
            wake = resolve;
            await promise;
            wake = undefined;
          }
        } finally {
          stop();
        }
      },
      [Symbol.asyncDispose]() {
        stop();
        return Promise.resolve();
      },
    };
  }

  /** Says goodbye (others drop our members at once), leaves every room and stops the timers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#sendPresence(PRESENCE, { t: "bye" });
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#stopStatus();
    this.#stopClose();
    for (const stop of [...this.#closeWatchers]) stop();
    this.#closeWatchers.clear();
    const rooms = [...this.#rooms];
    this.#rooms.clear();
    await Promise.all([
      ...rooms.map(([room, local]) => this.#core.unlisten(roomSubject(room), local.listener)),
      this.#core.unlisten(PRESENCE, this.#presenceListener),
      this.#core.unlisten(hubSubject(this.id), this.#directListener),
    ]);
    await this.ready.catch(() => {});
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
