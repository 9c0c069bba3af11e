/**
 * The webrtc master: the directory of slaves and the signalling relay between clients and slaves,
 * over `websocket/`'s `handleUpgrade`. No native dependency.
 *
 * @module
 */

import { handleUpgrade } from "../websocket/mod.ts";
import type { WebSocketConnection } from "../websocket/mod.ts";
import { IdAllocator } from "./_id_allocator.ts";
import {
  CLIENT_SENDABLE,
  CLOSE_CODE_SIZE,
  CloseCode,
  decodePacket,
  encodeClientLeft,
  encodeIdentity,
  encodeReject,
  encodeRemoveSlaves,
  encodeSlaves,
  ID_SIZE,
  MAX_CLOSE_REASON_LENGTH,
  MAX_PACKET_TYPE,
  MAX_USER_DATA_LENGTH,
  type Packet,
  PacketType,
  rewrite,
  SLAVE_SENDABLE,
  TYPE_SIZE,
} from "./_protocol.ts";
import { CLIENT_JS } from "./_client_bundle.ts";

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
   * Clients at once; further clients are refused with 503.
   * @default {65536}
   */
  maxClients?: number;
  /**
   * Dead-peer detection on the signalling sockets (see `websocket/`).
   * @default {{ interval: 15000, timeout: 15000 }}
   */
  heartbeat?: { interval?: number; timeout?: number } | false;
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

interface SlaveEntry extends MasterSlave {
  readonly connection: WebSocketConnection;
  userDataJson: string | null;
  userData: unknown;
  /** Clients that offered to this slave. */
  clients: Set<number>;
}

interface ClientEntry extends MasterClient {
  readonly connection: WebSocketConnection;
  identityJson: string | null;
  offered: Set<number>;
  pending: Map<number, number>;
  tokens: number;
  refilled: number;
}

/** Parses a `Cookie` header into name → value. */
export function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      out[decodeURIComponent(name)] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}

function send(connection: WebSocketConnection, packet: Uint8Array): void {
  connection.send(packet).catch(() => {});
}

function closeWith(connection: WebSocketConnection, code: number, reason: string): void {
  connection.close(code, reason.slice(0, 100)).catch(() => {});
}

/**
 * The master: keeps every client's copy of the slave list current and relays offers, answers,
 * candidates, rejections and close reasons between clients and slaves. Mount `handler` into your
 * own `Deno.serve`, or use `serveMaster()`.
 *
 * Events: `slaveconnection` / `slavedisconnect` (`CustomEvent<MasterSlave>`), `clientconnection`
 * / `clientdisconnect` (`CustomEvent<MasterClient>`).
 *
 * @example
 * ```ts
 * import { createMaster } from "@netkit/realtime/webrtc";
 * const master = createMaster({ authorizeClient: (cookies) => cookies.session ? { user: cookies.session } : "No session" });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request, info) =>
 *   (await master.handler(request, info)) ?? new Response("my app"));
 * await master.close();
 * await server.shutdown();
 * ```
 */
export class Master extends EventTarget {
  #options: MasterOptions;
  #basePath: string;
  #slaves = new Map<number, SlaveEntry>();
  #clients = new Map<number, ClientEntry>();
  #slaveIds = new IdAllocator();
  #clientIds = new IdAllocator();
  #closing = false;

  /** @internal Use `createMaster()`. */
  constructor(options: MasterOptions = {}) {
    super();
    const { basePath = "/netkit" } = options;
    this.#options = options;
    this.#basePath = basePath.replace(/\/$/, "");
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
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Expected a WebSocket upgrade", {
        status: 426,
        headers: { upgrade: "websocket" },
      });
    }
    if (this.#closing) return new Response("Master is closing", { status: 503 });
    const cookies = parseCookies(request.headers.get("cookie"));
    let identity: unknown = undefined;
    if (role === "slave") {
      if (this.#slaves.size >= (this.#options.maxSlaves ?? 1024)) {
        return new Response("Too many slaves", { status: 503 });
      }
      const verdict = await (this.#options.authorizeSlave?.(cookies, request) ?? true);
      if (verdict !== true) return unauthorized(verdict);
    } else {
      const origin = request.headers.get("origin");
      if (origin !== null && !this.#originAllowed(origin, url)) {
        return new Response(`Origin "${origin}" is not allowed`, { status: 403 });
      }
      if (this.#clients.size >= (this.#options.maxClients ?? 65536)) {
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
      const limit = this.#options.maxIdentitySize ?? 4096;
      if (new TextEncoder().encode(identityJson).length > limit) {
        return new Response("Identity too large", { status: 500 });
      }
    }
    let upgraded: { response: Response; connection: WebSocketConnection };
    try {
      upgraded = handleUpgrade(request, {
        maxMessageSize: this.#maxMessageSize(),
        heartbeat: this.#options.heartbeat,
        remoteAddr: info?.remoteAddr?.transport === "tcp"
          ? info.remoteAddr as Deno.NetAddr
          : undefined,
      });
    } catch (error) {
      return new Response(`Bad WebSocket upgrade: ${(error as Error).message}`, { status: 400 });
    }
    const { response, connection } = upgraded;
    if (role === "slave") this.#acceptSlave(connection);
    else this.#acceptClient(connection, identity, identityJson);
    return response;
  }

  /** Closes every signalling connection with 1001. Established data channels are not affected. */
  async close(): Promise<void> {
    this.#closing = true;
    const all = [
      ...[...this.#slaves.values()].map((s) => s.connection),
      ...[...this.#clients.values()].map((c) => c.connection),
    ];
    await Promise.all(
      all.map((c) => c.close(CloseCode.GOING_AWAY, "Master closing").catch(() => {})),
    );
    await Promise.all(all.map((c) => c.closed));
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
    const o = this.#options;
    return Math.max(
      TYPE_SIZE + ID_SIZE + (o.maxSdpSize ?? 16384),
      TYPE_SIZE + Math.min(o.maxUserDataSize ?? MAX_USER_DATA_LENGTH, MAX_USER_DATA_LENGTH),
      TYPE_SIZE + ID_SIZE + (o.maxCandidateSize ?? 1024),
    );
  }

  /** The size limit of one packet type from a peer, in bytes. */
  #limitOf(type: number): number {
    const o = this.#options;
    switch (type) {
      case PacketType.REGISTER:
      case PacketType.UPDATE_USER_DATA:
        return TYPE_SIZE +
          Math.min(o.maxUserDataSize ?? MAX_USER_DATA_LENGTH, MAX_USER_DATA_LENGTH);
      case PacketType.OFFER_TO_SLAVE:
      case PacketType.ANSWER_TO_CLIENT:
        return TYPE_SIZE + ID_SIZE + (o.maxSdpSize ?? 16384);
      case PacketType.ICE_CANDIDATE_TO_SLAVE:
      case PacketType.ICE_CANDIDATE_TO_CLIENT:
        return TYPE_SIZE + ID_SIZE + (o.maxCandidateSize ?? 1024);
      case PacketType.REJECT_TO_CLIENT:
        return TYPE_SIZE + ID_SIZE + 1024;
      default:
        return TYPE_SIZE + ID_SIZE + CLOSE_CODE_SIZE + MAX_CLOSE_REASON_LENGTH;
    }
  }

  /**
   * Reads a peer's packets with every check the role calls for. Returns when the connection ends.
   */
  async #pump(
    connection: WebSocketConnection,
    allowed: ReadonlySet<number>,
    onPacket: (packet: Packet, bytes: Uint8Array) => void,
  ): Promise<void> {
    try {
      for await (const message of connection.readable) {
        if (typeof message === "string") {
          closeWith(connection, CloseCode.PROTOCOL_ERROR, "Text messages are not used");
          break;
        }
        if (message.length === 0) {
          closeWith(connection, CloseCode.PROTOCOL_ERROR, "Empty packet");
          break;
        }
        const type = message[0];
        if (type > MAX_PACKET_TYPE) {
          closeWith(connection, CloseCode.PROTOCOL_ERROR, `Unknown packet type "${type}"`);
          break;
        }
        if (!allowed.has(type)) {
          closeWith(connection, CloseCode.POLICY_VIOLATION, `Packet type "${type}" not allowed`);
          break;
        }
        const limit = this.#limitOf(type);
        if (message.length > limit) {
          closeWith(
            connection,
            CloseCode.MESSAGE_TOO_BIG,
            `Packet type "${type}" is ${message.length} bytes; limit "${limit}"`,
          );
          break;
        }
        let packet: Packet;
        try {
          packet = decodePacket(message);
        } catch (error) {
          closeWith(connection, CloseCode.PROTOCOL_ERROR, (error as Error).message);
          break;
        }
        onPacket(packet, message);
      }
    } catch {
      // The connection failed; the close handling below runs either way.
    }
  }

  #acceptSlave(connection: WebSocketConnection): void {
    const id = this.#slaveIds.allocate(this.#slaves);
    const entry: SlaveEntry = {
      id,
      connection,
      userData: undefined,
      userDataJson: null,
      clients: new Set(),
    };
    this.#slaves.set(id, entry);
    (async () => {
      await this.#pump(connection, SLAVE_SENDABLE, (packet, bytes) => {
        if (!this.#onSlavePacket(entry, packet, bytes)) {
          closeWith(connection, CloseCode.POLICY_VIOLATION, "Register first");
        }
      });
      await connection.closed;
      this.#slaves.delete(id);
      if (entry.userDataJson !== null) {
        const removal = encodeRemoveSlaves([id]);
        for (const client of this.#clients.values()) {
          client.offered.delete(id);
          client.pending.delete(id);
          send(client.connection, removal);
        }
        this.dispatchEvent(new CustomEvent("slavedisconnect", { detail: entry }));
      }
    })();
  }

  #acceptClient(
    connection: WebSocketConnection,
    identity: unknown,
    identityJson: string | null,
  ): void {
    const id = this.#clientIds.allocate(this.#clients);
    const entry: ClientEntry = {
      id,
      connection,
      identity,
      identityJson,
      offered: new Set(),
      pending: new Map(),
      tokens: this.#options.maxOffersPerSecond ?? 10,
      refilled: performance.now(),
    };
    this.#clients.set(id, entry);
    // The first packet is always the list of registered slaves (possibly empty); slaves still
    // registering are not listed (enslavism crashed on them).
    const listed = [...this.#slaves.values()]
      .filter((s) => s.userDataJson !== null)
      .map((s) => ({ id: s.id, userData: s.userDataJson! }));
    send(connection, encodeSlaves(PacketType.ADD_SLAVES, listed));
    this.dispatchEvent(new CustomEvent("clientconnection", { detail: entry }));
    (async () => {
      await this.#pump(connection, CLIENT_SENDABLE, (packet, bytes) => {
        this.#onClientPacket(entry, packet, bytes);
      });
      await connection.closed;
      this.#clients.delete(id);
      const left = encodeClientLeft(id);
      for (const slaveId of entry.offered) {
        const slave = this.#slaves.get(slaveId);
        if (!slave) continue;
        slave.clients.delete(id);
        send(slave.connection, left);
      }
      this.dispatchEvent(new CustomEvent("clientdisconnect", { detail: entry }));
    })();
  }

  /** Returns false when the slave broke the register-first rule. */
  #onSlavePacket(slave: SlaveEntry, packet: Packet, bytes: Uint8Array): boolean {
    if (packet.type === PacketType.REGISTER || packet.type === PacketType.UPDATE_USER_DATA) {
      const first = slave.userDataJson === null;
      if (first && packet.type === PacketType.UPDATE_USER_DATA) return false;
      slave.userDataJson = packet.userData;
      slave.userData = JSON.parse(packet.userData);
      const wire = { id: slave.id, userData: packet.userData };
      const out = first
        ? encodeSlaves(PacketType.ADD_SLAVES, [wire])
        : encodeSlaves(PacketType.UPDATE_SLAVE, [wire]);
      for (const client of this.#clients.values()) send(client.connection, out);
      if (first) this.dispatchEvent(new CustomEvent("slaveconnection", { detail: slave }));
      return true;
    }
    if (slave.userDataJson === null) return false;
    if (!("id" in packet)) return true;
    const client = this.#clients.get(packet.id);
    // Slaves may only address clients that offered to them; anything else is dropped.
    if (!client || !slave.clients.has(client.id)) return true;
    switch (packet.type) {
      case PacketType.ANSWER_TO_CLIENT:
        client.pending.delete(slave.id);
        send(client.connection, rewrite(bytes, PacketType.ANSWER_FROM_SLAVE, slave.id));
        break;
      case PacketType.ICE_CANDIDATE_TO_CLIENT:
        send(client.connection, rewrite(bytes, PacketType.ICE_CANDIDATE_FROM_SLAVE, slave.id));
        break;
      case PacketType.REJECT_TO_CLIENT:
        client.pending.delete(slave.id);
        send(client.connection, rewrite(bytes, PacketType.REJECT_FROM_SLAVE, slave.id));
        break;
      case PacketType.CLOSE_TO_CLIENT:
        client.pending.delete(slave.id);
        send(client.connection, rewrite(bytes, PacketType.CLOSE_FROM_SLAVE, slave.id));
        break;
    }
    return true;
  }

  #onClientPacket(client: ClientEntry, packet: Packet, bytes: Uint8Array): void {
    if (!("id" in packet)) return;
    const slave = this.#slaves.get(packet.id);
    const listed = slave && slave.userDataJson !== null;
    switch (packet.type) {
      case PacketType.OFFER_TO_SLAVE: {
        const refuse = (reason: string) =>
          send(client.connection, encodeReject(PacketType.REJECT_FROM_SLAVE, packet.id, reason));
        if (!slave || !listed) return refuse("Unknown slave");
        const now = performance.now();
        const rate = this.#options.maxOffersPerSecond ?? 10;
        client.tokens = Math.min(rate, client.tokens + (now - client.refilled) * rate / 1000);
        client.refilled = now;
        if (client.tokens < 1) return refuse("Too many offers");
        const timeout = this.#options.offerTimeout ?? 10_000;
        for (const [slaveId, since] of client.pending) {
          if (now - since > timeout) client.pending.delete(slaveId);
        }
        if (
          !client.pending.has(slave.id) &&
          client.pending.size >= (this.#options.maxPendingOffers ?? 4)
        ) return refuse("Too many pending offers");
        client.tokens -= 1;
        client.pending.set(slave.id, now);
        if (!slave.clients.has(client.id)) {
          slave.clients.add(client.id);
          client.offered.add(slave.id);
          if (client.identityJson !== null) {
            send(slave.connection, encodeIdentity(client.id, client.identityJson));
          }
        }
        send(slave.connection, rewrite(bytes, PacketType.OFFER_FROM_CLIENT, client.id));
        return;
      }
      case PacketType.ICE_CANDIDATE_TO_SLAVE:
        if (slave && client.offered.has(slave.id)) {
          send(slave.connection, rewrite(bytes, PacketType.ICE_CANDIDATE_FROM_CLIENT, client.id));
        }
        return;
      case PacketType.CLOSE_TO_SLAVE:
        client.pending.delete(packet.id);
        if (slave && client.offered.has(slave.id)) {
          send(slave.connection, rewrite(bytes, PacketType.CLOSE_FROM_CLIENT, client.id));
        }
        return;
    }
  }
}

function unauthorized(verdict: Authorization | ClientAuthorization): Response {
  const reason = typeof verdict === "string" && verdict ? verdict : "Unauthorized";
  return new Response(reason, { status: 401 });
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
    this.#server = Deno.serve(
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
