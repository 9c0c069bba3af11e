/**
 * The webrtc master: the directory of slaves and the signalling relay between clients and slaves,
 * over `websocket/`'s `handleUpgrade`. No native dependency.
 *
 * @module
 */

import { handleUpgrade, serveHttp } from "../websocket/mod.ts";
import { truncateUtf8 } from "../_common/utf8.ts";
import { parseCookies } from "./_cookies.ts";
import type { WebSocketConnection } from "../websocket/mod.ts";
import { IdAllocator } from "./_id_allocator.ts";
import { SendQueue } from "../_common/send_queue.ts";
import { TypedEventTarget } from "../_common/typed_event_target.ts";
import { WebRtcRangeError, type WebRtcSyntaxError } from "./errors.ts";
import { peerLimit, type PeerLimitCode, protocolError, tooLarge } from "./_errors.ts";
import {
  CLIENT_SENDABLE,
  CLOSE_CODE_SIZE,
  CloseCode,
  decodePacket,
  encodeClientLeft,
  encodeIdentity,
  encodeReject,
  encodeRemoveSlaves,
  ID_SIZE,
  MAX_CLOSE_REASON_LENGTH,
  MAX_LIST_PACKET_SIZE,
  MAX_PACKET_TYPE,
  MAX_USER_DATA_LENGTH,
  type Packet,
  PacketType,
  rewrite,
  SLAVE_SENDABLE,
  TYPE_SIZE,
  USER_DATA_LENGTH_SIZE,
} from "./_protocol.ts";
import { CLIENT_JS } from "./_client_bundle.ts";
import type { Cluster } from "../cluster/types.ts";
import { Federation, type FederationHooks } from "./_federation.ts";

/** What an authorization hook may return: `true` accepts, `false` or a string (the reason) refuses with 401. */
export type Authorization = boolean | string;

/**
 * What `authorizeClient` may return: `true` accepts; `false` or a string refuses with 401 (the
 * string is the reason); any other value (an object, a number) accepts and becomes the client's
 * identity, handed to the slave's `offer` hook (it must be JSON-serializable, at most
 * `maxIdentitySize` bytes).
 */
export type ClientAuthorization = boolean | string | Record<string, unknown> | number | unknown[];

/** Options of `createMaster()` (and `serveMaster()`). */
export interface MasterOptions {
  /**
   * Path prefix: the client module is served at `<basePath>/client.js`, slaves connect to
   * `<basePath>/slaves`, clients to `<basePath>/clients`.
   * @default {"/netkit"}
   */
  basePath?: string;
  /**
   * Decides whether a slave may register (enslavism's `slaveauth`). `authData` is the parsed
   * `Cookie` header (the slave's `authData`). May be async; runs before the upgrade completes.
   * @default {() => true}
   */
  authorizeSlave?: (
    authData: Record<string, string>,
    request: Request,
  ) => Authorization | Promise<Authorization>;
  /**
   * Decides whether a client may connect (enslavism's `clientauth`): `cookies` are the browser's
   * cookies for the master's origin. Return an identity object to pass it to the slaves.
   * A client whose upgrade failed asks again with a plain GET of the endpoint (browsers hide an
   * upgrade's status), so a refusal reaches `connectMaster()` as `status` 401 and its reason.
   * @default {() => true}
   */
  authorizeClient?: (
    cookies: Record<string, string>,
    request: Request,
  ) => ClientAuthorization | Promise<ClientAuthorization>;
  /**
   * Origins allowed on the client endpoint (403 otherwise); `"*"` allows every origin. Requests
   * without `Origin` (non-browsers) and same-origin requests are always allowed.
   * @default {[]}
   */
  allowedOrigins?: string[] | "*";
  /**
   * Largest SDP offer or answer in bytes.
   * @default {16384}
   */
  maxSdpSize?: number;
  /**
   * Largest ICE candidate payload (sdpMid + index + line) in bytes.
   * @default {1024}
   */
  maxCandidateSize?: number;
  /**
   * Largest slave userData JSON in bytes (the wire field is u16).
   * @default {65535}
   */
  maxUserDataSize?: number;
  /**
   * Largest client identity JSON in bytes.
   * @default {4096}
   */
  maxIdentitySize?: number;
  /**
   * Offers a client may have waiting for an answer at once.
   * @default {4}
   */
  maxPendingOffers?: number;
  /**
   * Offers per second per client (token bucket, burst of the same size).
   * @default {10}
   */
  maxOffersPerSecond?: number;
  /**
   * Milliseconds after which an unanswered offer no longer counts as pending.
   * @default {10000}
   */
  offerTimeout?: number;
  /**
   * Slaves at once; further slaves are refused with 503.
   * @default {1024}
   */
  maxSlaves?: number;
  /**
   * Slaves at once from one remote address (when the address is known); further slaves from it
   * are refused with 429. Registering is open to anyone unless `authorizeSlave` says otherwise,
   * so this bounds what one host can put into every client's list.
   * @default {16}
   */
  maxSlavesPerAddress?: number;
  /**
   * Bytes of the whole slave list (every registered slave's `u32 id ‖ u16 length ‖ userData`).
   * A register or userData update that would grow the list past it closes that slave with 1008
   * (`ERR_SLAVE_LIST_FULL`). The list reaches a client in packets of at most 256 KiB.
   * @default {16777216}
   */
  maxSlaveListSize?: number;
  /**
   * userData updates per second per slave (token bucket, burst of the same size); one more
   * closes the slave with 1008 (`ERR_RATE_LIMITED`). Clients that fall behind get only the latest
   * userData of each slave.
   * @default {10}
   */
  maxUserDataUpdatesPerSecond?: number;
  /**
   * Packets per second a client may send (token bucket, burst of the same size); one more closes
   * it with 1008 (`ERR_RATE_LIMITED`).
   * @default {100}
   */
  maxClientMessagesPerSecond?: number;
  /**
   * Packets per second a slave may send (token bucket, burst of the same size); one more closes
   * it with 1008 (`ERR_RATE_LIMITED`).
   * @default {2000}
   */
  maxSlaveMessagesPerSecond?: number;
  /**
   * ICE candidates per client→slave session in each direction (counted from the client's latest
   * offer to that slave); one more closes the sender with 1008 (`ERR_TOO_MANY_CANDIDATES`).
   * @default {64}
   */
  maxCandidatesPerSession?: number;
  /**
   * Packets waiting to be sent to one peer. A peer whose queue is full does not read: it is
   * closed with 1013 (`ERR_SLOW_CONSUMER`); a client reconnects and gets the list afresh.
   * @default {4096}
   */
  maxQueuedMessages?: number;
  /**
   * Bytes waiting to be sent to one peer (beyond the socket's own 1 MiB send buffer); over it,
   * as with `maxQueuedMessages`.
   * @default {1048576}
   */
  maxQueuedBytes?: number;
  /**
   * Milliseconds a peer may leave what the master sent unread (one send waiting for the
   * socket's buffer to drain) before it is closed with 1013 (`ERR_SLOW_CONSUMER`); 0 disables.
   * @default {10000}
   */
  sendTimeout?: number;
  /**
   * Clients at once; further clients are refused with 503.
   * @default {65536}
   */
  maxClients?: number;
  /**
   * Dead-peer detection on the signalling sockets (see `websocket/`).
   * @default {{ interval: 15000, timeout: 15000 }}
   */
  heartbeat?: { interval?: number; timeout?: number } | false;
  /**
   * A cluster shared with other masters (`await connectCluster("nats://…")` of
   * `@netkit/realtime/cluster`; its directory needs JetStream on NATS). Every master then lists
   * the union of all masters' slaves to its clients, and relays offers, answers, candidates,
   * rejections and closes to the master that holds the slave (see PROTOCOL.md, "Relaying between
   * masters"). A dead master's slaves leave the other lists within the directory's timeout (5 s).
   * The master does not close the cluster.
   */
  cluster?: Cluster;
}

/** A peer's signalling WebSocket, as the master exposes it (a `websocket/` connection). */
export interface SignallingLink {
  /** The peer's address, when known. */
  readonly remoteAddr: Deno.NetAddr | null;
  /** The upgrade request's headers. */
  readonly headers: Headers;
  /** Closes the link (the peer is removed, as if it had left). */
  close(code?: number, reason?: string): Promise<void>;
}

/** A registered (or registering) slave as the master sees it. */
export interface MasterSlave {
  /** The slave's id. */
  readonly id: number;
  /** Its current userData, parsed (undefined before it registered). */
  readonly userData: unknown;
  /** Its signalling connection. */
  readonly connection: SignallingLink;
}

/** A connected client as the master sees it. */
export interface MasterClient {
  /** The client's id. */
  readonly id: number;
  /** What `authorizeClient` returned (undefined for `true`). */
  readonly identity: unknown;
  /** Its signalling connection. */
  readonly connection: SignallingLink;
}

/** What the master closed a peer for, as its `peererror` event reports it. */
export interface PeerErrorDetail {
  /** Which endpoint the peer used. */
  readonly role: "slave" | "client";
  /** The peer's id. */
  readonly id: number;
  /**
   * The typed error; its `code` also starts the close reason the peer got, and its `closeCode`
   * is the close code. A `WebRtcSyntaxError` (`ERR_PROTOCOL`) for a malformed or forbidden
   * packet; a `WebRtcRangeError` for a packet over its size limit (`ERR_MESSAGE_TOO_LARGE`) or a
   * broken peer limit (`option` names the option, `limit` is its value).
   */
  readonly error: WebRtcSyntaxError | WebRtcRangeError;
}

/**
 * The events of a {@linkcode Master} (and {@linkcode MasterServer}).
 *
 * @example
 * ```ts
 * import { createMaster, type MasterEventMap } from "@netkit/realtime/webrtc";
 * const master = createMaster();
 * const onSlave = (e: MasterEventMap["slaveconnection"]) => console.log("slave", e.detail.id);
 * master.addEventListener("slaveconnection", onSlave);
 * master.addEventListener("peererror", (e) => console.log(e.detail.role, e.detail.error.code));
 * master.removeEventListener("slaveconnection", onSlave);
 * await master.close();
 * ```
 */
export interface MasterEventMap {
  /** A slave registered; it is now listed to every client. */
  slaveconnection: CustomEvent<MasterSlave>;
  /** A registered slave left or was closed; it was removed from every client's list. */
  slavedisconnect: CustomEvent<MasterSlave>;
  /** A client was accepted by `authorizeClient` and connected. */
  clientconnection: CustomEvent<MasterClient>;
  /** A connected client left or was closed. */
  clientdisconnect: CustomEvent<MasterClient>;
  /** The master closed a peer for breaking a rule or a limit. */
  peererror: CustomEvent<PeerErrorDetail>;
}

/** Something waiting to be sent to a peer: bytes, or a marker resolved when it is written. */
type Outgoing =
  | Uint8Array
  /** The latest userData of one slave (pending updates of a slave coalesce into one). */
  | { readonly update: SlaveEntry }
  /** The next piece of the slaves a client has yet to be told about (`ClientEntry.announce`). */
  | typeof LIST;

/** The list marker: one per client at most is queued. */
const LIST = { list: true } as const;
/**
 * What a marker counts for against `maxQueuedBytes`: markers point at data every client shares
 * (bounded by `maxSlaveListSize` for all), so a client pays only for the pointer.
 */
const MARKER_SIZE = 16;

/**
 * The "connection" of another master's slave: what the master would write to it goes over the
 * cluster to the master that holds it.
 */
class RemoteLink {
  readonly remoteAddr = null;
  readonly headers = new Headers();
  readyState = 1;
  #closed = Promise.withResolvers<{ code: number; reason: string }>();
  readonly closed = this.#closed.promise;
  #send: (bytes: Uint8Array) => Promise<void>;

  constructor(send: (bytes: Uint8Array) => Promise<void>) {
    this.#send = send;
  }

  send(bytes: Uint8Array): Promise<void> {
    return this.readyState === 1 ? this.#send(bytes) : Promise.resolve();
  }

  close(code = 1000, reason = ""): Promise<void> {
    if (this.readyState === 1) {
      this.readyState = 3;
      this.#closed.resolve({ code, reason });
    }
    return Promise.resolve();
  }
}

/** A client of another master that offered to one of this master's slaves. */
interface ProxyClient {
  /** Its id here (in this master's client id space, as the slave sees it). */
  readonly id: number;
  readonly node: string;
  /** Its id at its own master. */
  readonly clientId: number;
  /** This master's slaves it offered to. */
  readonly slaves: Set<number>;
}

/** A token bucket: `take()` is false once more than `rate` per second (burst `rate`) arrive. */
class Bucket {
  #rate: number;
  #tokens: number;
  #refilled = performance.now();

  constructor(rate: number) {
    this.#rate = rate;
    this.#tokens = rate;
  }

  /** True when a token is there (without taking it). */
  available(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.#rate, this.#tokens + (now - this.#refilled) * this.#rate / 1000);
    this.#refilled = now;
    return this.#tokens >= 1;
  }

  /** Takes a token; false when none is there. */
  take(): boolean {
    if (!this.available()) return false;
    this.#tokens -= 1;
    return true;
  }
}

interface PeerEntry {
  readonly id: number;
  readonly role: "slave" | "client";
  readonly connection: WebSocketConnection;
  readonly queue: SendQueue<Outgoing>;
  readonly messages: Bucket;
  /** Set once the master closed it for breaking a rule. */
  failed: boolean;
}

interface SlaveEntry extends MasterSlave, PeerEntry {
  readonly role: "slave";
  readonly connection: WebSocketConnection;
  readonly address: string | null;
  userData: unknown;
  /** `u32 id ‖ u16 length ‖ userData JSON` once registered, else null. */
  entry: Uint8Array | null;
  /** The `14` packet with the current userData (made on first use after each update). */
  updatePacket: Uint8Array | null;
  updates: Bucket;
  /** Clients that offered to this slave. */
  clients: Set<number>;
}

/** One client→slave session: candidates counted since the client's latest offer. */
interface Session {
  toSlave: number;
  toClient: number;
  /** Offers not yet answered or rejected: a slave's answer or reject needs one. */
  unanswered: number;
}

interface ClientEntry extends MasterClient, PeerEntry {
  readonly role: "client";
  readonly connection: WebSocketConnection;
  identityJson: string | null;
  /** Slaves this client offered to. */
  sessions: Map<number, Session>;
  pending: Map<number, number>;
  offers: Bucket;
  /** Slaves with a userData update waiting in this client's queue. */
  updates: Set<number>;
  /** Slaves to list to this client (addSlaves), from `announced` on. */
  announce: number[];
  announced: number;
  /** A list marker is in the queue. */
  listing: boolean;
  /** The first addSlaves went out. */
  listed: boolean;
}

const encoder = new TextEncoder();
/** The native socket's own send buffer per peer; the queue holds what does not fit. */
const SEND_HIGH_WATER_MARK = 1024 * 1024;

function closeWith(connection: WebSocketConnection, code: number, reason: string): void {
  connection.close(code, truncateUtf8(reason, MAX_CLOSE_REASON_LENGTH)).catch(() => {});
}

function withType(type: number, entry: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(TYPE_SIZE + entry.length);
  bytes[0] = type;
  bytes.set(entry, TYPE_SIZE);
  return bytes;
}

function resolvedLimits(o: MasterOptions) {
  const limits = {
    maxSdpSize: o.maxSdpSize ?? 16384,
    maxCandidateSize: o.maxCandidateSize ?? 1024,
    maxUserDataSize: Math.min(o.maxUserDataSize ?? MAX_USER_DATA_LENGTH, MAX_USER_DATA_LENGTH),
    maxIdentitySize: o.maxIdentitySize ?? 4096,
    maxPendingOffers: o.maxPendingOffers ?? 4,
    maxOffersPerSecond: o.maxOffersPerSecond ?? 10,
    offerTimeout: o.offerTimeout ?? 10_000,
    maxSlaves: o.maxSlaves ?? 1024,
    maxClients: o.maxClients ?? 65536,
    maxSlavesPerAddress: o.maxSlavesPerAddress ?? 16,
    maxSlaveListSize: o.maxSlaveListSize ?? 16 * 1024 * 1024,
    maxUserDataUpdatesPerSecond: o.maxUserDataUpdatesPerSecond ?? 10,
    maxClientMessagesPerSecond: o.maxClientMessagesPerSecond ?? 100,
    maxSlaveMessagesPerSecond: o.maxSlaveMessagesPerSecond ?? 2000,
    maxCandidatesPerSession: o.maxCandidatesPerSession ?? 64,
    maxQueuedMessages: o.maxQueuedMessages ?? 4096,
    maxQueuedBytes: o.maxQueuedBytes ?? 1024 * 1024,
    sendTimeout: o.sendTimeout ?? 10_000,
  };
  for (const [name, value] of Object.entries(limits)) {
    const zeroOk = name === "sendTimeout" || name === "offerTimeout";
    if (typeof value !== "number" || Number.isNaN(value) || value < (zeroOk ? 0 : 1)) {
      throw new WebRtcRangeError(
        "ERR_INVALID_OPTION",
        `Option "${name}" must be a number of at least ${zeroOk ? 0 : 1}, got "${value}"`,
        { option: name },
      );
    }
  }
  return limits;
}

/**
 * The master: keeps every client's copy of the slave list current and relays offers, answers,
 * candidates, rejections and close reasons between clients and slaves. Mount `handler` into your
 * own `Deno.serve`, or use `serveMaster()`.
 *
 * Every peer has its own bounded send queue, so a peer that does not read never holds up the
 * others: it is closed with 1013 once its queue is full or a send waits longer than
 * `sendTimeout`. A peer that breaks a limit is closed alone, with a typed error in the
 * `peererror` event.
 *
 * Events: `slaveconnection` / `slavedisconnect` (`CustomEvent<MasterSlave>`), `clientconnection`
 * / `clientdisconnect` (`CustomEvent<MasterClient>`), `peererror`
 * (`CustomEvent<PeerErrorDetail>`).
 *
 * @example
 * ```ts
 * import { createMaster } from "@netkit/realtime/webrtc";
 * const master = createMaster({ authorizeClient: (cookies) => cookies.session ? { user: cookies.session } : "No session" });
 * master.addEventListener("peererror", (e) => console.log(e.detail.error.code));
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request, info) =>
 *   (await master.handler(request, info)) ?? new Response("my app"));
 * await master.close();
 * await server.shutdown();
 * ```
 */
export class Master extends TypedEventTarget<MasterEventMap> {
  #options: MasterOptions;
  #limits: ReturnType<typeof resolvedLimits>;
  #basePath: string;
  #slaves = new Map<number, SlaveEntry>();
  #clients = new Map<number, ClientEntry>();
  #slaveIds = new IdAllocator();
  #clientIds = new IdAllocator();
  /** Slaves per remote address. */
  #addresses = new Map<string, number>();
  /** Bytes of every registered slave's entry. */
  #listSize = 0;
  #closing = false;
  #federation: Federation | undefined;
  /** Other masters' slaves in `#slaves`. */
  #remoteCount = 0;
  /** Other masters' clients by `<node>/<clientId>` and by id here. */
  #proxies = new Map<string, ProxyClient>();
  #proxyById = new Map<number, ProxyClient>();

  /** @internal Use `createMaster()`. */
  constructor(options: MasterOptions = {}) {
    super();
    const { basePath = "/netkit" } = options;
    this.#options = options;
    this.#limits = resolvedLimits(options);
    this.#basePath = basePath.replace(/\/$/, "");
    if (options.cluster) {
      this.#federation = new Federation(
        options.cluster,
        this.#federationHooks(),
        this.#limits.maxUserDataSize,
      );
    }
  }

  /** Connected slaves by id (listed to clients once they registered). */
  get slaves(): ReadonlyMap<number, MasterSlave> {
    return this.#slaves;
  }

  /** Connected clients by id. */
  get clients(): ReadonlyMap<number, MasterClient> {
    return this.#clients;
  }

  /**
   * With the `cluster` option: settles once this master is listed in the cluster and receives
   * relays; rejects (`ClusterError` `ERR_ENGINE_UNAVAILABLE`) when the engine cannot hold the
   * directory (NATS without JetStream) — the master then serves only its own slaves. Without the
   * option it is resolved.
   */
  get clusterReady(): Promise<void> {
    return this.#federation?.ready ?? Promise.resolve();
  }

  /**
   * Handles a request: serves `<basePath>/client.js`, upgrades `<basePath>/slaves` and
   * `<basePath>/clients`, and returns `null` for every other path.
   */
  async handler(request: Request, info?: { remoteAddr?: Deno.Addr }): Promise<Response | null> {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === `${this.#basePath}/client.js`) {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return new Response("Method not allowed", { status: 405, headers: { allow: "GET, HEAD" } });
      }
      return new Response(request.method === "HEAD" ? null : CLIENT_JS, {
        headers: {
          "content-type": "text/javascript; charset=utf-8",
          "cache-control": "no-cache",
          "access-control-allow-origin": "*",
        },
      });
    }
    const role = path === `${this.#basePath}/slaves`
      ? "slave"
      : path === `${this.#basePath}/clients`
      ? "client"
      : null;
    if (!role) return null;
    if (
      role === "client" && request.headers.get("upgrade")?.toLowerCase() !== "websocket" &&
      (request.method === "GET" || request.method === "HEAD")
    ) {
      // A plain GET is the client's probe after a failed handshake: browsers hide a refused
      // upgrade's status from WebSocket, so it asks here and reports "refused (403: …)" or
      // "refused (401: <authorizeClient's reason>)"; readable from any origin (CORS).
      const origin = request.headers.get("origin");
      const cors = { "access-control-allow-origin": "*", "cache-control": "no-store" };
      if (origin !== null && !this.#originAllowed(origin, url)) {
        return new Response("origin not allowed", { status: 403, headers: cors });
      }
      if (this.#closing || this.#clients.size >= this.#limits.maxClients) {
        return new Response("too many clients", { status: 503, headers: cors });
      }
      const cookies = parseCookies(request.headers.get("cookie"));
      const verdict = await (this.#options.authorizeClient?.(cookies, request) ?? true);
      if (verdict === false || typeof verdict === "string") return unauthorized(verdict, cors);
      return new Response("Expected a WebSocket upgrade", {
        status: 426,
        headers: { ...cors, upgrade: "websocket" },
      });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Expected a WebSocket upgrade", {
        status: 426,
        headers: { upgrade: "websocket" },
      });
    }
    if (this.#closing) return new Response("Master is closing", { status: 503 });
    const limits = this.#limits;
    const remoteAddr = info?.remoteAddr?.transport === "tcp"
      ? info.remoteAddr as Deno.NetAddr
      : undefined;
    const address = remoteAddr?.hostname ?? null;
    const cookies = parseCookies(request.headers.get("cookie"));
    let identity: unknown = undefined;
    if (role === "slave") {
      if (this.#slaves.size - this.#remoteCount >= limits.maxSlaves) {
        return new Response("Too many slaves", { status: 503 });
      }
      if (address !== null && (this.#addresses.get(address) ?? 0) >= limits.maxSlavesPerAddress) {
        return new Response("Too many slaves from this address", { status: 429 });
      }
      const verdict = await (this.#options.authorizeSlave?.(cookies, request) ?? true);
      if (verdict !== true) return unauthorized(verdict);
      // Checked again: other slaves may have arrived while the hook ran.
      if (this.#slaves.size - this.#remoteCount >= limits.maxSlaves) {
        return new Response("Too many slaves", { status: 503 });
      }
      if (address !== null && (this.#addresses.get(address) ?? 0) >= limits.maxSlavesPerAddress) {
        return new Response("Too many slaves from this address", { status: 429 });
      }
    } else {
      const origin = request.headers.get("origin");
      if (origin !== null && !this.#originAllowed(origin, url)) {
        return new Response(`Origin "${origin}" is not allowed`, { status: 403 });
      }
      if (this.#clients.size >= limits.maxClients) {
        return new Response("Too many clients", { status: 503 });
      }
      const verdict = await (this.#options.authorizeClient?.(cookies, request) ?? true);
      if (verdict === false || typeof verdict === "string") return unauthorized(verdict);
      if (verdict !== true) identity = verdict;
    }
    if (this.#closing) return new Response("Master is closing", { status: 503 });
    let identityJson: string | null = null;
    if (identity !== undefined) {
      identityJson = JSON.stringify(identity);
      if (encoder.encode(identityJson).length > limits.maxIdentitySize) {
        return new Response("Identity too large", { status: 500 });
      }
    }
    let upgraded: { response: Response; connection: WebSocketConnection };
    try {
      upgraded = handleUpgrade(request, {
        maxMessageSize: this.#maxMessageSize(),
        sendHighWaterMark: SEND_HIGH_WATER_MARK,
        heartbeat: this.#options.heartbeat,
        remoteAddr,
      });
    } catch (error) {
      return new Response(`Bad WebSocket upgrade: ${(error as Error).message}`, { status: 400 });
    }
    const { response, connection } = upgraded;
    if (role === "slave") this.#acceptSlave(connection, address);
    else this.#acceptClient(connection, identity, identityJson);
    return response;
  }

  /** Closes every signalling connection with 1001. Established data channels are not affected. */
  async close(): Promise<void> {
    this.#closing = true;
    const all = [...this.#slaves.values(), ...this.#clients.values()];
    for (const peer of all) peer.queue.close();
    const connections = all.map((peer) => peer.connection);
    await Promise.all(
      connections.map((c) => c.close(CloseCode.GOING_AWAY, "Master closing").catch(() => {})),
    );
    await Promise.all(connections.map((c) => c.closed));
    await this.#federation?.close();
  }

  #originAllowed(origin: string, url: URL): boolean {
    const { allowedOrigins = [] } = this.#options;
    if (allowedOrigins === "*") return true;
    if (allowedOrigins.includes(origin)) return true;
    try {
      const o = new URL(origin);
      // Same origin: the Origin host matches the request's Host (scheme-agnostic behind TLS proxies).
      return o.host === url.host;
    } catch {
      return false;
    }
  }

  #maxMessageSize(): number {
    const l = this.#limits;
    return Math.max(
      TYPE_SIZE + ID_SIZE + l.maxSdpSize,
      TYPE_SIZE + l.maxUserDataSize,
      TYPE_SIZE + ID_SIZE + l.maxCandidateSize,
    );
  }

  /** The size limit of one packet type from a peer, in bytes. */
  #limitOf(type: number): number {
    const l = this.#limits;
    switch (type) {
      case PacketType.REGISTER:
      case PacketType.UPDATE_USER_DATA:
        return TYPE_SIZE + l.maxUserDataSize;
      case PacketType.OFFER_TO_SLAVE:
      case PacketType.ANSWER_TO_CLIENT:
        return TYPE_SIZE + ID_SIZE + l.maxSdpSize;
      case PacketType.ICE_CANDIDATE_TO_SLAVE:
      case PacketType.ICE_CANDIDATE_TO_CLIENT:
        return TYPE_SIZE + ID_SIZE + l.maxCandidateSize;
      case PacketType.REJECT_TO_CLIENT:
        return TYPE_SIZE + ID_SIZE + 1024;
      default:
        return TYPE_SIZE + ID_SIZE + CLOSE_CODE_SIZE + MAX_CLOSE_REASON_LENGTH;
    }
  }

  /** Closes `peer` alone for breaking a rule and reports it in `peererror`. */
  #fail(peer: PeerEntry, error: PeerErrorDetail["error"]): void {
    if (peer.failed) return;
    peer.failed = true;
    peer.queue.close();
    const { code, message } = error;
    closeWith(
      peer.connection,
      error.closeCode ?? CloseCode.PROTOCOL_ERROR,
      message.startsWith(code) ? message : `${code}: ${message}`,
    );
    this.dispatchEvent(
      new CustomEvent<PeerErrorDetail>("peererror", {
        detail: { role: peer.role, id: peer.id, error },
      }),
    );
  }

  #limitError(
    peer: PeerEntry,
    code: PeerLimitCode,
    limit: keyof ReturnType<typeof resolvedLimits>,
    detail = "",
  ): void {
    const closeCode = code === "ERR_SLOW_CONSUMER"
      ? CloseCode.TRY_AGAIN_LATER
      : CloseCode.POLICY_VIOLATION;
    this.#fail(peer, peerLimit(code, limit, this.#limits[limit], closeCode, detail));
  }

  /** A send queue whose writes go to `peer`'s socket. */
  #queueFor(getPeer: () => PeerEntry, connection: WebSocketConnection): SendQueue<Outgoing> {
    const l = this.#limits;
    return new SendQueue<Outgoing>({
      maxMessages: l.maxQueuedMessages,
      maxBytes: l.maxQueuedBytes,
      sendTimeout: l.sendTimeout,
    }, {
      write: (item) => {
        const bytes = this.#materialize(getPeer(), item);
        return bytes ? connection.send(bytes) : Promise.resolve();
      },
      onStall: () => this.#limitError(getPeer(), "ERR_SLOW_CONSUMER", "sendTimeout", "Not reading"),
      onError: () => {/* the connection failed; its close handling runs */},
    });
  }

  /** Queues `item` for `peer`; a peer whose queue is full does not read and is closed. */
  #send(peer: PeerEntry, item: Outgoing, size: number): void {
    // A peer that is closing reads nothing more; what it would get is moot, not a fault.
    if (peer.connection.readyState > 1) {
      peer.queue.close();
      return;
    }
    if (peer.queue.offer(item, size) === "full") {
      this.#limitError(
        peer,
        "ERR_SLOW_CONSUMER",
        peer.queue.length >= this.#limits.maxQueuedMessages
          ? "maxQueuedMessages"
          : "maxQueuedBytes",
        "Not reading",
      );
    }
  }

  /** The bytes of a queued item at the moment it is written (markers read the latest state). */
  #materialize(peer: PeerEntry, item: Outgoing): Uint8Array | null {
    if (item instanceof Uint8Array) return item;
    if ("update" in item) {
      const slave = item.update;
      (peer as unknown as ClientEntry).updates.delete(slave.id);
      if (this.#slaves.get(slave.id) !== slave || slave.entry === null) return null;
      return slave.updatePacket ??= withType(PacketType.UPDATE_SLAVE, slave.entry);
    }
    const client = peer as unknown as ClientEntry;
    client.listing = false;
    const parts: Uint8Array[] = [];
    let size = TYPE_SIZE;
    const { announce } = client;
    while (client.announced < announce.length) {
      const entry = this.#slaves.get(announce[client.announced])?.entry;
      if (entry) {
        if (size + entry.length > MAX_LIST_PACKET_SIZE && parts.length > 0) break;
        parts.push(entry);
        size += entry.length;
      }
      client.announced++;
    }
    if (client.announced === announce.length) {
      announce.length = 0;
      client.announced = 0;
    } else {
      // The rest goes behind what was queued meanwhile; a slave that left since is skipped.
      client.listing = true;
      this.#send(client, LIST, MARKER_SIZE);
    }
    if (parts.length === 0 && client.listed) return null;
    client.listed = true;
    const bytes = new Uint8Array(size);
    bytes[0] = PacketType.ADD_SLAVES;
    let at = TYPE_SIZE;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    return bytes;
  }

  /**
   * Reads a peer's packets with every check the role calls for. Returns when the connection ends.
   */
  async #pump(
    peer: PeerEntry,
    allowed: ReadonlySet<number>,
    onPacket: (packet: Packet, bytes: Uint8Array) => void,
  ): Promise<void> {
    const { connection } = peer;
    const rateLimit = peer.role === "slave"
      ? "maxSlaveMessagesPerSecond"
      : "maxClientMessagesPerSecond";
    try {
      for await (const message of connection.readable) {
        if (peer.failed) break;
        if (typeof message === "string") {
          this.#fail(
            peer,
            protocolError("Text messages are not used", CloseCode.PROTOCOL_ERROR),
          );
          break;
        }
        if (message.length === 0) {
          this.#fail(peer, protocolError("Empty packet", CloseCode.PROTOCOL_ERROR));
          break;
        }
        if (!peer.messages.take()) {
          this.#limitError(peer, "ERR_RATE_LIMITED", rateLimit);
          break;
        }
        const type = message[0];
        if (type > MAX_PACKET_TYPE) {
          this.#fail(
            peer,
            protocolError(`Unknown packet type "${type}"`, CloseCode.PROTOCOL_ERROR),
          );
          break;
        }
        if (!allowed.has(type)) {
          this.#fail(
            peer,
            protocolError(`Packet type "${type}" not allowed`, CloseCode.POLICY_VIOLATION),
          );
          break;
        }
        const limit = this.#limitOf(type);
        if (message.length > limit) {
          this.#fail(
            peer,
            tooLarge(message.length, limit, `Packet type "${type}"`, CloseCode.MESSAGE_TOO_BIG),
          );
          break;
        }
        if (
          type === PacketType.REGISTER && peer.role === "slave" &&
          this.#overListBudget(peer as SlaveEntry, message)
        ) {
          this.#limitError(peer, "ERR_SLAVE_LIST_FULL", "maxSlaveListSize");
          break;
        }
        let packet: Packet;
        try {
          packet = decodePacket(message);
        } catch (error) {
          this.#fail(
            peer,
            protocolError((error as Error).message, CloseCode.PROTOCOL_ERROR, error),
          );
          break;
        }
        onPacket(packet, message);
        if (peer.failed) break;
      }
    } catch {
      // The connection failed; the close handling below runs either way.
    }
  }

  #acceptSlave(connection: WebSocketConnection, address: string | null): void {
    const id = this.#slaveIds.allocate(this.#slaves);
    const l = this.#limits;
    const entry: SlaveEntry = {
      id,
      role: "slave",
      connection,
      address,
      queue: this.#queueFor(() => entry, connection),
      messages: new Bucket(l.maxSlaveMessagesPerSecond),
      updates: new Bucket(l.maxUserDataUpdatesPerSecond),
      failed: false,
      userData: undefined,
      entry: null,
      updatePacket: null,
      clients: new Set(),
    };
    this.#slaves.set(id, entry);
    if (address !== null) this.#addresses.set(address, (this.#addresses.get(address) ?? 0) + 1);
    (async () => {
      await this.#pump(entry, SLAVE_SENDABLE, (packet, bytes) => {
        if (!this.#onSlavePacket(entry, packet, bytes)) {
          this.#fail(entry, protocolError("Register first", CloseCode.POLICY_VIOLATION));
        }
      });
      await connection.closed;
      entry.queue.close();
      this.#slaves.delete(id);
      if (address !== null) {
        const left = (this.#addresses.get(address) ?? 1) - 1;
        if (left > 0) this.#addresses.set(address, left);
        else this.#addresses.delete(address);
      }
      if (entry.entry !== null) {
        this.#federation?.slaveLeft(id);
        for (const [key, proxy] of this.#proxies) {
          if (proxy.slaves.delete(id) && proxy.slaves.size === 0) {
            this.#proxies.delete(key);
            this.#proxyById.delete(proxy.id);
          }
        }
        this.#unlist(entry);
        this.dispatchEvent(new CustomEvent("slavedisconnect", { detail: entry }));
      }
    })();
  }

  /** Removes a listed slave from every client's list. */
  #unlist(entry: SlaveEntry): void {
    const { id } = entry;
    if (entry.entry === null) return;
    this.#listSize -= entry.entry.length;
    entry.entry = null;
    entry.updatePacket = null;
    const removal = encodeRemoveSlaves([id]);
    for (const client of this.#clients.values()) {
      client.sessions.delete(id);
      client.pending.delete(id);
      this.#send(client, removal, removal.length);
    }
  }

  #acceptClient(
    connection: WebSocketConnection,
    identity: unknown,
    identityJson: string | null,
  ): void {
    const id = this.#clientIds.allocate(this.#clients);
    const l = this.#limits;
    const entry: ClientEntry = {
      id,
      role: "client",
      connection,
      queue: this.#queueFor(() => entry, connection),
      messages: new Bucket(l.maxClientMessagesPerSecond),
      failed: false,
      identity,
      identityJson,
      sessions: new Map(),
      pending: new Map(),
      offers: new Bucket(l.maxOffersPerSecond),
      updates: new Set(),
      announce: [],
      announced: 0,
      listing: true,
      listed: false,
    };
    this.#clients.set(id, entry);
    // The first packet is always the list of registered slaves (possibly empty), in pieces of at
    // most MAX_LIST_PACKET_SIZE made as the client reads; slaves still registering are not
    // listed (enslavism crashed on them).
    for (const slave of this.#slaves.values()) {
      if (slave.entry !== null) entry.announce.push(slave.id);
    }
    this.#send(entry, LIST, MARKER_SIZE);
    this.dispatchEvent(new CustomEvent("clientconnection", { detail: entry }));
    (async () => {
      await this.#pump(entry, CLIENT_SENDABLE, (packet, bytes) => {
        this.#onClientPacket(entry, packet, bytes);
      });
      await connection.closed;
      entry.queue.close();
      this.#clients.delete(id);
      const left = encodeClientLeft(id);
      for (const slaveId of entry.sessions.keys()) {
        const slave = this.#slaves.get(slaveId);
        if (!slave) continue;
        slave.clients.delete(id);
        this.#send(slave, left, left.length);
      }
      this.dispatchEvent(new CustomEvent("clientdisconnect", { detail: entry }));
    })();
  }

  /**
   * True when a slave's first registration (`message`) would grow the list past its budget: it
   * is refused before its userData (up to 64 KiB of JSON) is decoded and parsed, which is most of
   * what a flood of registrations past the budget would cost. Same sum as `#setUserData`.
   */
  #overListBudget(slave: SlaveEntry, message: Uint8Array): boolean {
    if (slave.entry !== null) return false;
    // The entry stores the userData as the decoder returns it: without a leading BOM.
    const bom = message[1] === 0xef && message[2] === 0xbb && message[3] === 0xbf ? 3 : 0;
    const entry = ID_SIZE + USER_DATA_LENGTH_SIZE + message.length - TYPE_SIZE - bom;
    return this.#listSize + entry > this.#limits.maxSlaveListSize;
  }

  /** Stores a slave's (new) userData; false when the list budget refuses it. */
  #setUserData(slave: SlaveEntry, json: string): boolean {
    const bytes = encoder.encode(json);
    const entry = new Uint8Array(ID_SIZE + USER_DATA_LENGTH_SIZE + bytes.length);
    const view = new DataView(entry.buffer);
    view.setUint32(0, slave.id);
    view.setUint16(ID_SIZE, bytes.length);
    entry.set(bytes, ID_SIZE + USER_DATA_LENGTH_SIZE);
    const size = this.#listSize - (slave.entry?.length ?? 0) + entry.length;
    if (size > this.#limits.maxSlaveListSize) {
      this.#limitError(slave, "ERR_SLAVE_LIST_FULL", "maxSlaveListSize");
      return false;
    }
    this.#listSize = size;
    slave.entry = entry;
    slave.updatePacket = null;
    slave.userData = JSON.parse(json);
    return true;
  }

  /** Returns false when the slave broke the register-first rule. */
  #onSlavePacket(slave: SlaveEntry, packet: Packet, bytes: Uint8Array): boolean {
    if (packet.type === PacketType.REGISTER || packet.type === PacketType.UPDATE_USER_DATA) {
      const first = slave.entry === null;
      if (first && packet.type === PacketType.UPDATE_USER_DATA) return false;
      if (!first && !slave.updates.take()) {
        this.#limitError(slave, "ERR_RATE_LIMITED", "maxUserDataUpdatesPerSecond");
        return true;
      }
      if (!this.#setUserData(slave, packet.userData)) return true;
      if (first) this.#federation?.slaveRegistered(slave.id, packet.userData);
      else this.#federation?.slaveUpdated(slave.id, packet.userData);
      if (first) {
        this.#list(slave);
        this.dispatchEvent(new CustomEvent("slaveconnection", { detail: slave }));
      } else this.#listUpdate(slave);
      return true;
    }
    if (slave.entry === null) return false;
    if (!("id" in packet)) return true;
    const client = this.#clients.get(packet.id);
    if (!client) {
      // Perhaps another master's client: relayed to its master, which checks it as its own.
      const proxy = this.#proxyById.get(packet.id);
      if (proxy && proxy.slaves.has(slave.id) && slave.clients.has(proxy.id)) {
        this.#federation?.sendToClient(proxy.node, slave.id, proxy.clientId, bytes);
      }
      return true;
    }
    return this.#fromSlave(slave, client, packet, bytes);
  }

  /** Lists a newly registered slave to every client. */
  #list(slave: SlaveEntry): void {
    // Coalesced too: new slaves join the client's pending list pieces, so a burst of
    // registrations costs a reading client nothing but its own reading speed.
    for (const client of this.#clients.values()) {
      client.announce.push(slave.id);
      if (client.announce.length - client.announced > 2 * this.#limits.maxSlaves) {
        // Churn while the client does not read: keep only slaves still here.
        client.announce = client.announce.slice(client.announced)
          .filter((id) => this.#slaves.get(id)?.entry);
        client.announced = 0;
      }
      if (client.listing) continue;
      client.listing = true;
      this.#send(client, LIST, MARKER_SIZE);
    }
  }

  /** Sends a slave's new userData to every client. */
  #listUpdate(slave: SlaveEntry): void {
    // Coalesced: a client holds at most one pending update per slave, and it carries the
    // userData current when it is written.
    const marker = { update: slave };
    for (const client of this.#clients.values()) {
      if (client.updates.has(slave.id)) continue;
      client.updates.add(slave.id);
      this.#send(client, marker, MARKER_SIZE);
    }
  }

  /** A slave's packet to one of this master's clients. */
  #fromSlave(slave: SlaveEntry, client: ClientEntry, packet: Packet, bytes: Uint8Array): boolean {
    // Slaves may only address clients that offered to them; anything else is dropped.
    if (!slave.clients.has(client.id)) return true;
    if (!("id" in packet)) return true;
    switch (packet.type) {
      case PacketType.ANSWER_TO_CLIENT:
      case PacketType.REJECT_TO_CLIENT: {
        // One answer or reject per offer; more would let a slave flood a client.
        const session = client.sessions.get(slave.id);
        if (!session || session.unanswered === 0) break;
        session.unanswered--;
        client.pending.delete(slave.id);
        const type = packet.type === PacketType.ANSWER_TO_CLIENT
          ? PacketType.ANSWER_FROM_SLAVE
          : PacketType.REJECT_FROM_SLAVE;
        this.#send(client, rewrite(bytes, type, slave.id), bytes.length);
        break;
      }
      case PacketType.ICE_CANDIDATE_TO_CLIENT: {
        const session = client.sessions.get(slave.id);
        if (session && ++session.toClient > this.#limits.maxCandidatesPerSession) {
          this.#limitError(slave, "ERR_TOO_MANY_CANDIDATES", "maxCandidatesPerSession");
          break;
        }
        this.#send(
          client,
          rewrite(bytes, PacketType.ICE_CANDIDATE_FROM_SLAVE, slave.id),
          bytes.length,
        );
        break;
      }
      case PacketType.CLOSE_TO_CLIENT:
        client.pending.delete(slave.id);
        this.#send(client, rewrite(bytes, PacketType.CLOSE_FROM_SLAVE, slave.id), bytes.length);
        break;
    }
    return true;
  }

  /** What the federation (`cluster` option) does to this master. */
  #federationHooks(): FederationHooks {
    return {
      addRemote: (_node, _slaveId, json) => {
        if (this.#closing) return undefined;
        const id = this.#slaveIds.allocate(this.#slaves);
        const link = new RemoteLink((bytes) => this.#federation!.sendToSlave(id, bytes));
        const connection = link as unknown as WebSocketConnection;
        const l = this.#limits;
        const entry: SlaveEntry = {
          id,
          role: "slave",
          connection,
          address: null,
          queue: this.#queueFor(() => entry, connection),
          messages: new Bucket(l.maxSlaveMessagesPerSecond),
          updates: new Bucket(l.maxUserDataUpdatesPerSecond),
          failed: false,
          userData: undefined,
          entry: null,
          updatePacket: null,
          clients: new Set(),
        };
        this.#slaves.set(id, entry);
        this.#remoteCount++;
        if (!this.#setUserData(entry, json)) {
          this.#slaves.delete(id);
          this.#remoteCount--;
          return undefined;
        }
        this.#list(entry);
        return id;
      },
      updateRemote: (localId, json) => {
        const entry = this.#slaves.get(localId);
        if (entry && this.#setUserData(entry, json)) this.#listUpdate(entry);
      },
      removeRemote: (localId) => {
        const entry = this.#slaves.get(localId);
        if (!entry) return;
        this.#slaves.delete(localId);
        this.#remoteCount--;
        entry.queue.close();
        entry.connection.close().catch(() => {});
        this.#unlist(entry);
      },
      fromRemoteSlave: (localId, bytes) => {
        const entry = this.#slaves.get(localId);
        if (!entry || entry.failed) return;
        let packet: Packet;
        try {
          packet = decodePacket(bytes);
        } catch {
          return; // a master of another version: nothing this one can relay
        }
        const client = "id" in packet ? this.#clients.get(packet.id) : undefined;
        if (client) this.#fromSlave(entry, client, packet, bytes);
      },
      toLocalSlave: (node, clientId, slaveId, bytes) => {
        const slave = this.#slaves.get(slaveId);
        if (!slave || slave.entry === null || this.#federation?.isRemote(slaveId)) return;
        const key = `${node}/${clientId}`;
        let proxy = this.#proxies.get(key);
        const type = bytes[0];
        if (!proxy) {
          // Only an offer (or the identity before it) opens a session, as for local clients.
          if (type !== PacketType.OFFER_FROM_CLIENT && type !== PacketType.CLIENT_IDENTITY) return;
          if (this.#proxies.size >= this.#limits.maxClients) return;
          const inUse = {
            has: (id: number) => this.#clients.has(id) || this.#proxyById.has(id),
            get size() {
              return 0;
            },
          };
          const id = this.#clientIds.allocate(inUse);
          proxy = { id, node, clientId, slaves: new Set() };
          this.#proxies.set(key, proxy);
          this.#proxyById.set(id, proxy);
        }
        if (type === PacketType.CLIENT_LEFT) {
          proxy.slaves.delete(slaveId);
          slave.clients.delete(proxy.id);
          if (proxy.slaves.size === 0) {
            this.#proxies.delete(key);
            this.#proxyById.delete(proxy.id);
          }
        } else if (type === PacketType.OFFER_FROM_CLIENT || type === PacketType.CLIENT_IDENTITY) {
          proxy.slaves.add(slaveId);
          slave.clients.add(proxy.id);
        } else if (!proxy.slaves.has(slaveId)) return;
        this.#send(slave, rewrite(bytes, type, proxy.id), bytes.length);
      },
      nodeGone: (node) => {
        for (const [key, proxy] of this.#proxies) {
          if (proxy.node !== node) continue;
          this.#proxies.delete(key);
          this.#proxyById.delete(proxy.id);
          const left = encodeClientLeft(proxy.id);
          for (const slaveId of proxy.slaves) {
            const slave = this.#slaves.get(slaveId);
            if (!slave?.clients.delete(proxy.id)) continue;
            this.#send(slave, left, left.length);
          }
        }
      },
    };
  }

  #onClientPacket(client: ClientEntry, packet: Packet, bytes: Uint8Array): void {
    if (!("id" in packet)) return;
    const slave = this.#slaves.get(packet.id);
    const listed = slave && slave.entry !== null;
    const l = this.#limits;
    switch (packet.type) {
      case PacketType.OFFER_TO_SLAVE: {
        const refuse = (reason: string) => {
          const reject = encodeReject(PacketType.REJECT_FROM_SLAVE, packet.id, reason);
          this.#send(client, reject, reject.length);
        };
        if (!slave || !listed) return refuse("Unknown slave");
        if (!client.offers.available()) return refuse("Too many offers");
        const now = performance.now();
        for (const [slaveId, since] of client.pending) {
          if (now - since > l.offerTimeout) client.pending.delete(slaveId);
        }
        if (!client.pending.has(slave.id) && client.pending.size >= l.maxPendingOffers) {
          return refuse("Too many pending offers");
        }
        client.offers.take();
        client.pending.set(slave.id, now);
        const session = client.sessions.get(slave.id);
        if (session) {
          // A new offer starts a new negotiation: its candidates count afresh.
          session.toSlave = 0;
          session.toClient = 0;
          session.unanswered = Math.min(session.unanswered + 1, l.maxPendingOffers);
        } else {
          slave.clients.add(client.id);
          client.sessions.set(slave.id, { toSlave: 0, toClient: 0, unanswered: 1 });
          if (client.identityJson !== null) {
            const identityPacket = encodeIdentity(client.id, client.identityJson);
            this.#send(slave, identityPacket, identityPacket.length);
          }
        }
        this.#send(slave, rewrite(bytes, PacketType.OFFER_FROM_CLIENT, client.id), bytes.length);
        return;
      }
      case PacketType.ICE_CANDIDATE_TO_SLAVE: {
        const session = slave ? client.sessions.get(slave.id) : undefined;
        if (!slave || !session) return;
        if (++session.toSlave > l.maxCandidatesPerSession) {
          this.#limitError(client, "ERR_TOO_MANY_CANDIDATES", "maxCandidatesPerSession");
          return;
        }
        this.#send(
          slave,
          rewrite(bytes, PacketType.ICE_CANDIDATE_FROM_CLIENT, client.id),
          bytes.length,
        );
        return;
      }
      case PacketType.CLOSE_TO_SLAVE:
        client.pending.delete(packet.id);
        if (slave && client.sessions.has(slave.id)) {
          this.#send(slave, rewrite(bytes, PacketType.CLOSE_FROM_CLIENT, client.id), bytes.length);
        }
        return;
    }
  }
}

function unauthorized(
  verdict: Authorization | ClientAuthorization,
  headers?: Record<string, string>,
): Response {
  const reason = typeof verdict === "string" && verdict ? verdict : "Unauthorized";
  return new Response(reason, { status: 401, headers });
}

/**
 * Makes a master without listening: mount `master.handler` into your own `Deno.serve`.
 *
 * @example
 * ```ts
 * import { createMaster } from "@netkit/realtime/webrtc";
 * const master = createMaster();
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request, info) =>
 *   (await master.handler(request, info)) ?? new Response("Not found", { status: 404 }));
 * await master.close();
 * await server.shutdown();
 * ```
 */
export function createMaster(options: MasterOptions = {}): Master {
  return new Master(options);
}

/** Options of `serveMaster()`. */
export interface ServeMasterOptions extends MasterOptions {
  /**
   * Address to listen on.
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Port; `0` picks a free one (read `addr.port`).
   * @default {8081}
   */
  port?: number;
  /** TLS certificate (PEM) for `wss://` / `https://`. */
  cert?: string;
  /** TLS key (PEM). */
  key?: string;
  /** Closes the master when aborted. */
  signal?: AbortSignal;
}

/**
 * A master listening on its own HTTP server (which answers 404 outside the master's paths).
 *
 * @example
 * ```ts
 * import { serveMaster } from "@netkit/realtime/webrtc";
 * await using master = serveMaster({ hostname: "127.0.0.1", port: 0 });
 * console.log(`ws://127.0.0.1:${master.addr.port}`);
 * ```
 */
export class MasterServer extends Master implements AsyncDisposable {
  #server: Deno.HttpServer<Deno.NetAddr>;
  #closed?: Promise<void>;

  /** @internal Use `serveMaster()`. */
  constructor(options: ServeMasterOptions) {
    super(options);
    const { hostname = "0.0.0.0", port = 8081, cert, key, signal } = options;
    const serveOptions = {
      hostname,
      port,
      onListen() {},
      ...(cert && key ? { cert, key } : {}),
    };
    this.#server = serveHttp(
      serveOptions,
      async (request, info) =>
        (await this.handler(request, info)) ?? new Response("Not found", { status: 404 }),
    );
    signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** The address the master listens on. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** Closes every signalling connection, then the HTTP server. */
  override close(): Promise<void> {
    this.#closed ??= (async () => {
      await super.close();
      await this.#server.shutdown();
    })();
    return this.#closed;
  }

  /** Closes like `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Starts a master on its own HTTP server.
 *
 * @example
 * ```ts
 * import { serveMaster } from "@netkit/realtime/webrtc";
 * const master = serveMaster({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   authorizeSlave: (authData) => authData.token === "secret" || "Bad token",
 *   authorizeClient: () => true,
 * });
 * master.addEventListener("slaveconnection", (e) => console.log("slave", e.detail.id));
 * await master.close();
 * ```
 */
export function serveMaster(options: ServeMasterOptions = {}): MasterServer {
  return new MasterServer(options);
}
