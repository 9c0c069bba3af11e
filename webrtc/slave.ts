/**
 * The webrtc slave: a server-side WebRTC peer (on `npm:node-datachannel`) that registers at a
 * master, answers the offers of the clients that choose it, and receives their data channels.
 *
 * This entry point loads native code; it needs `--allow-ffi` (plus `--allow-net`, `--allow-env`,
 * `--allow-read`, `--allow-sys`). The root module never imports it.
 *
 * @example
 * ```ts
 * import { connectSlave } from "@netkit/realtime/webrtc/slave";
 * const slave = await connectSlave("ws://127.0.0.1:8081", { userData: { name: "eu-1" } });
 * slave.addEventListener("offer", (e) => { if (slave.connections.size > 100) e.preventDefault(); });
 * for await (const client of slave) {
 *   client.addEventListener("datachannel", (e) => {
 *     const channel = e.detail;
 *     channel.addEventListener("message", (m) => channel.send(m.data)); // echo
 *   });
 * }
 * ```
 *
 * @module
 */

import ndc from "node-datachannel";
import { connect, type WebSocketConnection } from "../websocket/mod.ts";
import {
  CloseCode,
  CONTROL_CHANNEL_PROTOCOL,
  decodeControlClose,
  decodePacket,
  encodeCandidate,
  encodeClose,
  encodeControlClose,
  encodeReject,
  encodeSdp,
  encodeUserData,
  MAX_CLOSE_REASON_LENGTH,
  MAX_USER_DATA_LENGTH,
  type Packet,
  PacketType,
  type WireCandidate,
} from "./_protocol.ts";
import {
  type ChannelTransport,
  DataChannel,
  type DataChannelOptions,
  type Message,
} from "./data_channel.ts";
import { WebRtcTypeError } from "./errors.ts";
import { connectionClosed, tooLarge } from "./_errors.ts";
import type { IceServer } from "./rtc_types.ts";
import { reconnectDelay } from "./_backoff.ts";
import { type TypedEventListener, TypedEventTarget } from "../_common/typed_event_target.ts";
import { truncateUtf8 } from "../_common/utf8.ts";
import { clientConnectionInternals, dataChannelInternals, slaveInternals } from "./_internal.ts";

export { DataChannel } from "./data_channel.ts";
export type { DataChannelOptions, DataChannelState, Message } from "./data_channel.ts";
export type { DataChannelEventMap } from "./data_channel.ts";
export { TypedEventTarget } from "../_common/typed_event_target.ts";
export type { TypedEventListener } from "../_common/typed_event_target.ts";
export { WebRtcError, WebRtcRangeError, WebRtcSyntaxError, WebRtcTypeError } from "./errors.ts";
export type { WebRtcErrorCode, WebRtcErrorOptions } from "./errors.ts";
export type { IceServer } from "./rtc_types.ts";

/** Log levels of libdatachannel. */
export type LogLevel = "Verbose" | "Debug" | "Info" | "Warning" | "Error" | "Fatal";

/** Options of `connectSlave()`. */
export interface ConnectSlaveOptions {
  /**
   * Public data every client sees in its slave list (JSON, at most 65535 bytes encoded).
   * @default {{}}
   */
  userData?: unknown;
  /** Sent as the `Cookie` header of the upgrade; the master's `authorizeSlave` sees it. */
  authData?: Record<string, string>;
  /**
   * Engine of the signalling WebSocket (see `websocket/`). `"rfc6455"` sets `TCP_NODELAY` and
   * pings the master every 5 s.
   * @default {"rfc6455"}
   */
  signallingEngine?: "native" | "rfc6455";
  /** Extra headers on the upgrade request. */
  headers?: Record<string, string>;
  /**
   * Path prefix of the master's endpoints.
   * @default {"/netkit"}
   */
  basePath?: string;
  /**
   * STUN/TURN servers.
   * @default {[]}
   */
  iceServers?: IceServer[];
  /** Restrict the UDP ports of peer connections (e.g. for a firewall or container). */
  portRange?: { min: number; max: number };
  /**
   * Multiplex every peer on one UDP port (libjuice mux mode; give `portRange` one port).
   * @default {false}
   */
  enableIceUdpMux?: boolean;
  /** Local address to gather candidates on (e.g. "127.0.0.1" on loopback-only hosts). */
  bindAddress?: string;
  /**
   * Peer connections at once; further offers are rejected with reason "Slave is full".
   * @default {256}
   */
  maxConnections?: number;
  /**
   * Milliseconds an accepted offer may take to connect before it is dropped.
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * Reconnect to the master with exponential backoff; `false` to close instead.
   * @default {{ initialDelay: 250, maxDelay: 5000 }}
   */
  reconnect?: false | { initialDelay?: number; maxDelay?: number };
  /** Options applied to every incoming `DataChannel` (water marks, receive buffer). */
  channelOptions?: DataChannelOptions;
  /** libdatachannel log level (logged to `console.error`); unset = silent. */
  logLevel?: LogLevel;
  /** Closes the slave when aborted. */
  signal?: AbortSignal;
}

/**
 * Dispatched for every offer before it is answered. Cancel it (`preventDefault()`, or `reject()`
 * with a reason) to refuse the client: it gets `rejected`.
 *
 * @example
 * ```ts
 * import { connectSlave } from "@netkit/realtime/webrtc/slave";
 * const slave = await connectSlave("ws://127.0.0.1:8081", { userData: { name: "eu-1" } });
 * slave.addEventListener("offer", (e) => {
 *   if (e.identity?.banned) e.reject("Banned");
 * });
 * ```
 */
export class OfferEvent extends Event {
  /** The client's id at the master. */
  readonly clientId: number;
  /** What the master's `authorizeClient` returned for this client (undefined for `true`). */
  // deno-lint-ignore no-explicit-any
  readonly identity: any;
  /** Reason sent with a rejection. */
  reason = "Rejected by slave";
  /** @internal */
  constructor(clientId: number, identity: unknown) {
    super("offer", { cancelable: true });
    this.clientId = clientId;
    this.identity = identity;
  }
  /** Refuses the offer with a reason. */
  reject(reason = "Rejected by slave"): void {
    this.reason = reason;
    this.preventDefault();
  }
}

function iceServerUrls(servers: IceServer[]): string[] {
  const out: string[] = [];
  for (const server of servers) {
    for (const url of Array.isArray(server.urls) ? server.urls : [server.urls]) {
      const match = /^(turns?):(.*)$/.exec(url);
      if (match && server.username !== undefined) {
        const user = encodeURIComponent(server.username);
        const pass = encodeURIComponent(server.credential ?? "");
        out.push(`${match[1]}:${user}:${pass}@${match[2]}`);
      } else out.push(url);
    }
  }
  return out;
}

let loggerSet = false;

/**
 * Connects a slave to a master, registers its `userData`, and resolves once registered.
 * Rejects with `WebRtcError` (`ERR_CONNECTION_CLOSED`) when the master refuses or cannot be
 * reached; a refusal carries the HTTP `status` (401 from `authorizeSlave`) and its `reason`.
 *
 * Given several URLs (masters sharing a `cluster`, which list one another's slaves), it
 * registers at the first that answers, and after a lost link reconnects to the next one in turn;
 * it rejects only when none answers.
 *
 * @example
 * ```ts
 * import { connectSlave } from "@netkit/realtime/webrtc/slave";
 * await using slave = await connectSlave("ws://127.0.0.1:8081", {
 *   userData: { name: "eu-1" },
 *   authData: { token: "secret" },
 *   bindAddress: "127.0.0.1",
 * });
 * slave.userData = { name: "eu-1", players: 12 }; // pushed to every client
 * ```
 */
export async function connectSlave(
  url: string | URL | readonly (string | URL)[],
  options: ConnectSlaveOptions = {},
): Promise<Slave> {
  const slave = new Slave(url, options);
  try {
    await slaveInternals.registered(slave);
  } catch (error) {
    await slave.close();
    throw error;
  }
  return slave;
}

/**
 * The events of a {@linkcode Slave}.
 *
 * @example
 * ```ts
 * import { connectSlave, type SlaveEventMap } from "@netkit/realtime/webrtc/slave";
 * const slave = await connectSlave("ws://127.0.0.1:8081", { userData: { name: "eu-1" } });
 * const onConnection = (e: SlaveEventMap["connection"]) => console.log("client", e.detail.id);
 * slave.addEventListener("connection", onConnection);
 * slave.addEventListener("offer", (e) => console.log("offer from", e.clientId));
 * slave.addEventListener("disconnect", (e) => console.log("lost the master:", e.detail.code));
 * slave.removeEventListener("connection", onConnection);
 * ```
 */
export interface SlaveEventMap {
  /** A client's offer, before it is answered; cancel it to refuse the client. */
  offer: OfferEvent;
  /** An accepted client connection (also yielded by `for await`). */
  connection: CustomEvent<ClientConnection>;
  /** The signalling connection to the master was lost (the close code). */
  disconnect: CustomEvent<{ code: number }>;
  /** The slave registered at the master again after a disconnect. */
  reconnect: Event;
  /** The slave is closed for good. */
  close: Event;
}

/**
 * A slave registered at a master. Iterate it (`for await`) to receive each accepted
 * `ClientConnection`.
 *
 * Events: `offer` (`OfferEvent`, cancelable), `connection` (`CustomEvent<ClientConnection>`),
 * `disconnect`, `reconnect`, `close`.
 *
 * @example
 * ```ts
 * import { connectSlave } from "@netkit/realtime/webrtc/slave";
 * const slave = await connectSlave("ws://127.0.0.1:8081", { userData: { name: "eu-1" } });
 * for await (const client of slave) console.log("client", client.id, client.identity);
 * ```
 */
export class Slave extends TypedEventTarget<SlaveEventMap>
  implements AsyncIterable<ClientConnection> {
  #url: string;
  /** Every master URL given; a lost link reconnects to the next one. */
  #urls: string[];
  #urlIndex = 0;
  /** Masters tried before the first registration. */
  #tried = 0;
  #options: ConnectSlaveOptions;
  #userDataJson: string;
  #socket?: WebSocketConnection;
  #closed = false;
  #attempt = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #registered = Promise.withResolvers<void>();
  #closedPromise = Promise.withResolvers<void>();
  #connections = new Set<ClientConnection>();
  /** Native teardowns of connections that already ended; close() waits for them too. */
  #teardowns = new Set<Promise<void>>();
  /** Connections that can still be signalled, by client id (this master session only). */
  #byClientId = new Map<number, ClientConnection>();
  #identities = new Map<number, unknown>();
  #queue: ClientConnection[] = [];
  #waiters: Array<(result: IteratorResult<ClientConnection>) => void> = [];
  #online = false;

  /** @internal Use `connectSlave()`. */
  constructor(url: string | URL | readonly (string | URL)[], options: ConnectSlaveOptions) {
    super();
    const { basePath = "/netkit", userData = {}, logLevel, signal } = options;
    const urls = Array.isArray(url) ? url : [url as string | URL];
    if (urls.length === 0) {
      throw new WebRtcTypeError("ERR_INVALID_URL", "connectSlave() needs at least one master URL");
    }
    this.#urls = urls.map((one) => {
      const target = new URL(one);
      target.pathname = target.pathname.replace(/\/$/, "") + basePath + "/slaves";
      return target.href;
    });
    this.#url = this.#urls[0];
    this.#options = options;
    this.#userDataJson = Slave.#encodeUserData(userData);
    this.#registered.promise.catch(() => {});
    if (logLevel && !loggerSet) {
      loggerSet = true;
      // Without a callback initLogger throws in Deno.
      ndc.initLogger(logLevel, (level, message) => console.error(`[ndc ${level}] ${message}`));
    }
    signal?.addEventListener("abort", () => this.close(), { once: true });
    this.#open();
  }

  static #encodeUserData(userData: unknown): string {
    const json = JSON.stringify(userData ?? {});
    const size = new TextEncoder().encode(json).length;
    if (size > MAX_USER_DATA_LENGTH) {
      throw tooLarge(size, MAX_USER_DATA_LENGTH, "UserData");
    }
    return json;
  }

  static {
    slaveInternals.registered = (slave) => slave.#registered.promise;
    slaveInternals.options = (slave) => slave.#options;
    slaveInternals.send = (slave, packet) => slave.#send(packet);
    slaveInternals.forget = (slave, conn) => slave.#forget(conn);
    slaveInternals.signalling = (slave, conn) => slave.#signalling(conn);
  }

  /** This slave's public data. Setting it pushes the update to every client. */
  // deno-lint-ignore no-explicit-any
  get userData(): any {
    return JSON.parse(this.#userDataJson);
  }
  set userData(value: unknown) {
    this.#userDataJson = Slave.#encodeUserData(value);
    this.#send(encodeUserData(PacketType.UPDATE_USER_DATA, this.#userDataJson));
  }

  /** Open (or opening) client connections. Closed ones are removed. */
  get connections(): ReadonlySet<ClientConnection> {
    return this.#connections;
  }

  /** Whether the signalling link to the master is up. */
  get online(): boolean {
    return this.#online;
  }

  /** Resolves when the slave has closed. */
  get closed(): Promise<void> {
    return this.#closedPromise.promise;
  }

  /** Unregisters from the master and closes every client connection. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      clearTimeout(this.#timer);
      this.#registered.reject(connectionClosed("Slave closed", { closeCode: CloseCode.NORMAL }));
      const socket = this.#socket;
      this.#socket = undefined;
      const conns = [...this.#connections];
      for (const conn of conns) conn.close(CloseCode.GOING_AWAY, "Slave closed");
      const teardown = Promise.all([
        ...conns.map((c) => clientConnectionInternals.teardown(c)),
        ...this.#teardowns,
      ]);
      const socketClosed = socket ? socket.close(1000).catch(() => {}) : Promise.resolve();
      Promise.all([socketClosed, teardown]).then(() => this.#closedPromise.resolve());
      for (const resolve of this.#waiters) resolve({ value: undefined, done: true });
      this.#waiters = [];
      this.#closedPromise.promise.then(() => this.dispatchEvent(new Event("close")));
    }
    return this.#closedPromise.promise;
  }

  /** Closes like `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Yields each accepted client connection. */
  [Symbol.asyncIterator](): AsyncIterator<ClientConnection> {
    return {
      next: () => {
        const value = this.#queue.shift();
        if (value) return Promise.resolve({ value, done: false });
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }

  #forget(conn: ClientConnection): void {
    this.#connections.delete(conn);
    const teardown = clientConnectionInternals.teardown(conn);
    this.#teardowns.add(teardown);
    teardown.then(() => this.#teardowns.delete(teardown));
    if (this.#byClientId.get(conn.id) === conn) this.#byClientId.delete(conn.id);
    const index = this.#queue.indexOf(conn);
    if (index >= 0) this.#queue.splice(index, 1);
  }

  #signalling(conn: ClientConnection): boolean {
    return this.#byClientId.get(conn.id) === conn && this.#online;
  }

  #send(packet: Uint8Array): boolean {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) return false;
    socket.send(packet).catch(() => {});
    return true;
  }

  #open(): void {
    const headers: Record<string, string> = { ...this.#options.headers };
    const { authData, signallingEngine = "rfc6455" } = this.#options;
    if (authData) {
      headers.cookie = Object.entries(authData)
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
        .join("; ");
    }
    // Our RFC 6455 engine sets TCP_NODELAY (Deno's built-in client does not: back-to-back
    // packets such as an answer and its candidates would wait ~40 ms for an ACK) and pings the
    // master, so a dead master is noticed.
    const heartbeat = signallingEngine === "rfc6455" ? { interval: 5000, timeout: 5000 } : false;
    connect(this.#url, { engine: signallingEngine, headers, heartbeat, maxMessageSize: 1 << 20 })
      .then((socket) => this.#onOpen(socket))
      .catch((error) => this.#onDown(undefined, 1006, String(error?.message ?? error), error));
  }

  #onOpen(socket: WebSocketConnection): void {
    if (this.#closed) {
      socket.close(1000).catch(() => {});
      return;
    }
    this.#socket = socket;
    this.#online = true;
    this.#send(encodeUserData(PacketType.REGISTER, this.#userDataJson));
    if (this.#attempt > 0) this.dispatchEvent(new Event("reconnect"));
    this.#attempt = 0;
    this.#registered.resolve();
    (async () => {
      try {
        for await (const message of socket.readable) {
          if (typeof message === "string") {
            await socket.close(CloseCode.PROTOCOL_ERROR, "Text frames are not used");
            break;
          }
          let packet: Packet;
          try {
            packet = decodePacket(message);
          } catch (error) {
            await socket.close(
              CloseCode.PROTOCOL_ERROR,
              String((error as Error).message).slice(0, 120),
            );
            break;
          }
          this.#onPacket(packet);
        }
      } catch { /* the link failed; closed settles below */ }
    })();
    socket.closed.then(({ code, reason }) => this.#onDown(socket, code, reason));
  }

  #onDown(
    socket: WebSocketConnection | undefined,
    code: number,
    reason: string,
    failure?: { status?: unknown; body?: unknown },
  ): void {
    if (socket && this.#socket !== socket) return;
    this.#socket = undefined;
    const wasOnline = this.#online;
    this.#online = false;
    // Old client ids mean nothing at a restarted master: connections lose their signalling.
    for (const conn of this.#byClientId.values()) clientConnectionInternals.detach(conn);
    this.#byClientId.clear();
    this.#identities.clear();
    if (this.#closed) return;
    if (!wasOnline && this.#attempt === 0 && ++this.#tried < this.#urls.length) {
      // Not registered yet: try the next master at once.
      this.#url = this.#urls[++this.#urlIndex % this.#urls.length];
      this.#open();
      return;
    }
    if (!wasOnline && this.#attempt === 0) {
      // A refused upgrade: the websocket client's error has the HTTP status and body.
      const status = typeof failure?.status === "number" ? failure.status : undefined;
      const body = typeof failure?.body === "string" ? failure.body : reason;
      this.#registered.reject(
        status === undefined
          ? connectionClosed(`Master at "${this.#url}" refused or is unreachable: ${reason}`, {
            closeCode: code,
            reason,
            cause: failure,
          })
          : connectionClosed(
            `Master at "${this.#url}" refused the connection (${status}: ${body})`,
            {
              closeCode: code,
              reason: body,
              status,
              cause: failure,
            },
          ),
      );
      this.close();
      return;
    }
    if (wasOnline) this.dispatchEvent(new CustomEvent("disconnect", { detail: { code } }));
    const { reconnect = {} } = this.#options;
    if (reconnect === false) {
      this.close();
      return;
    }
    // With several masters each attempt goes to the next one (they share one slave list).
    if (this.#urls.length > 1) this.#url = this.#urls[++this.#urlIndex % this.#urls.length];
    this.#timer = setTimeout(() => this.#open(), reconnectDelay(this.#attempt++, reconnect));
  }

  #onPacket(packet: Packet): void {
    switch (packet.type) {
      case PacketType.CLIENT_IDENTITY:
        if (this.#identities.size < 65536) {
          this.#identities.set(packet.id, JSON.parse(packet.identity));
        }
        return;
      case PacketType.OFFER_FROM_CLIENT:
        this.#onOffer(packet.id, packet.sdp);
        return;
      case PacketType.ICE_CANDIDATE_FROM_CLIENT: {
        const conn = this.#byClientId.get(packet.id);
        if (conn) clientConnectionInternals.onCandidate(conn, packet.candidate);
        return;
      }
      case PacketType.CLIENT_LEFT: {
        this.#identities.delete(packet.id);
        const conn = this.#byClientId.get(packet.id);
        if (conn) {
          this.#byClientId.delete(packet.id);
          clientConnectionInternals.detach(conn);
        }
        return;
      }
      case PacketType.CLOSE_FROM_CLIENT: {
        const conn = this.#byClientId.get(packet.id);
        if (conn) clientConnectionInternals.onRemoteClose(conn, packet.code, packet.reason);
        return;
      }
      default:
        this.#socket?.close(CloseCode.POLICY_VIOLATION, `Unexpected packet type "${packet.type}"`)
          .catch(() => {});
    }
  }

  #onOffer(clientId: number, sdp: string): void {
    const existing = this.#byClientId.get(clientId);
    if (existing) {
      clientConnectionInternals.applyOffer(existing, sdp);
      return;
    }
    const { maxConnections = 256 } = this.#options;
    if (this.#connections.size >= maxConnections) {
      this.#send(encodeReject(PacketType.REJECT_TO_CLIENT, clientId, "Slave is full"));
      return;
    }
    const event = new OfferEvent(clientId, this.#identities.get(clientId));
    this.dispatchEvent(event);
    if (event.defaultPrevented) {
      this.#send(
        encodeReject(PacketType.REJECT_TO_CLIENT, clientId, event.reason.slice(0, 1024)),
      );
      return;
    }
    const conn = new ClientConnection(this, clientId, event.identity);
    this.#connections.add(conn);
    this.#byClientId.set(clientId, conn);
    if (!clientConnectionInternals.applyOffer(conn, sdp)) return;
    this.dispatchEvent(new CustomEvent("connection", { detail: conn }));
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: conn, done: false });
    else this.#queue.push(conn);
  }
}

/** States of a `ClientConnection`. */
export type ClientConnectionState = "connecting" | "connected" | "closed";

/**
 * The events of a {@linkcode ClientConnection}.
 *
 * @example
 * ```ts
 * import { connectSlave, type ClientConnectionEventMap } from "@netkit/realtime/webrtc/slave";
 * const slave = await connectSlave("ws://127.0.0.1:8081", { userData: { name: "eu-1" } });
 * const onChannel = (e: ClientConnectionEventMap["datachannel"]) => console.log(e.detail.label);
 * for await (const client of slave) client.addEventListener("datachannel", onChannel);
 * ```
 */
export interface ClientConnectionEventMap {
  /** A data channel the client opened (or had opened before the first listener). */
  datachannel: CustomEvent<DataChannel>;
  /** The peer connection is established. */
  connected: Event;
  /** The connection closed, with the close code and reason. */
  close: CustomEvent<{ code: number; reason: string }>;
}

/**
 * One client's peer connection at a slave. Its data channels arrive as `datachannel` events
 * (`CustomEvent<DataChannel>`); channels that arrive before any listener is added are held and
 * dispatched to the first listener.
 *
 * Events: `datachannel`, `connected`, `close` (`CustomEvent<{ code, reason }>`).
 *
 * @example
 * ```ts
 * import { connectSlave } from "@netkit/realtime/webrtc/slave";
 * const slave = await connectSlave("ws://127.0.0.1:8081", { userData: { name: "eu-1" } });
 * for await (const client of slave) {
 *   client.addEventListener("datachannel", async (e) => {
 *     for await (const message of e.detail.readable) console.log(client.id, message);
 *   });
 * }
 * ```
 */
export class ClientConnection extends TypedEventTarget<ClientConnectionEventMap> {
  #slave: Slave;
  #pc?: ndc.PeerConnection;
  #state: ClientConnectionState = "connecting";
  #channels = new Set<DataChannel>();
  #held: DataChannel[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  #closed = Promise.withResolvers<{ code: number; reason: string }>();
  #teardown = Promise.withResolvers<void>();
  #opened = Promise.withResolvers<void>();
  /** The client's id at the master. */
  readonly id: number;
  /** What the master's `authorizeClient` returned for this client. */
  // deno-lint-ignore no-explicit-any
  readonly identity: any;

  /** @internal */
  constructor(slave: Slave, id: number, identity: unknown) {
    super();
    this.#slave = slave;
    this.id = id;
    this.identity = identity;
    this.#opened.promise.catch(() => {});
  }

  /** The slave this connection belongs to. */
  get slave(): Slave {
    return this.#slave;
  }
  /** `connecting`, `connected` or `closed`. */
  get state(): ClientConnectionState {
    return this.#state;
  }
  /** Open data channels. */
  get dataChannels(): DataChannel[] {
    return [...this.#channels];
  }
  /** Resolves when the peer connection is up; rejects if it closes first. */
  get opened(): Promise<void> {
    return this.#opened.promise;
  }
  /** Resolves with the close code and reason. */
  get closed(): Promise<{ code: number; reason: string }> {
    return this.#closed.promise;
  }

  /**
   * Adds a listener; the first `datachannel` listener also gets the channels held so far.
   *
   * @example
   * ```ts
   * import { connectSlave } from "@netkit/realtime/webrtc/slave";
   * await using slave = await connectSlave("ws://127.0.0.1:8081");
   * for await (const client of slave) {
   *   client.addEventListener("datachannel", (e) => e.detail.send("welcome"));
   *   client.addEventListener("close", (e) => console.log(e.detail.code, e.detail.reason));
   * }
   * ```
   */
  override addEventListener<K extends keyof ClientConnectionEventMap & string>(
    type: K,
    listener: TypedEventListener<ClientConnectionEventMap[K]> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Untyped form, for any other event type. */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    // deno-lint-ignore no-explicit-any
    listener: any,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
    if (type === "datachannel") this.#listenerAdded = true;
    if (type === "datachannel" && this.#held.length) {
      const held = this.#held;
      this.#held = [];
      queueMicrotask(() => {
        for (const ch of held) this.dispatchEvent(new CustomEvent("datachannel", { detail: ch }));
      });
    }
  }

  /** Closes the peer connection, telling the client why (when signalling still allows). */
  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (this.#state === "closed") return;
    reason = truncateUtf8(reason, MAX_CLOSE_REASON_LENGTH);
    if (slaveInternals.signalling(this.#slave, this)) {
      slaveInternals.send(
        this.#slave,
        encodeClose(PacketType.CLOSE_TO_CLIENT, this.id, code, reason),
      );
    }
    this.#end(code, reason, true);
  }

  /** Closes like `close()` and waits until the native peer connection is released. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#teardown.promise;
  }

  static {
    clientConnectionInternals.teardown = (conn) => conn.#teardown.promise;
    clientConnectionInternals.applyOffer = (conn, sdp) => conn.#applyOffer(sdp);
    clientConnectionInternals.onCandidate = (conn, candidate) => conn.#onCandidate(candidate);
    clientConnectionInternals.onRemoteClose = (conn, code, reason) =>
      conn.#onRemoteClose(code, reason);
    clientConnectionInternals.detach = (conn) => conn.#detach();
  }

  /** Returns false if the offer could not be applied (connection closed). */
  #applyOffer(sdp: string): boolean {
    if (this.#state === "closed") return false;
    try {
      if (!this.#pc) this.#createPeer();
      this.#pc!.setRemoteDescription(sdp, "offer");
      return true;
    } catch (error) {
      slaveInternals.send(
        this.#slave,
        encodeReject(PacketType.REJECT_TO_CLIENT, this.id, "Invalid offer"),
      );
      this.#end(CloseCode.PROTOCOL_ERROR, `Invalid offer: ${(error as Error).message}`);
      return false;
    }
  }

  #onCandidate(candidate: WireCandidate | null): void {
    if (!candidate || !this.#pc || this.#state === "closed") return;
    const { bindAddress } = slaveInternals.options(this.#slave);
    if (
      bindAddress && isLoopback(bindAddress) && !isLoopback(candidateAddress(candidate.candidate))
    ) {
      // Bound to loopback: other addresses are unreachable, so no checks are sent to them.
      return;
    }
    try {
      this.#pc.addRemoteCandidate(candidate.candidate, candidate.sdpMid ?? "0");
    } catch {
      // A candidate libjuice cannot use (mDNS .local, unknown mid) is not fatal.
    }
  }

  #onRemoteClose(code: number, reason: string): void {
    this.#end(code, reason);
  }

  /** The signalling link went away (client left or master lost). */
  #detach(): void {
    if (this.#state === "connecting") this.#end(CloseCode.GOING_AWAY, "Signalling lost");
  }

  #createPeer(): void {
    const {
      iceServers = [],
      portRange,
      enableIceUdpMux,
      bindAddress,
      connectTimeout = 10_000,
      channelOptions,
    } = slaveInternals.options(this.#slave);
    const config: ndc.RtcConfig = { iceServers: iceServerUrls(iceServers) };
    if (portRange) {
      config.portRangeBegin = portRange.min;
      config.portRangeEnd = portRange.max;
    }
    if (enableIceUdpMux) config.enableIceUdpMux = true;
    if (bindAddress) config.bindAddress = bindAddress;
    const pc = new ndc.PeerConnection(`client-${this.id}`, config);
    this.#pc = pc;
    this.#timer = setTimeout(() => {
      if (this.#state === "connecting") this.close(CloseCode.GOING_AWAY, "Connect timeout");
    }, connectTimeout);
    // Without STUN/TURN, gathering host candidates takes a few ms: answer once with them inside
    // the SDP instead of an answer plus trickled candidates (one signalling message, no Nagle
    // delay between back-to-back messages).
    const whole = iceServers.length === 0;
    let answer: string | null = null;
    let gathered = false;
    let answered = false;
    const sendAnswer = () => {
      if (answered || answer === null || (whole && !gathered)) return;
      answered = true;
      if (!slaveInternals.signalling(this.#slave, this)) return;
      const sdp = whole ? pc.localDescription()?.sdp ?? answer : answer;
      slaveInternals.send(this.#slave, encodeSdp(PacketType.ANSWER_TO_CLIENT, this.id, sdp));
    };
    pc.onLocalDescription((sdp, type) => {
      if (type !== "answer") return;
      answer = sdp;
      answered = false;
      sendAnswer();
    });
    pc.onGatheringStateChange((state) => {
      if (state !== "complete") return;
      gathered = true;
      sendAnswer();
    });
    pc.onLocalCandidate((candidate, mid) => {
      if (!slaveInternals.signalling(this.#slave, this) || (whole && !answered)) return;
      slaveInternals.send(
        this.#slave,
        encodeCandidate(PacketType.ICE_CANDIDATE_TO_CLIENT, this.id, {
          candidate,
          sdpMid: mid || null,
          sdpMLineIndex: null,
        }),
      );
    });
    pc.onStateChange((state) => {
      if (state === "failed" || state === "closed" || state === "disconnected") {
        this.#end(CloseCode.GOING_AWAY, `Peer connection ${state}`);
      }
    });
    pc.onDataChannel((dc) => {
      if (this.#state === "closed") {
        dc.close();
        return;
      }
      if (dc.getProtocol() === CONTROL_CHANNEL_PROTOCOL) {
        // The client's control channel: open = connected; closed = the client went away.
        dc.onClosed(() => this.#end(CloseCode.NORMAL, "Peer closed"));
        dc.onMessage((message) => {
          // The client says why it closes just before it does.
          if (typeof message === "string") return;
          const bytes = message instanceof ArrayBuffer
            ? new Uint8Array(message)
            : new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
          const close = decodeControlClose(bytes);
          if (close) this.#end(close.code, close.reason);
        });
        this.#control = dc;
        this.#markConnected();
        return;
      }
      const channel = new DataChannel(ndcChannelTransport(dc), channelOptions);
      this.#channels.add(channel);
      channel.addEventListener("close", () => this.#channels.delete(channel), { once: true });
      if (this.#listening()) {
        this.dispatchEvent(new CustomEvent("datachannel", { detail: channel }));
      } else this.#held.push(channel);
    });
  }

  #control?: ndc.DataChannel;

  /** EventTarget cannot count listeners: remember whether a "datachannel" one was ever added. */
  #listenerAdded = false;

  #listening(): boolean {
    return this.#listenerAdded;
  }

  #markConnected(): void {
    if (this.#state !== "connecting") return;
    this.#state = "connected";
    clearTimeout(this.#timer);
    this.#opened.resolve();
    this.dispatchEvent(new Event("connected"));
  }

  #end(code: number, reason: string, notify = false): void {
    if (this.#state === "closed") return;
    const wasConnecting = this.#state === "connecting";
    this.#state = "closed";
    clearTimeout(this.#timer);
    slaveInternals.forget(this.#slave, this);
    if (wasConnecting) {
      this.#opened.reject(
        connectionClosed(`Client connection closed: "${reason}"`, { closeCode: code, reason }),
      );
    }
    for (const channel of [...this.#channels, ...this.#held]) dataChannelInternals.dispose(channel);
    this.#channels.clear();
    this.#held = [];
    const pc = this.#pc;
    const control = this.#control;
    this.#pc = undefined;
    this.#control = undefined;
    let fallback: ReturnType<typeof setTimeout> | undefined;
    let closePc = () => {
      closePc = () => {};
      clearTimeout(fallback);
      try {
        pc?.close();
      } catch { /* closed */ }
      this.#teardown.resolve();
    };
    // Closing from inside a libdatachannel callback can deadlock; defer it.
    setTimeout(() => {
      if (notify && control?.isOpen()) {
        // Say why over the data path, let the control channel close gracefully, then tear down.
        try {
          control.sendMessageBinary(encodeControlClose(code, reason));
        } catch { /* closing */ }
        control.onClosed(() => setTimeout(() => closePc(), 0));
        fallback = setTimeout(() => closePc(), 500);
      } else setTimeout(() => closePc(), 0);
      try {
        control?.close();
      } catch { /* closed */ }
    }, 0);
    this.#closed.resolve({ code, reason });
    this.dispatchEvent(new CustomEvent("close", { detail: { code, reason } }));
  }
}

/** The connection address of an ICE candidate line (`candidate:f c proto prio ADDRESS port …`). */
function candidateAddress(line: string): string {
  return line.replace(/^a=/, "").split(" ")[4] ?? "";
}

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1" || address === "localhost";
}

/** @internal A `ChannelTransport` over a node-datachannel `DataChannel`. */
function ndcChannelTransport(dc: ndc.DataChannel): ChannelTransport {
  return {
    label: dc.getLabel(),
    protocol: dc.getProtocol(),
    // libdatachannel does not report an incoming channel's reliability.
    ordered: true,
    maxRetransmits: null,
    maxPacketLifeTime: null,
    id: dc.getId(),
    bufferedAmount: () => dc.bufferedAmount(),
    setBufferedAmountLowThreshold: (bytes) => dc.setBufferedAmountLowThreshold(bytes),
    maxMessageSize: () => dc.maxMessageSize(),
    isOpen: () => dc.isOpen(),
    send: (data: Message) => {
      if (typeof data === "string") dc.sendMessage(data);
      else dc.sendMessageBinary(data);
    },
    close: () => dc.close(),
    bind(handlers) {
      dc.onOpen(() => handlers.open());
      dc.onMessage((message) => {
        if (typeof message === "string") handlers.message(message);
        else if (message instanceof ArrayBuffer) handlers.message(new Uint8Array(message));
        else {
          handlers.message(
            new Uint8Array(message.buffer, message.byteOffset, message.byteLength),
          );
        }
      });
      dc.onBufferedAmountLow(() => handlers.bufferedAmountLow());
      dc.onClosed(() => handlers.close());
      dc.onError((message) => handlers.error(message));
    },
  };
}
