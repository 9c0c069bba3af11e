/**
 * `joinMesh()` and the {@linkcode Mesh} it returns: membership, failure
 * detection, messaging and replicated state of one member.
 *
 * @module
 */

import { listen } from "../framed/mod.ts";
import { TypedEventTarget } from "../_common/typed_event_target.ts";
import type { FramedListener } from "../framed/mod.ts";
import { newMemberId } from "./_auth.ts";
import { destroyConnection, type Link, WIRE_FRAMING } from "./_link.ts";
import { type Member as MeshMember, Membership } from "./_membership.ts";
import { checkString } from "./_content.ts";
import { stateFrameLimit, stateFrames } from "./_state_sync.ts";
import {
  type EncodedContent,
  encodeMessage,
  encodeSignal,
  encodeTime,
  encodeUserMessage,
  FRAME_OVERHEAD,
  KIND_LEAVE,
  KIND_PING,
  type WireStateEntry,
} from "./_protocol.ts";
import { MeshError, MeshRangeError, MeshTypeError } from "./errors.ts";
import type { MeshAddress, MeshPeer } from "./peer.ts";
import { MeshState } from "./state.ts";
import { Inbox } from "./_inbox.ts";
import { Join } from "./_join.ts";
import { Handshaker } from "./_handshake.ts";
import { Connector } from "./_connector.ts";
import { FailureDetector, TICK } from "./_failure_detector.ts";
import { PendingRequests, RequestHandlers } from "./_requests.ts";
import { FanOut } from "./_fan_out.ts";
import { PeerLinks } from "./_peer_links.ts";
import { runTick, type TickHooks } from "./_tick.ts";
import type { MeshOptions } from "./options.ts";
import type { MeshEventMap, MeshMessage, MeshRequestHandler, MeshRequestOptions } from "./types.ts";
import { advertisedAddress, type MeshSettings, meshSettings, sameFamilies } from "./_settings.ts";

type Member = MeshMember<Link>;

/** The real clock and timers, for the pieces that take them injected. */
const TIMERS = {
  now: (): number => performance.now(),
  after: (ms: number, fn: () => void): () => void => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  sleep: (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms)),
};

const CONSTRUCT = Symbol("Mesh");
let createMesh: (options: MeshOptions) => Mesh;
let startMesh: (mesh: Mesh) => Promise<void>;

/**
 * One member of a serverless full mesh: it listens, connects to every other
 * member over one TCP (or TLS) connection per pair, keeps the member list
 * converged by gossip, detects failures by heartbeats, and replicates a
 * key/value {@linkcode MeshState}. Create it with {@linkcode joinMesh}.
 *
 * Ordering: messages from one sender to one receiver arrive in the order
 * they were sent while their connection stays up; `send()`/`broadcast()`
 * resolve once the message is written to the socket(s), so awaiting them is
 * backpressure.
 *
 * @example Two members talk
 * ```ts
 * import { joinMesh } from "./mod.ts";
 *
 * await using alice = await joinMesh({ name: "alice" });
 * await using bob = await joinMesh({ name: "bob", seeds: [alice.addr] });
 * alice.addEventListener("message", (e) => console.log(e.detail.type, e.detail.content));
 * await bob.broadcast("chat", { text: "hi" });
 * ```
 */
export class Mesh extends TypedEventTarget<MeshEventMap> {
  /** This member's id (random, fresh for each `joinMesh()`). */
  readonly id: string;
  /** This member's name. */
  readonly name: string;
  /** The replicated key/value state. */
  readonly state: MeshState;

  #options: MeshSettings;
  #listener: FramedListener<Uint8Array, Uint8Array>;
  #addr: MeshAddress;
  #advertiseHost: string;
  #members: Membership<Link>;
  #links: PeerLinks;
  #fanOut = new FanOut();
  #timer: ReturnType<typeof setInterval>;
  #tickHooks: TickHooks<Link>;
  #requests = new PendingRequests();
  #handlers: RequestHandlers;
  #inbox: Inbox<MeshMessage>;
  #connector: Connector;
  #tasks = new Set<Promise<unknown>>();
  #closed = false;
  #leaving: Promise<void> | undefined;
  #abort = new AbortController();
  #signal?: AbortSignal;
  #onAbort = () => void this.leave();
  #join?: Join;

  static {
    // joinMesh() is the only way in: these stay out of the public surface.
    createMesh = (options) => new Mesh(options, CONSTRUCT);
    startMesh = (mesh) => mesh.#start();
  }

  private constructor(options: MeshOptions, token: symbol) {
    super();
    if (token !== CONSTRUCT) throw new TypeError("Use joinMesh() to create a Mesh");
    const settings = meshSettings(options);
    const { name, hostname, port, seeds } = settings;
    const { advertise = {}, secret, allowAddress, cert, key, caCerts, signal } = options;
    this.#options = settings;
    this.#inbox = new Inbox(settings.inboxSize);
    this.#handlers = new RequestHandlers({
      maxRequestsInFlight: settings.maxRequestsInFlight,
      maxMessageSize: settings.maxMessageSize,
      signal: this.#abort.signal,
      track: (task) => this.#track(task),
    });
    this.id = newMemberId();
    this.name = name;
    this.state = new MeshState(this.id, (entries) => this.#publishState(entries), {
      maxEntries: this.#options.maxStateEntries,
      maxValueSize: this.#options.maxStateValueSize,
      maxKeysPerMember: this.#options.maxStateKeysPerMember,
      maxBytes: this.#options.maxStateBytes,
    });
    this.#listener = listen({
      hostname,
      port,
      ...WIRE_FRAMING,
      cert,
      key,
    });
    const bound = this.#listener.addr;
    ({ addr: this.#addr, advertiseHost: this.#advertiseHost } = advertisedAddress(
      hostname,
      bound,
      advertise,
    ));
    const allow = allowAddress ?? sameFamilies(bound.hostname, seeds);
    this.#members = new Membership<Link>({
      self: { id: this.id, name, host: this.#advertiseHost, port: this.#addr.port },
      maxMembers: settings.maxMembers,
      maxUnverifiedMembers: settings.maxUnverifiedMembers,
      maxUnreachableMembers: settings.maxUnreachableMembers,
      allowAddress: allow,
      now: TIMERS.now,
      onSourceCutOff: (offender) => {
        const error = new MeshRangeError(
          "ERR_MEMBER_LIMIT",
          `More than maxUnreachableMembers of ${settings.maxUnreachableMembers} gossiped members could not be reached`,
          { limit: settings.maxUnreachableMembers },
        );
        this.#links.connectionError(error, offender.link!.conn, offender.id);
        this.#track(offender.link!.closeWith(error));
      },
      onLeft: (member) => this.#links.drop(member, "leave"),
    });
    this.#links = new PeerLinks({
      members: this.#members,
      reconnectInterval: settings.reconnectInterval,
      stateFrameLimit: stateFrameLimit(settings.maxStateValueSize),
      now: TIMERS.now,
      isClosed: () => this.#closed,
      emit: (event) => this.dispatchEvent(event),
      track: (task) => this.#track(task),
      stateSnapshot: () => this.state.snapshot(),
      mergeState: (entries) => this.state.merge(entries),
      inbox: this.#inbox,
      answer: (link, peer, id, type, enc, body) =>
        this.#handlers.answer(link, peer, id, type, enc, body),
      requests: this.#requests,
      linked: () => {
        if (this.#join) this.#join.seedLinked = true;
        this.#checkJoined();
      },
      heardMembers: () => {
        if (!this.#join) return;
        this.#join.heardMembers = true;
        this.#checkJoined();
      },
    });
    const handshaker = new Handshaker({
      id: this.id,
      name,
      host: this.#advertiseHost,
      port: this.#addr.port,
      secret,
      timeout: settings.handshakeTimeout,
      now: TIMERS.now,
      after: TIMERS.after,
      track: (task) => this.#track(task),
    });
    this.#connector = new Connector({
      handshaker,
      members: this.#members,
      linkLimits: {
        maxFrameSize: settings.maxMessageSize + FRAME_OVERHEAD,
        maxQueuedBytes: settings.maxQueuedBytes,
      },
      handshakeTimeout: settings.handshakeTimeout,
      reconnectInterval: settings.reconnectInterval,
      maxPendingHandshakes: settings.maxPendingHandshakes,
      caCerts,
      signal: this.#abort.signal,
      isClosed: () => this.#closed,
      track: (task) => this.#track(task),
      established: (member, link) => this.#links.established(member, link),
      connectionError: (error, conn, peerId) => this.#links.connectionError(error, conn, peerId),
      replaced: (member) => this.#links.forget(member, "replaced"),
      dialEnded: () => this.#checkJoined(),
      joinFailed: (error) => this.#join?.done.reject(error),
    });
    this.#signal = signal;
    this.#tickHooks = {
      detector: new FailureDetector(settings, performance.now()),
      members: this.#members,
      random: Math.random,
      inboxFull: () => this.#inbox.full,
      alone: () => this.#links.peers.size === 0 && !this.#join,
      ping: (link, now) => link.post(encodeTime(KIND_PING, now)).catch(() => {}),
      dead: (member, link) => {
        if (link) {
          link.replaced = true;
          link.fail(new DOMException("Peer timed out", "TimeoutError"));
        }
        this.#links.drop(member, "timeout");
      },
      suspect: (member) => this.#links.emitPeer("peersuspect", member.peer!),
      dial: (member) =>
        this.#track(this.#connector.dial(member.host, member.port, member).catch(() => {})),
      dialSeeds: () => {
        for (const seed of settings.seeds) {
          this.#track(this.#connector.dial(seed.hostname, seed.port, undefined).catch(() => false));
        }
      },
      postMembers: (member, pieces) => this.#links.postMembers(member, pieces),
    };
    this.#timer = setInterval(() => {
      if (!this.#closed) runTick(performance.now(), this.#tickHooks);
    }, TICK);
    this.#track(this.#acceptLoop());
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Address other members dial to reach this one (port read back when bound to 0). */
  get addr(): MeshAddress {
    return this.#addr;
  }

  /** The other members, keyed by id. A peer stays here while reconnecting, until declared dead. */
  get peers(): ReadonlyMap<string, MeshPeer> {
    return this.#links.peers;
  }

  /** Whether `leave()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  // ---- public messaging ------------------------------------------------

  /**
   * Sends a message to every connected member. Resolves once it is written
   * to the connection of every member that keeps up (backpressure). A member
   * whose write takes over 500 ms, or with over 1 MiB waiting, gets the
   * message queued but is not waited for, and loses its connection once more
   * than `maxQueuedBytes` wait for it (`ERR_SLOW_PEER`): one slow member
   * never holds a broadcast back for long. Rejects
   * with `MeshRangeError` `ERR_MESSAGE_TOO_LARGE` before sending anything when too large,
   * and with `MeshTypeError` when the content cannot travel as JSON
   * (leave `content` out to send none; an explicit `undefined` is refused).
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * await mesh.broadcast("chat", { text: "hello, everyone" });
   * ```
   */
  broadcast(type: string, content?: unknown): Promise<void> {
    let frame: Uint8Array;
    try {
      frame = this.#encodeMessage(type, content, arguments.length >= 2);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#fanOut.broadcast(this.#members.values(), frame);
  }

  /**
   * Sends a message to one member. Resolves once written to its socket.
   *
   * @throws {MeshError} `ERR_UNKNOWN_PEER` when no such peer is in the mesh,
   *   `ERR_PEER_LEFT` when it is not connected right now
   * @throws {MeshTypeError} when the content cannot travel as JSON (as in
   *   {@linkcode Mesh.broadcast})
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using alice = await joinMesh({ name: "alice" });
   * await using bob = await joinMesh({ name: "bob", seeds: [alice.addr] });
   * await bob.send(alice.id, "dm", "psst");
   * ```
   */
  send(peerId: string, type: string, content?: unknown): Promise<void> {
    try {
      const frame = this.#encodeMessage(type, content, arguments.length >= 3);
      return this.#linkTo(peerId).post(frame);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends a request to one member and resolves to its handler's answer (see
   * {@linkcode Mesh.onRequest}). Rejects with `MeshError` when the
   * peer has no handler or the handler throws (`ERR_NO_HANDLER`,
   * `ERR_REMOTE_HANDLER`), with `MeshRangeError` `ERR_TOO_MANY_REQUESTS`
   * when it is busy with our requests, with `MeshError` when the
   * peer leaves or the connection drops first, with `MeshTypeError` when
   * the content cannot travel as JSON (pass `null`, not `undefined`, when
   * there is nothing to send but options), and with the signal's reason
   * when aborted.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using alice = await joinMesh({ name: "alice" });
   * await using bob = await joinMesh({ name: "bob", seeds: [alice.addr] });
   * alice.onRequest("add", ([a, b]: number[]) => a + b);
   * console.log(await bob.request(alice.id, "add", [1, 2], { signal: AbortSignal.timeout(1000) }));
   * ```
   */
  request(
    peerId: string,
    type: string,
    content?: unknown,
    options: MeshRequestOptions = {},
  ): Promise<unknown> {
    const explicit = arguments.length >= 3;
    try {
      if (typeof options !== "object" || options === null) {
        throw new MeshTypeError("ERR_INVALID_ARGUMENT", "Request options must be an object");
      }
      const { signal } = options;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new MeshTypeError("ERR_INVALID_ARGUMENT", "Option signal must be an AbortSignal");
      }
      signal?.throwIfAborted();
      const { type: typeBytes, encoded } = this.#encodeParts(type, content, explicit);
      const link = this.#linkTo(peerId);
      const { id, answer } = this.#requests.open(peerId, signal);
      link.post(encodeMessage(typeBytes, encoded, id)).catch((error) => {
        this.#requests.fail(id, error);
      });
      return answer;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Registers the handler answering requests of `type` (one per type; a new
   * one replaces the old). Dispose the returned object to unregister. An
   * answer that cannot travel as JSON (a `Map`, a function, …) reaches the
   * asker as `MeshError` `ERR_REMOTE_HANDLER`.
   *
   * @throws {MeshTypeError} `ERR_INVALID_ARGUMENT` when `type` is not a
   *   string or `handler` not a function
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * await using mesh = await joinMesh({ name: "solo" });
   * using _handler = mesh.onRequest("time", () => Date.now());
   * ```
   */
  onRequest<T = unknown>(
    type: string,
    handler: (content: T, from: MeshPeer, signal: AbortSignal) => unknown | Promise<unknown>,
  ): Disposable {
    checkString(type, "Request type");
    if (typeof handler !== "function") {
      throw new MeshTypeError("ERR_INVALID_ARGUMENT", "Request handler must be a function");
    }
    return this.#handlers.register(type, handler as MeshRequestHandler);
  }

  /**
   * Messages from all members as an async iterator. The iterator holds up to
   * `inboxSize` messages; when it is full, reading from the peers pauses, so
   * their `send()` calls wait (backpressure) instead of memory growing. It
   * ends when the member leaves. Break out of the loop to stop it.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * const mesh = await joinMesh({ name: "solo" });
   * setTimeout(() => mesh.leave(), 10);
   * for await (const { from, type, content } of mesh.messages()) console.log(from, type, content);
   * ```
   */
  messages(): AsyncIterableIterator<MeshMessage> {
    return this.#inbox.iterator();
  }

  /**
   * Leaves the mesh: tells every member (they see `peerleave` with reason
   * `"leave"`), closes every connection and the listener, rejects pending
   * requests and ends `messages()` iterators. Idempotent.
   *
   * @example
   * ```ts
   * import { joinMesh } from "./mod.ts";
   *
   * const mesh = await joinMesh({ name: "solo" });
   * await mesh.leave();
   * ```
   */
  leave(): Promise<void> {
    return this.#shutdown(new MeshError("ERR_MESH_CLOSED", "The member has left the mesh"));
  }

  /** Same as {@linkcode Mesh.leave}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.leave();
  }

  // ---- joining ----------------------------------------------------------

  /** Runs the join; resolves when every known member is connected. */
  async #start(): Promise<void> {
    const { seeds, timeout } = this.#options;
    if (seeds.length === 0) return;
    const join = this.#join = new Join(seeds, timeout, TIMERS);
    const onAbort = () => join.done.reject(this.#signal!.reason);
    this.#signal?.addEventListener("abort", onAbort, { once: true });
    if (this.#signal?.aborted) onAbort();
    this.#track(join.dialSeeds(
      (seed) => this.#connector.dial(seed.hostname, seed.port, undefined),
      () => this.#closed,
      () => this.#checkJoined(),
    ));
    try {
      await join.done.promise;
    } catch (error) {
      await this.#shutdown(error);
      throw error;
    } finally {
      this.#signal?.removeEventListener("abort", onAbort);
      this.#join = undefined;
    }
  }

  #checkJoined(): void {
    this.#join?.check(this.#members.values(), (member) => this.#members.dialable(member as Member));
  }

  // ---- connections ------------------------------------------------------

  async #acceptLoop(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#closed) {
          destroyConnection(conn);
          continue;
        }
        this.#track(this.#connector.accept(conn));
      }
    } catch {
      // The listener closed.
    }
  }

  // ---- state --------------------------------------------------------------

  #publishState(entries: WireStateEntry[]): void {
    if (this.#closed) return;
    this.#fanOut.post(this.#members.values(), stateFrames(entries, false));
  }

  // ---- helpers ----------------------------------------------------------

  #encodeParts(
    type: string,
    content: unknown,
    explicit: boolean,
  ): { type: Uint8Array; encoded: EncodedContent } {
    if (this.#closed) throw new MeshError("ERR_MESH_CLOSED", "The member has left the mesh");
    return encodeUserMessage(type, content, explicit, this.#options.maxMessageSize);
  }

  #encodeMessage(type: string, content: unknown, explicit: boolean): Uint8Array {
    const { type: typeBytes, encoded } = this.#encodeParts(type, content, explicit);
    return encodeMessage(typeBytes, encoded);
  }

  #linkTo(peerId: string): Link {
    if (this.#closed) throw new MeshError("ERR_MESH_CLOSED", "The member has left the mesh");
    return this.#links.linkTo(peerId);
  }

  #track(promise: Promise<unknown>): void {
    this.#tasks.add(promise);
    promise.catch(() => {}).finally(() => this.#tasks.delete(promise));
  }

  #shutdown(reason: unknown): Promise<void> {
    this.#leaving ??= this.#close(reason);
    return this.#leaving;
  }

  async #close(reason: unknown): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const links = this.#fanOut.post(this.#members.values(), [encodeSignal(KIND_LEAVE)]);
    this.#requests.failAll(reason);
    this.#inbox.end();
    this.#connector.destroyAll();
    // Give each peer a moment to read LEAVE and hang up first, so the goodbye
    // is not lost to a reset.
    await Promise.all(links.map((link) => link.finish(1000)));
    await this.#listener.close().catch(() => {});
    this.#abort.abort(reason);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    this.#links.clear();
  }
}

/**
 * Joins (or, without `seeds`, starts) a mesh. Resolves once this member is
 * connected to every member it has learned of; rejects with
 * `MeshError` (`ERR_NAME_TAKEN`, `ERR_BAD_SECRET`,
 * `ERR_SEED_UNREACHABLE`), a `TimeoutError` after `timeout` ms, or the
 * signal's reason.
 *
 * @example Start a mesh and join it
 * ```ts
 * import { joinMesh } from "./mod.ts";
 *
 * await using first = await joinMesh({ name: "first", hostname: "127.0.0.1", port: 0 });
 * await using second = await joinMesh({ name: "second", seeds: [first.addr] });
 * console.log(second.peers.size); // 1
 * ```
 */
export async function joinMesh(options: MeshOptions): Promise<Mesh> {
  if (typeof options !== "object" || options === null) {
    throw new MeshTypeError("ERR_INVALID_OPTION", "joinMesh() needs an options object with a name");
  }
  options.signal?.throwIfAborted();
  const mesh = createMesh(options);
  await startMesh(mesh);
  return mesh;
}
