/**
 * `joinMesh()` and the {@linkcode Mesh} it returns: membership, failure
 * detection, messaging and replicated state of one member.
 *
 * @module
 */

import { connect, listen } from "../framed/mod.ts";
import { TypedEventTarget } from "../_common/typed_event_target.ts";
import type { FramedListener } from "../framed/mod.ts";
import { frameKey, FrameMac, handshakeProof, newMemberId, newNonce, sameBytes } from "./_auth.ts";
import { type ByteConnection, destroyConnection, Link, readFrame } from "./_link.ts";
import {
  type Ack,
  decodeContent,
  decodeJsonBody,
  decodeMessage,
  decodeReply,
  decodeTime,
  encodeContent,
  encodeJsonFrame,
  encodeMessage,
  encodeReply,
  encodeTime,
  encodeType,
  forEachFrame,
  FRAME_OVERHEAD,
  type Hello,
  isWireMember,
  isWireStateEntry,
  KIND_ACK,
  KIND_BATCH,
  KIND_HELLO,
  KIND_LEAVE,
  KIND_MEMBERS,
  KIND_MSG,
  KIND_PING,
  KIND_PONG,
  KIND_PROOF,
  KIND_READY,
  KIND_REJECT,
  KIND_REPLY,
  KIND_REQUEST,
  KIND_STATE,
  PROOF_SIZE,
  PROTOCOL_VERSION,
  type Reject,
  REPLY_ERROR,
  REPLY_NO_HANDLER,
  REPLY_OK,
  type WireMember,
  type WireStateEntry,
} from "./_protocol.ts";
import {
  MeshJoinError,
  MeshMessageTooLargeError,
  MeshOptionError,
  MeshPeerError,
  MeshProtocolError,
  MeshRequestError,
} from "./errors.ts";
import { type MeshAddress, MeshPeer } from "./peer.ts";
import { MeshState } from "./state.ts";

/**
 * Options of {@linkcode joinMesh}.
 *
 * @example
 * ```ts
 * import type { MeshOptions } from "./mod.ts";
 *
 * const options: MeshOptions = {
 *   name: "alice",
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   seeds: [{ hostname: "127.0.0.1", port: 4100 }],
 *   secret: "correct horse battery staple",
 * };
 * ```
 */
export interface MeshOptions {
  /** Display name, unique across the mesh. */
  name: string;
  /**
   * Address to bind the member's listener to.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * Port to bind (0 = any free port; read it back from `mesh.addr`).
   * @default {0}
   */
  port?: number;
  /**
   * Address the other members should dial to reach this one, when it differs
   * from the bound one (port forwarding, proxies). With a wildcard bind and
   * no `advertise.hostname`, members use the address they see the
   * connection coming from.
   * @default {the bound address}
   */
  advertise?: Partial<MeshAddress>;
  /**
   * Members to join through. None starts a new mesh. Seeds that are not up
   * yet are retried until `timeout`.
   * @default {[]}
   */
  seeds?: MeshAddress[];
  /**
   * Shared secret. When set, every connection proves knowledge of it with an
   * HMAC challenge-response and every frame carries an HMAC tag, so members
   * without it are refused and the sender of a message cannot be forged.
   * (The content is authenticated, not encrypted: use `cert`/`key` for
   * privacy.)
   */
  secret?: string;
  /**
   * Decides whether an address learned from another member may be dialled.
   * @default {addresses of the same family (IPv4, IPv6, host name) as the seeds and the own bind address}
   */
  allowAddress?: (addr: MeshAddress) => boolean;
  /**
   * Largest message (type + encoded content) in bytes.
   * @default {16777216}
   */
  maxMessageSize?: number;
  /**
   * Milliseconds between heartbeats on every connection (and gossip rounds).
   * @default {1000}
   */
  heartbeatInterval?: number;
  /**
   * Milliseconds of silence after which a peer is suspected (`peersuspect`).
   * @default {3000}
   */
  suspectTimeout?: number;
  /**
   * Milliseconds of silence after which a peer is declared dead
   * (`peerleave` with reason `"timeout"`).
   * @default {6000}
   */
  deadTimeout?: number;
  /**
   * Longest pause in ms between attempts to reconnect to a lost member.
   * @default {2000}
   */
  reconnectInterval?: number;
  /**
   * Milliseconds after which a member that nobody has heard from is
   * forgotten (no more reconnect attempts).
   * @default {60000}
   */
  forgetTimeout?: number;
  /**
   * Milliseconds `joinMesh()` may take before it rejects with a
   * `TimeoutError`.
   * @default {10000}
   */
  timeout?: number;
  /**
   * Milliseconds a connection handshake may take.
   * @default {5000}
   */
  handshakeTimeout?: number;
  /**
   * Most members a gossiped member list may make this member know.
   * @default {1024}
   */
  maxMembers?: number;
  /**
   * Most keys (deleted ones included) of the replicated state.
   * @default {10000}
   */
  maxStateEntries?: number;
  /**
   * Messages `messages()` iterators may hold before reading from the peers
   * pauses (backpressure to the senders).
   * @default {1024}
   */
  inboxSize?: number;
  /** TLS certificate (PEM) of this member's listener; enables TLS for inbound connections. */
  cert?: string;
  /** TLS private key (PEM) matching `cert`. */
  key?: string;
  /** CA certificates (PEM) to trust when dialling members over TLS; enables TLS for outbound connections. */
  caCerts?: string[];
  /** Aborting it makes the member leave (or aborts the join). */
  signal?: AbortSignal;
}

/**
 * A message received from another member.
 *
 * @example
 * ```ts
 * import type { MeshMessage } from "./mod.ts";
 *
 * const show = (m: MeshMessage) => console.log(`${m.peer.name}: ${m.type}`, m.content);
 * ```
 */
export interface MeshMessage {
  /** Id of the sending member (authenticated when a secret is in use). */
  from: string;
  /** Application message type. */
  type: string;
  /** The content: a `Uint8Array` if one was sent, else the JSON value. */
  content: unknown;
  /** The sending member. */
  peer: MeshPeer;
}

/**
 * Why a peer left: `"leave"` (it called `leave()`), `"timeout"` (silent for
 * `deadTimeout`), `"replaced"` (a new member with the same name took over).
 *
 * @example
 * ```ts
 * import type { MeshLeaveReason } from "./mod.ts";
 *
 * const reason: MeshLeaveReason = "timeout";
 * ```
 */
export type MeshLeaveReason = "leave" | "timeout" | "replaced";

/**
 * Detail of `peerjoin`, `peersuspect` and `peerleave` events.
 *
 * @example
 * ```ts
 * import type { MeshPeerEventDetail } from "./mod.ts";
 *
 * const log = (d: MeshPeerEventDetail) => console.log(d.name, d.id, d.reason);
 * ```
 */
export interface MeshPeerEventDetail {
  /** The peer. */
  peer: MeshPeer;
  /** Its id (same as `peer.id`). */
  id: string;
  /** Its name (same as `peer.name`). */
  name: string;
  /** Its address (same as `peer.addr`). */
  addr: MeshAddress;
  /** Why it left (`peerleave` only). */
  reason?: MeshLeaveReason;
}

/**
 * Events of a {@linkcode Mesh}.
 *
 * @example
 * ```ts
 * import type { MeshEventMap } from "./mod.ts";
 *
 * type JoinEvent = MeshEventMap["peerjoin"];
 * ```
 */
export interface MeshEventMap {
  /** A message from another member. */
  message: CustomEvent<MeshMessage>;
  /** A member entered (or came back after it had been declared dead). */
  peerjoin: CustomEvent<MeshPeerEventDetail>;
  /** A member has been silent for `suspectTimeout`. */
  peersuspect: CustomEvent<MeshPeerEventDetail>;
  /** A member left, timed out or was replaced. */
  peerleave: CustomEvent<MeshPeerEventDetail>;
}

/**
 * Answers a request: gets the content and the asking peer, returns (or
 * resolves to) the answer.
 *
 * @example
 * ```ts
 * import type { MeshRequestHandler } from "./mod.ts";
 *
 * const add: MeshRequestHandler = (content) => {
 *   const [a, b] = content as [number, number];
 *   return a + b;
 * };
 * ```
 */
export type MeshRequestHandler = (
  content: unknown,
  from: MeshPeer,
  signal: AbortSignal,
) => unknown | Promise<unknown>;

/**
 * Options of {@linkcode Mesh.request}.
 *
 * @example
 * ```ts
 * import type { MeshRequestOptions } from "./mod.ts";
 *
 * const options: MeshRequestOptions = { signal: AbortSignal.timeout(1000) };
 * ```
 */
export interface MeshRequestOptions {
  /** Aborts waiting for the answer. */
  signal?: AbortSignal;
}

interface Member {
  id: string;
  name: string;
  host: string;
  port: number;
  beat: number;
  beatAt: number;
  left: boolean;
  link?: Link;
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
}

interface PendingRequest {
  peer: string;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

interface Inbox {
  queue: MeshMessage[];
  wake?: () => void;
  ended: boolean;
}

type Family = "IPv4" | "IPv6" | "name";

function familyOf(hostname: string): Family {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(hostname)) return "IPv4";
  if (hostname.includes(":")) return "IPv6";
  return "name";
}

const WILDCARDS = new Set(["0.0.0.0", "::", "[::]", ""]);
const TICK = 50;
/**
 * Of two members that learn of each other, only the lower id dials; the
 * higher id dials too only if no connection came within this many ms. This
 * halves the connections set up while a mesh forms and avoids most
 * simultaneous-dial races.
 */
const DIAL_GRACE = 600;

function checkInterval(name: string, value: unknown, min = 1): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new MeshOptionError(`Option "${name}" must be a number >= ${min}, got ${String(value)}`);
  }
  return value;
}

function refused(reject: Reject): MeshJoinError | MeshProtocolError {
  if (
    reject.code === "ERR_NAME_TAKEN" || reject.code === "ERR_BAD_SECRET" ||
    reject.code === "ERR_PROTOCOL_VERSION"
  ) {
    return new MeshJoinError(reject.code, String(reject.message));
  }
  return new MeshProtocolError("ERR_INVALID_FRAME", `Connection refused: ${reject.code}`);
}

class Refusal extends Error {
  constructor(readonly reject: Reject & { id?: string }) {
    super(reject.message);
  }
}

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

  #options: Required<
    Omit<
      MeshOptions,
      "secret" | "cert" | "key" | "caCerts" | "signal" | "advertise" | "allowAddress"
    >
  >;
  #secret?: string;
  #allowAddress: (addr: MeshAddress) => boolean;
  #tls: { cert?: string; key?: string; caCerts?: string[] };
  #listener: FramedListener<Uint8Array, Uint8Array>;
  #addr: MeshAddress;
  #advertiseHost: string;
  #members = new Map<string, Member>();
  #peers = new Map<string, MeshPeer>();
  #beat = 0;
  #timer: ReturnType<typeof setInterval>;
  #nextHeartbeat = 0;
  #lastTick = performance.now();
  #floodQueue = new Map<string, WireMember>();
  #requests = new Map<number, PendingRequest>();
  #lastBroadcast?: { writes: Promise<void>[]; all: Promise<void> };
  #nextRequestId = 1;
  #handlers = new Map<string, MeshRequestHandler>();
  #inboxes = new Set<Inbox>();
  #drained: PromiseWithResolvers<void> | undefined;
  #handshakes = new Set<ByteConnection>();
  #tasks = new Set<Promise<unknown>>();
  #closed = false;
  #leaving: Promise<void> | undefined;
  #abort = new AbortController();
  #signal?: AbortSignal;
  #onAbort = () => void this.leave();
  #join?: {
    seeds: MeshAddress[];
    seedLinked: boolean;
    seedsSettled: boolean;
    heardMembers: boolean;
    done: PromiseWithResolvers<void>;
  };

  /** @internal Use {@linkcode joinMesh}. */
  constructor(options: MeshOptions, token: symbol) {
    super();
    if (token !== CONSTRUCT) throw new TypeError("Use joinMesh() to create a Mesh");
    const {
      name,
      hostname = "127.0.0.1",
      port = 0,
      advertise = {},
      seeds = [],
      secret,
      allowAddress,
      maxMessageSize = 16 * 1024 * 1024,
      heartbeatInterval = 1000,
      suspectTimeout = 3000,
      deadTimeout = 6000,
      reconnectInterval = 2000,
      forgetTimeout = 60_000,
      timeout = 10_000,
      handshakeTimeout = 5000,
      maxMembers = 1024,
      maxStateEntries = 10_000,
      inboxSize = 1024,
      cert,
      key,
      caCerts,
      signal,
    } = options;
    if (typeof name !== "string" || name.length === 0 || name.length > 256) {
      throw new MeshOptionError(`Option "name" must be a string of 1 to 256 characters`);
    }
    if (!Array.isArray(seeds)) throw new MeshOptionError(`Option "seeds" must be an array`);
    for (const seed of seeds) {
      if (
        typeof seed?.hostname !== "string" || !Number.isInteger(seed.port) || seed.port < 1 ||
        seed.port > 65535
      ) {
        throw new MeshOptionError(`Seed ${JSON.stringify(seed)} needs a hostname and a port`);
      }
    }
    if (secret !== undefined && (typeof secret !== "string" || secret.length === 0)) {
      throw new MeshOptionError(`Option "secret" must be a non-empty string`);
    }
    this.#options = {
      name,
      hostname,
      port,
      seeds,
      maxMessageSize: checkInterval("maxMessageSize", maxMessageSize),
      heartbeatInterval: checkInterval("heartbeatInterval", heartbeatInterval, 10),
      suspectTimeout: checkInterval("suspectTimeout", suspectTimeout, 10),
      deadTimeout: checkInterval("deadTimeout", deadTimeout, 10),
      reconnectInterval: checkInterval("reconnectInterval", reconnectInterval, 10),
      forgetTimeout: checkInterval("forgetTimeout", forgetTimeout, 10),
      timeout: checkInterval("timeout", timeout),
      handshakeTimeout: checkInterval("handshakeTimeout", handshakeTimeout, 10),
      maxMembers: checkInterval("maxMembers", maxMembers),
      maxStateEntries: checkInterval("maxStateEntries", maxStateEntries),
      inboxSize: checkInterval("inboxSize", inboxSize),
    };
    this.#secret = secret;
    this.#tls = { cert, key, caCerts };
    this.id = newMemberId();
    this.name = name;
    this.state = new MeshState(
      this.id,
      (entries) => this.#publishState(entries),
      this.#options.maxStateEntries,
    );
    this.#listener = listen({
      hostname,
      port,
      framing: "length",
      sendType: "bytes",
      receiveType: "bytes",
      maxMessageSize: Math.max(this.#options.maxMessageSize, 256 * 1024) + FRAME_OVERHEAD,
      cert,
      key,
    });
    const bound = this.#listener.addr;
    this.#addr = {
      hostname: advertise.hostname ?? (WILDCARDS.has(hostname) ? hostname : bound.hostname),
      port: advertise.port ?? bound.port,
    };
    this.#advertiseHost = advertise.hostname ?? (WILDCARDS.has(hostname) ? "" : bound.hostname);
    const families = new Set<Family>([familyOf(bound.hostname)]);
    for (const seed of seeds) families.add(familyOf(seed.hostname));
    this.#allowAddress = allowAddress ?? ((addr) => families.has(familyOf(addr.hostname)));
    this.#signal = signal;
    this.#timer = setInterval(() => this.#tick(), TICK);
    this.#track(this.#acceptLoop());
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Address other members dial to reach this one (port read back when bound to 0). */
  get addr(): MeshAddress {
    return this.#addr;
  }

  /** The other members, keyed by id. A peer stays here while reconnecting, until declared dead. */
  get peers(): ReadonlyMap<string, MeshPeer> {
    return this.#peers;
  }

  /** Whether `leave()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  // ---- public messaging ------------------------------------------------

  /**
   * Sends a message to every connected member. Resolves once it is written
   * to every connection (backpressure); rejects with
   * `MeshMessageTooLargeError` before sending anything when too large.
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
      frame = this.#encodeMessage(type, content);
    } catch (error) {
      return Promise.reject(error);
    }
    const writes: Promise<void>[] = [];
    for (const member of this.#members.values()) {
      if (member.link?.open) writes.push(member.link.post(frame));
    }
    if (writes.length <= 1) return writes[0] ?? Promise.resolve();
    // Broadcasts in one burst land in the same batch on every link: share
    // one combined promise instead of building one per message.
    const last = this.#lastBroadcast;
    if (
      last && last.writes.length === writes.length && last.writes.every((w, i) => w === writes[i])
    ) return last.all;
    const all = Promise.all(writes).then(() => {});
    this.#lastBroadcast = { writes, all };
    return all;
  }

  /**
   * Sends a message to one member. Resolves once written to its socket.
   *
   * @throws {MeshPeerError} `ERR_UNKNOWN_PEER` when no such peer is in the mesh,
   *   `ERR_PEER_LEFT` when it is not connected right now
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
      const link = this.#linkTo(peerId);
      return link.post(this.#encodeMessage(type, content));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends a request to one member and resolves to its handler's answer (see
   * {@linkcode Mesh.onRequest}). Rejects with `MeshRequestError` when the
   * peer has no handler or the handler throws, with `MeshPeerError` when the
   * peer leaves or the connection drops first, and with the signal's reason
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
    const { signal } = options;
    try {
      signal?.throwIfAborted();
      const link = this.#linkTo(peerId);
      const requestId = this.#nextRequestId;
      this.#nextRequestId = this.#nextRequestId >= 0xffffffff ? 1 : this.#nextRequestId + 1;
      const type_ = encodeType(type);
      const encoded = encodeContent(content);
      this.#checkSize(type_.length + encoded.body.length);
      const { promise, resolve, reject } = Promise.withResolvers<unknown>();
      const onAbort = () => {
        this.#requests.delete(requestId);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#requests.set(requestId, {
        peer: peerId,
        resolve: (value) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(value);
        },
        reject: (reason) => {
          signal?.removeEventListener("abort", onAbort);
          reject(reason);
        },
      });
      link.post(encodeMessage(type_, encoded, requestId)).catch((error) => {
        this.#requests.get(requestId)?.reject(error);
        this.#requests.delete(requestId);
      });
      return promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Registers the handler answering requests of `type` (one per type; a new
   * one replaces the old). Dispose the returned object to unregister.
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
    const registered = handler as MeshRequestHandler;
    this.#handlers.set(type, registered);
    return {
      [Symbol.dispose]: () => {
        if (this.#handlers.get(type) === registered) this.#handlers.delete(type);
      },
    };
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
    const inbox: Inbox = { queue: [], ended: this.#closed };
    this.#inboxes.add(inbox);
    const release = () => {
      this.#inboxes.delete(inbox);
      this.#wakeReaders();
    };
    const iterator: AsyncIterableIterator<MeshMessage> = {
      next: async (): Promise<IteratorResult<MeshMessage>> => {
        while (inbox.queue.length === 0) {
          if (inbox.ended) {
            release();
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => inbox.wake = resolve);
          inbox.wake = undefined;
        }
        const value = inbox.queue.shift()!;
        if (inbox.queue.length === this.#options.inboxSize >> 1) this.#wakeReaders();
        return { value, done: false };
      },
      return: (): Promise<IteratorResult<MeshMessage>> => {
        inbox.ended = true;
        inbox.queue.length = 0;
        inbox.wake?.();
        release();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
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
    return this.#shutdown(new MeshPeerError("ERR_MESH_CLOSED", "The member has left the mesh"));
  }

  /** Same as {@linkcode Mesh.leave}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.leave();
  }

  // ---- joining ----------------------------------------------------------

  /** @internal Runs the join; resolves when every known member is connected. */
  async start(): Promise<void> {
    const seeds = this.#options.seeds;
    if (seeds.length === 0) return;
    const done = Promise.withResolvers<void>();
    this.#join = { seeds, seedLinked: false, seedsSettled: false, heardMembers: false, done };
    const { timeout } = this.#options;
    const timer = setTimeout(
      () =>
        done.reject(
          this.#join?.seedLinked
            ? new DOMException(
              `Joining the mesh timed out after ${timeout} ms (not every member answered)`,
              "TimeoutError",
            )
            : new MeshJoinError(
              "ERR_SEED_UNREACHABLE",
              `No seed answered within ${timeout} ms: ${
                seeds.map((s) => `"${s.hostname}:${s.port}"`).join(", ")
              }`,
            ),
        ),
      timeout,
    );
    const onAbort = () => done.reject(this.#signal!.reason);
    this.#signal?.addEventListener("abort", onAbort, { once: true });
    if (this.#signal?.aborted) onAbort();
    this.#track(this.#dialSeeds(done.promise));
    try {
      await done.promise;
    } catch (error) {
      await this.#shutdown(error);
      throw error;
    } finally {
      clearTimeout(timer);
      this.#signal?.removeEventListener("abort", onAbort);
      this.#join = undefined;
    }
  }

  /**
   * Dials every seed (not only until one answers: two joiners that seed each
   * other could otherwise form a mesh of their own that nobody else knows).
   * Seeds not up yet are retried until the join ends.
   */
  async #dialSeeds(joined: Promise<void>): Promise<void> {
    let finished = false;
    joined.then(() => finished = true, () => finished = true);
    const attempts = new Map<string, Promise<void>>();
    const settled = new Set<string>();
    const seeds = [
      ...new Map((this.#join?.seeds ?? []).map((s) => [`${s.hostname}:${s.port}`, s])).values(),
    ];
    while (!finished && !this.#closed) {
      for (const seed of seeds) {
        const key = `${seed.hostname}:${seed.port}`;
        if (attempts.has(key) || settled.has(key)) continue;
        const attempt = this.#dial(seed.hostname, seed.port, undefined).then(
          (ok) => {
            if (ok) settled.add(key);
            // A refused or failed seed counts once we are in through another.
            else if (this.#join?.seedLinked) settled.add(key);
          },
          (error) => {
            if (error instanceof MeshJoinError) this.#join?.done.reject(error);
          },
        ).finally(() => {
          attempts.delete(key);
          if (this.#join && settled.size === seeds.length) {
            this.#join.seedsSettled = true;
            this.#checkJoined();
          }
        });
        attempts.set(key, attempt);
      }
      if (settled.size === seeds.length) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await Promise.allSettled(attempts.values());
  }

  #checkJoined(): void {
    const join = this.#join;
    if (!join || !join.seedLinked || !join.heardMembers || !join.seedsSettled) return;
    for (const member of this.#members.values()) {
      if (member.left || member.link) continue;
      if (!this.#dialable(member)) continue;
      if (member.pending || !member.attempted) return;
    }
    join.done.resolve();
  }

  // ---- connections ------------------------------------------------------

  async #acceptLoop(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#closed) {
          destroyConnection(conn);
          continue;
        }
        this.#track(this.#accept(conn));
      }
    } catch {
      // The listener closed.
    }
  }

  #hello(to?: string): Hello {
    return {
      v: PROTOCOL_VERSION,
      id: this.id,
      name: this.name,
      host: this.#advertiseHost,
      port: this.#addr.port,
      nonce: newNonce(),
      auth: this.#secret !== undefined,
      ...(to ? { to } : {}),
    };
  }

  async #withTimeout<T>(promise: Promise<T>, conn: ByteConnection): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        destroyConnection(conn);
        reject(new DOMException("Handshake timed out", "TimeoutError"));
      }, this.#options.handshakeTimeout);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #send(conn: ByteConnection, frame: Uint8Array): void {
    conn.send(frame).catch(() => {});
  }

  #reject(conn: ByteConnection, code: string, message: string, extra: object = {}): void {
    this.#send(conn, encodeJsonFrame(KIND_REJECT, { code, message, ...extra }));
    // Give the refusal a moment to leave before the socket goes.
    const timer = setTimeout(() => destroyConnection(conn), 200);
    this.#track(conn.closed.finally(() => clearTimeout(timer)));
  }

  async #accept(conn: ByteConnection): Promise<void> {
    this.#handshakes.add(conn);
    const reader = conn.readable.getReader();
    let member: Member | undefined;
    let claimed = false;
    try {
      const helloFrame = await this.#withTimeout(readFrame(reader), conn);
      if (!helloFrame || helloFrame[0] !== KIND_HELLO) throw new Error("Expected HELLO");
      const hello = decodeJsonBody(helloFrame) as Hello;
      if (
        typeof hello !== "object" || hello === null || typeof hello.id !== "string" ||
        hello.id.length === 0 || hello.id.length > 64 || typeof hello.name !== "string" ||
        hello.name.length === 0 || hello.name.length > 256 || typeof hello.host !== "string" ||
        !Number.isInteger(hello.port) || typeof hello.nonce !== "string"
      ) {
        return this.#reject(conn, "ERR_INVALID_FRAME", "Malformed HELLO");
      }
      if (hello.v !== PROTOCOL_VERSION) {
        return this.#reject(
          conn,
          "ERR_PROTOCOL_VERSION",
          `Protocol version ${hello.v} is not supported (want ${PROTOCOL_VERSION})`,
        );
      }
      if (Boolean(hello.auth) !== (this.#secret !== undefined)) {
        return this.#reject(conn, "ERR_BAD_SECRET", "Secret does not match");
      }
      if (this.#closed) return this.#reject(conn, "ERR_MESH_CLOSED", "Member is leaving");
      if (hello.id === this.id) return this.#reject(conn, "ERR_SELF", "Connected to itself");
      if (hello.to !== undefined && hello.to !== this.id) {
        return this.#reject(conn, "ERR_WRONG_PEER", "Another member lives at this address", {
          id: this.id,
        });
      }
      if (hello.name === this.name || this.#nameHeld(hello.name, hello.id)) {
        return this.#reject(conn, "ERR_NAME_TAKEN", `Name "${hello.name}" is already taken`);
      }
      member = this.#members.get(hello.id);
      if (member?.pending === "accept") {
        return this.#reject(conn, "ERR_DUPLICATE", "A connection is being set up already");
      }
      if (member?.link?.open && !member.suspect) {
        // The live connection stays: a second one for a live id is either a
        // stale redial or someone claiming that id.
        return this.#reject(conn, "ERR_DUPLICATE", "A connection to this member is up");
      }
      if (member?.pending === "dial" && this.id < hello.id) {
        // Simultaneous dials: the connection dialled by the lower id is kept.
        return this.#reject(
          conn,
          "ERR_DUPLICATE",
          "Keeping the connection dialled by the lower id",
        );
      }
      const host = hello.host === "" ? conn.remoteAddr.hostname : hello.host;
      if (!member) {
        if (this.#members.size >= this.#options.maxMembers) {
          return this.#reject(conn, "ERR_MESH_FULL", "Too many members");
        }
        member = this.#addMember(hello.id, hello.name, host, hello.port, 0, false);
      }
      member.pending = "accept";
      claimed = true;
      const ack: Ack = {
        id: this.id,
        name: this.name,
        host: this.#advertiseHost,
        port: this.#addr.port,
        nonce: newNonce(),
      };
      const ackJson = encodeJsonFrame(KIND_ACK, ack).subarray(1);
      const hello_ = helloFrame.subarray(1);
      const proof = this.#secret
        ? handshakeProof(this.#secret, "acceptor", hello_, ackJson)
        : new Uint8Array(PROOF_SIZE);
      const ackFrame = new Uint8Array(1 + PROOF_SIZE + ackJson.length);
      ackFrame[0] = KIND_ACK;
      ackFrame.set(proof, 1);
      ackFrame.set(ackJson, 1 + PROOF_SIZE);
      this.#send(conn, ackFrame);
      const proofFrame = await this.#withTimeout(readFrame(reader), conn);
      if (!proofFrame) throw new Error("Closed during handshake");
      if (proofFrame[0] === KIND_REJECT) throw new Refusal(decodeJsonBody(proofFrame) as Reject);
      if (proofFrame[0] !== KIND_PROOF || proofFrame.length !== 1 + PROOF_SIZE) {
        throw new Error("Expected PROOF");
      }
      let sendMac: FrameMac | undefined;
      let receiveMac: FrameMac | undefined;
      if (this.#secret) {
        const expected = handshakeProof(this.#secret, "dialer", hello_, ackJson);
        if (!sameBytes(expected, proofFrame.subarray(1))) {
          return this.#reject(conn, "ERR_BAD_SECRET", "Secret does not match");
        }
        sendMac = new FrameMac(frameKey(this.#secret, "acceptor-to-dialer", hello_, ackJson));
        receiveMac = new FrameMac(frameKey(this.#secret, "dialer-to-acceptor", hello_, ackJson));
      }
      if (this.#closed) return this.#reject(conn, "ERR_MESH_CLOSED", "Member is leaving");
      this.#send(conn, new Uint8Array([KIND_READY]));
      member.name = hello.name;
      member.host = host;
      member.port = hello.port;
      this.#handshakes.delete(conn);
      this.#established(member, new Link(conn, reader, false, sendMac, receiveMac));
    } catch {
      destroyConnection(conn);
    } finally {
      this.#handshakes.delete(conn);
      if (claimed && member?.pending === "accept") {
        member.pending = undefined;
        if (!member.link && !member.peer && member.beat === 0 && !member.attempted) {
          this.#members.delete(member.id);
        }
      }
    }
  }

  /**
   * Dials a member (or a seed when `to` is undefined). Resolves `true` when
   * a link was set up, `false` when the attempt failed harmlessly; rejects
   * with `MeshJoinError` when refused for a reason that ends a join.
   */
  async #dial(hostname: string, port: number, to: Member | undefined): Promise<boolean> {
    if (to) to.pending = "dial";
    let conn: ByteConnection | undefined;
    try {
      conn = await connect({
        hostname,
        port,
        framing: "length",
        sendType: "bytes",
        receiveType: "bytes",
        maxMessageSize: Math.max(this.#options.maxMessageSize, 256 * 1024) + FRAME_OVERHEAD,
        connectTimeout: this.#options.handshakeTimeout,
        reconnect: false,
        signal: this.#abort.signal,
        ...(this.#tls.caCerts ? { caCerts: this.#tls.caCerts, tls: true } : {}),
      });
    } catch {
      if (to) this.#dialFailed(to);
      return false;
    }
    if (this.#closed) {
      destroyConnection(conn);
      if (to) to.pending = undefined;
      return false;
    }
    this.#handshakes.add(conn);
    const reader = conn.readable.getReader();
    let member: Member | undefined;
    try {
      const hello = this.#hello(to?.id);
      const helloFrame = encodeJsonFrame(KIND_HELLO, hello);
      this.#send(conn, helloFrame);
      const answer = await this.#withTimeout(readFrame(reader), conn);
      if (!answer) throw new Error("Closed during handshake");
      if (answer[0] === KIND_REJECT) throw new Refusal(decodeJsonBody(answer) as Reject);
      if (answer[0] !== KIND_ACK || answer.length < 1 + PROOF_SIZE) throw new Error("Expected ACK");
      const ackJson = answer.subarray(1 + PROOF_SIZE);
      const ack = decodeJsonBody(ackJson, 0) as Ack;
      if (
        typeof ack !== "object" || ack === null || typeof ack.id !== "string" ||
        ack.id.length === 0 || ack.id.length > 64 || typeof ack.name !== "string" ||
        typeof ack.host !== "string" || !Number.isInteger(ack.port)
      ) {
        throw new MeshProtocolError("ERR_INVALID_FRAME", "Malformed ACK");
      }
      const hello_ = helloFrame.subarray(1);
      let sendMac: FrameMac | undefined;
      let receiveMac: FrameMac | undefined;
      let proof = new Uint8Array(PROOF_SIZE);
      if (this.#secret) {
        const expected = handshakeProof(this.#secret, "acceptor", hello_, ackJson);
        if (!sameBytes(expected, answer.subarray(1, 1 + PROOF_SIZE))) {
          this.#reject(conn, "ERR_BAD_SECRET", "Secret does not match");
          throw new Refusal({
            code: "ERR_BAD_SECRET",
            message: "Member could not prove the secret",
          });
        }
        proof = handshakeProof(this.#secret, "dialer", hello_, ackJson) as Uint8Array<ArrayBuffer>;
        sendMac = new FrameMac(frameKey(this.#secret, "dialer-to-acceptor", hello_, ackJson));
        receiveMac = new FrameMac(frameKey(this.#secret, "acceptor-to-dialer", hello_, ackJson));
      }
      if (ack.id === this.id) throw new Refusal({ code: "ERR_SELF", message: "Dialled itself" });
      if (this.#nameHeld(ack.name, ack.id)) {
        this.#reject(conn, "ERR_NAME_TAKEN", `Name "${ack.name}" is already taken`);
        throw new Refusal({ code: "ERR_DUPLICATE_NAME", message: "Two live members share a name" });
      }
      const proofFrame = new Uint8Array(1 + PROOF_SIZE);
      proofFrame[0] = KIND_PROOF;
      proofFrame.set(proof, 1);
      this.#send(conn, proofFrame);
      const ready = await this.#withTimeout(readFrame(reader), conn);
      if (!ready) throw new Error("Closed during handshake");
      if (ready[0] === KIND_REJECT) throw new Refusal(decodeJsonBody(ready) as Reject);
      if (ready[0] !== KIND_READY) throw new Error("Expected READY");
      if (this.#closed) throw new Error("Leaving");
      member = this.#members.get(ack.id);
      const host = ack.host === "" ? hostname : ack.host;
      if (!member) member = this.#addMember(ack.id, ack.name, host, ack.port, 0);
      if (to && to !== member) to.pending = undefined;
      member.name = ack.name;
      member.host = host;
      member.port = ack.port;
      this.#handshakes.delete(conn);
      this.#established(member, new Link(conn, reader, true, sendMac, receiveMac));
      return true;
    } catch (error) {
      destroyConnection(conn);
      if (to) {
        to.pending = undefined;
        if (error instanceof Refusal) this.#refusedDial(to, error.reject);
        else this.#dialFailed(to);
      }
      if (error instanceof Refusal) {
        const code = error.reject.code;
        if (
          code === "ERR_NAME_TAKEN" || code === "ERR_BAD_SECRET" || code === "ERR_PROTOCOL_VERSION"
        ) {
          const refusal = refused(error.reject);
          if (this.#join) this.#join.done.reject(refusal);
          throw refusal;
        }
      }
      return false;
    } finally {
      this.#handshakes.delete(conn);
    }
  }

  #refusedDial(member: Member, reject: Reject & { id?: string }): void {
    const now = performance.now();
    if (reject.code === "ERR_DUPLICATE") {
      // The other side's connection is being set up; look again soon in
      // case that one fails.
      member.nextDialAt = now + Math.min(this.#options.handshakeTimeout, 250 + Math.random() * 250);
      return;
    }
    if (reject.code === "ERR_WRONG_PEER" || reject.code === "ERR_SELF") {
      // The member is gone: its address now belongs to someone else.
      this.#forget(member, "replaced");
      return;
    }
    this.#dialFailed(member);
  }

  #dialFailed(member: Member): void {
    member.pending = undefined;
    member.attempted = true;
    member.failures++;
    const backoff = Math.min(
      this.#options.reconnectInterval,
      100 * 2 ** Math.min(member.failures, 10),
    );
    member.nextDialAt = performance.now() + backoff * (0.75 + Math.random() * 0.5);
    this.#checkJoined();
  }

  #nameHeld(name: string, id: string): boolean {
    for (const member of this.#members.values()) {
      if (member.name !== name || member.id === id || member.left) continue;
      // A live connection holds the name; a lost one can be taken over (restart).
      if (member.link?.open && !member.suspect) return true;
    }
    return false;
  }

  #addMember(
    id: string,
    name: string,
    host: string,
    port: number,
    beat: number,
    flood = true,
  ): Member {
    const now = performance.now();
    const member: Member = {
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
      waitUntil: this.id > id ? now + DIAL_GRACE : 0,
      knows: new Set(),
      attempted: false,
    };
    this.#members.set(id, member);
    if (flood) this.#floodQueue.set(id, [id, name, host, port, beat, 0]);
    return member;
  }

  #established(member: Member, link: Link): void {
    const old = member.link;
    if (old && old !== link) {
      old.replaced = true;
      old.fail(new DOMException("Replaced by a newer connection", "AbortError"));
    }
    const now = performance.now();
    member.link = link;
    member.pending = undefined;
    member.failures = 0;
    member.attempted = true;
    member.left = false;
    member.lastHeard = now;
    member.beatAt = now;
    member.suspect = false;
    // A new member with the name of a lost one replaces it.
    for (const other of this.#members.values()) {
      if (other !== member && other.name === member.name) this.#forget(other, "replaced");
    }
    member.knows.clear();
    this.#sendMembers(member, this.#memberList());
    const snapshot = this.state.snapshot();
    if (snapshot.length > 0) {
      link.post(encodeJsonFrame(KIND_STATE, { full: true, entries: snapshot }));
    }
    link.post(encodeTime(KIND_PING, now));
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
      this.#peers.set(member.id, member.peer);
      this.#floodQueue.set(member.id, [
        member.id,
        member.name,
        member.host,
        member.port,
        member.beat,
        0,
      ]);
      this.#emitPeer("peerjoin", member.peer);
    }
    this.#track(this.#readLoop(member, link));
    // Any member that let us in (a seed, or one that dialled us first) means
    // we are in the mesh.
    if (this.#join) this.#join.seedLinked = true;
    this.#checkJoined();
  }

  async #readLoop(member: Member, link: Link): Promise<void> {
    let error: unknown;
    try {
      while (true) {
        while (this.#inboxFull()) {
          this.#drained ??= Promise.withResolvers<void>();
          await this.#drained.promise;
        }
        const frame = await link.read();
        if (frame === null) break;
        member.lastHeard = link.lastHeard;
        if (member.suspect) member.suspect = false;
        if (frame[0] === KIND_BATCH) {
          forEachFrame(frame, (inner) => this.#onFrame(member, link, inner));
        } else {
          this.#onFrame(member, link, frame);
        }
        if (link.leaving) break;
      }
    } catch (e) {
      error = e;
    }
    this.#linkClosed(member, link, error);
  }

  #onFrame(member: Member, link: Link, frame: Uint8Array): void {
    switch (frame[0]) {
      case KIND_MSG: {
        const message = decodeMessage(frame);
        this.#deliver(member, message.type, decodeContent(message.enc, message.body));
        return;
      }
      case KIND_REQUEST: {
        const message = decodeMessage(frame);
        this.#answer(member, link, message.requestId!, message.type, message.enc, message.body);
        return;
      }
      case KIND_REPLY: {
        const reply = decodeReply(frame);
        const pending = this.#requests.get(reply.requestId);
        if (!pending || pending.peer !== member.id) return;
        this.#requests.delete(reply.requestId);
        const content = decodeContent(reply.enc, reply.body);
        if (reply.status === REPLY_OK) pending.resolve(content);
        else if (reply.status === REPLY_NO_HANDLER) {
          pending.reject(new MeshRequestError("ERR_NO_HANDLER", String(content)));
        } else pending.reject(new MeshRequestError("ERR_REMOTE_HANDLER", String(content)));
        return;
      }
      case KIND_PING:
        link.post(encodeTime(KIND_PONG, decodeTime(frame)));
        return;
      case KIND_PONG: {
        const rtt = performance.now() - decodeTime(frame);
        if (rtt >= 0) link.rtt = Number.isNaN(link.rtt) ? rtt : link.rtt * 0.8 + rtt * 0.2;
        return;
      }
      case KIND_MEMBERS:
        this.#mergeMembers(member, decodeJsonBody(frame));
        if (this.#join && member.link === link) {
          this.#join.heardMembers = true;
          this.#checkJoined();
        }
        return;
      case KIND_STATE: {
        const body = decodeJsonBody(frame) as { entries?: unknown };
        if (!Array.isArray(body?.entries) || !body.entries.every(isWireStateEntry)) {
          throw new MeshProtocolError("ERR_INVALID_FRAME", "Malformed STATE frame");
        }
        this.state.merge(body.entries as WireStateEntry[]);
        return;
      }
      case KIND_LEAVE:
        link.leaving = true;
        return;
      default:
        throw new MeshProtocolError("ERR_INVALID_FRAME", `Unknown frame kind ${frame[0]}`);
    }
  }

  #deliver(member: Member, type: string, content: unknown): void {
    const message: MeshMessage = { from: member.id, type, content, peer: member.peer! };
    for (const inbox of this.#inboxes) {
      if (inbox.ended) continue;
      inbox.queue.push(message);
      inbox.wake?.();
    }
    this.dispatchEvent(new CustomEvent<MeshMessage>("message", { detail: message }));
  }

  #answer(
    member: Member,
    link: Link,
    requestId: number,
    type: string,
    enc: number,
    body: Uint8Array,
  ): void {
    const handler = this.#handlers.get(type);
    const reply = (status: number, content: unknown) => {
      let encoded;
      try {
        encoded = encodeContent(content);
        this.#checkSize(encoded.body.length);
      } catch (error) {
        status = REPLY_ERROR;
        encoded = encodeContent(`Answer cannot be sent: ${(error as Error).message}`);
      }
      if (link.open) link.post(encodeReply(requestId, status, encoded)).catch(() => {});
    };
    if (!handler) return reply(REPLY_NO_HANDLER, `No handler for request type "${type}"`);
    const content = decodeContent(enc, body);
    this.#track(
      (async () => {
        try {
          // A handler that never settles must not keep leave() waiting.
          const signal = this.#abort.signal;
          const aborted = new Promise<never>((_, reject) => {
            if (signal.aborted) reject(signal.reason);
            signal.addEventListener("abort", () => reject(signal.reason), { once: true });
          });
          aborted.catch(() => {});
          reply(REPLY_OK, await Promise.race([handler(content, member.peer!, signal), aborted]));
        } catch (error) {
          reply(REPLY_ERROR, error instanceof Error ? error.message : String(error));
        }
      })(),
    );
  }

  #linkClosed(member: Member, link: Link, error: unknown): void {
    link.fail(error);
    if (member.link !== link) return;
    member.link = undefined;
    for (const [id, request] of this.#requests) {
      if (request.peer !== member.id) continue;
      this.#requests.delete(id);
      request.reject(new MeshPeerError("ERR_PEER_LEFT", `Connection to "${member.name}" was lost`));
    }
    if (this.#closed) return;
    if (link.leaving) {
      member.left = true;
      member.beatAt = performance.now();
      this.#floodQueue.set(member.id, [
        member.id,
        member.name,
        member.host,
        member.port,
        member.beat,
        1,
      ]);
      this.#dropPeer(member, "leave");
      return;
    }
    // Lost without a goodbye: reconnect at once; the failure detector
    // declares it dead if that keeps failing for deadTimeout.
    member.attempted = true;
    member.failures = 0;
    member.nextDialAt = performance.now();
    if (this.id > member.id) member.waitUntil = performance.now() + DIAL_GRACE;
  }

  #dropPeer(member: Member, reason: MeshLeaveReason): void {
    const peer = member.peer;
    member.peer = undefined;
    member.suspect = false;
    if (!peer) return;
    this.#peers.delete(member.id);
    this.#emitPeer("peerleave", peer, reason);
  }

  #forget(member: Member, reason: MeshLeaveReason): void {
    if (member.link) {
      member.link.replaced = true;
      member.link.fail(new DOMException("Member forgotten", "AbortError"));
      member.link = undefined;
    }
    this.#members.delete(member.id);
    this.#dropPeer(member, reason);
  }

  #emitPeer(type: keyof MeshEventMap, peer: MeshPeer, reason?: MeshLeaveReason): void {
    const detail: MeshPeerEventDetail = {
      peer,
      id: peer.id,
      name: peer.name,
      addr: peer.addr,
      ...(reason ? { reason } : {}),
    };
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // ---- membership -------------------------------------------------------

  #memberList(): WireMember[] {
    const list: WireMember[] = [[
      this.id,
      this.name,
      this.#advertiseHost,
      this.#addr.port,
      this.#beat,
      0,
    ]];
    for (const m of this.#members.values()) {
      if (m.pending === "accept" && !m.peer) continue;
      list.push([m.id, m.name, m.host, m.port, m.beat, m.left ? 1 : 0]);
    }
    return list;
  }

  #sendMembers(member: Member, list: WireMember[]): void {
    for (const entry of list) member.knows.add(`${entry[0]}:${entry[5]}`);
    member.link?.post(encodeJsonFrame(KIND_MEMBERS, list)).catch(() => {});
  }

  #mergeMembers(from: Member, body: unknown): void {
    if (!Array.isArray(body) || body.length > this.#options.maxMembers + 1) {
      throw new MeshProtocolError("ERR_INVALID_FRAME", "Malformed MEMBERS frame");
    }
    const now = performance.now();
    for (const entry of body) {
      if (!isWireMember(entry)) {
        throw new MeshProtocolError("ERR_INVALID_FRAME", "Malformed member");
      }
      const [id, name, host, port, beat, left] = entry;
      from.knows.add(`${id}:${left}`);
      if (id === this.id) continue;
      let member = this.#members.get(id);
      if (!member) {
        if (left || host === "" || port === 0) continue;
        if (this.#members.size >= this.#options.maxMembers) continue;
        if (!this.#allowAddress({ hostname: host, port })) continue;
        member = this.#addMember(id, name, host, port, beat);
        continue;
      }
      if (beat > member.beat) {
        member.beat = beat;
        member.beatAt = now;
      }
      if (left && !member.left && member !== from) {
        member.left = true;
        member.beatAt = now;
        this.#floodQueue.set(id, [id, name, member.host, member.port, member.beat, 1]);
        if (!member.link) this.#dropPeer(member, "leave");
      }
      if (member.host === "" && host !== "") member.host = host;
    }
  }

  #dialable(member: Member): boolean {
    return member.host !== "" && member.port > 0 &&
      this.#allowAddress({ hostname: member.host, port: member.port });
  }

  #tick(): void {
    if (this.#closed) return;
    const now = performance.now();
    const { heartbeatInterval, suspectTimeout, deadTimeout, forgetTimeout } = this.#options;
    const heartbeat = now >= this.#nextHeartbeat;
    if (heartbeat) {
      this.#nextHeartbeat = now + heartbeatInterval;
      this.#beat++;
    }
    // A member that could not run (CPU starvation, a long GC, a suspended
    // VM) heard nothing because it did not listen: forgive that stall
    // instead of declaring everyone dead (Lifeguard's local-health idea).
    const stall = now - this.#lastTick - TICK;
    this.#lastTick = now;
    const paused = this.#inboxFull();
    const linked: Member[] = [];
    for (const member of [...this.#members.values()]) {
      const link = member.link;
      if (stall > TICK) member.lastHeard += stall;
      if (link?.open) {
        // Silence we caused by not reading is no evidence against the peer.
        if (paused) member.lastHeard = now;
        member.beatAt = now;
        if (heartbeat) link.post(encodeTime(KIND_PING, now)).catch(() => {});
      }
      if (member.peer) {
        const silent = now - member.lastHeard;
        if (silent > deadTimeout) {
          if (link) {
            member.link = undefined;
            link.replaced = true;
            link.fail(new DOMException("Peer timed out", "TimeoutError"));
          }
          member.failures = 0;
          member.nextDialAt = now + this.#options.reconnectInterval * Math.random();
          this.#dropPeer(member, "timeout");
        } else if (silent > suspectTimeout && !member.suspect) {
          member.suspect = true;
          this.#emitPeer("peersuspect", member.peer);
        }
      }
      if (member.link?.open) linked.push(member);
      if (!member.link && !member.pending) {
        if (now - member.beatAt > forgetTimeout) {
          this.#members.delete(member.id);
          continue;
        }
        if (
          !member.left && now >= member.nextDialAt && now >= member.waitUntil &&
          this.#dialable(member)
        ) {
          member.nextDialAt = Infinity;
          this.#track(this.#dial(member.host, member.port, member).catch(() => {}));
        }
      }
    }
    if (this.#floodQueue.size > 0 && linked.length > 0) {
      // New entries go at once to every member not known to have them.
      const news = [...this.#floodQueue.values()];
      for (const member of linked) {
        const unknown = news.filter((e) =>
          e[0] !== member.id && !member.knows.has(`${e[0]}:${e[5]}`)
        );
        if (unknown.length > 0) this.#sendMembers(member, unknown);
      }
      this.#floodQueue.clear();
    }
    if (heartbeat && linked.length > 0) {
      // Anti-entropy: the whole list to one random member each round.
      const target = linked[Math.floor(Math.random() * linked.length)];
      this.#sendMembers(target, this.#memberList());
    }
    if (heartbeat && linked.length === 0 && this.#peers.size === 0 && !this.#join) {
      // Alone: knock on the seeds again (a healed partition, a restarted mesh).
      for (const seed of this.#options.seeds) {
        this.#track(this.#dial(seed.hostname, seed.port, undefined).catch(() => false));
      }
    }
  }

  // ---- state --------------------------------------------------------------

  #publishState(entries: WireStateEntry[]): void {
    if (this.#closed) return;
    const frame = encodeJsonFrame(KIND_STATE, { full: false, entries });
    for (const member of this.#members.values()) {
      if (member.link?.open) member.link.post(frame).catch(() => {});
    }
  }

  // ---- helpers ----------------------------------------------------------

  #inboxFull(): boolean {
    for (const inbox of this.#inboxes) {
      if (!inbox.ended && inbox.queue.length >= this.#options.inboxSize) return true;
    }
    return false;
  }

  #wakeReaders(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.resolve();
  }

  #checkSize(size: number): void {
    if (size > this.#options.maxMessageSize) {
      throw new MeshMessageTooLargeError(size, this.#options.maxMessageSize);
    }
  }

  #encodeMessage(type: string, content: unknown): Uint8Array {
    if (this.#closed) throw new MeshPeerError("ERR_MESH_CLOSED", "The member has left the mesh");
    if (typeof type !== "string") throw new TypeError("Message type must be a string");
    const type_ = encodeType(type);
    const encoded = encodeContent(content);
    this.#checkSize(type_.length + encoded.body.length);
    return encodeMessage(type_, encoded);
  }

  #linkTo(peerId: string): Link {
    if (this.#closed) throw new MeshPeerError("ERR_MESH_CLOSED", "The member has left the mesh");
    const member = this.#members.get(peerId);
    if (!member?.peer) {
      throw new MeshPeerError("ERR_UNKNOWN_PEER", `No peer with id "${peerId}" in the mesh`);
    }
    if (!member.link?.open) {
      throw new MeshPeerError("ERR_PEER_LEFT", `Peer "${member.name}" is not connected right now`);
    }
    return member.link;
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
    const links: Link[] = [];
    for (const member of this.#members.values()) {
      if (member.link?.open) {
        member.link.post(new Uint8Array([KIND_LEAVE])).catch(() => {});
        links.push(member.link);
      }
    }
    for (const [, request] of this.#requests) request.reject(reason);
    this.#requests.clear();
    for (const inbox of this.#inboxes) {
      inbox.ended = true;
      inbox.wake?.();
    }
    this.#wakeReaders();
    for (const conn of this.#handshakes) destroyConnection(conn);
    // Give each peer a moment to read LEAVE and hang up first, so the goodbye
    // is not lost to a reset.
    await Promise.all(links.map((link) => link.finish(1000)));
    await this.#listener.close().catch(() => {});
    this.#abort.abort(reason);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    for (const member of this.#members.values()) member.link = undefined;
    this.#peers.clear();
  }
}

const CONSTRUCT = Symbol("Mesh");

/**
 * Joins (or, without `seeds`, starts) a mesh. Resolves once this member is
 * connected to every member it has learned of; rejects with
 * `MeshJoinError` (`ERR_NAME_TAKEN`, `ERR_BAD_SECRET`,
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
    throw new MeshOptionError("joinMesh() needs an options object with a name");
  }
  options.signal?.throwIfAborted();
  const mesh = new Mesh(options, CONSTRUCT);
  await mesh.start();
  return mesh;
}
