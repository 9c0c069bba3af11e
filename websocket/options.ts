/**
 * Options shared by `serve()`, `handleUpgrade()` and `connect()`.
 *
 * @module
 */

import type { Cluster } from "../cluster/types.ts";
import type { RoomTarget } from "../cluster/rooms.ts";
import type {
  ServerWebSocketConnection,
  WebSocketConnection,
  WebSocketEngine,
} from "./connection.ts";

/**
 * Dead-peer detection: a ping after `interval` ms, a close with 1001 when no pong came within `timeout` ms.
 *
 * @example
 * ```ts
 * import { serve } from "@netkit/realtime/websocket";
 * await using server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   heartbeat: { interval: 20_000, timeout: 10_000 },
 * });
 * ```
 */
export interface HeartbeatOptions {
  /**
   * Milliseconds between the last sign of life and the next ping.
   * @default {15000}
   */
  interval?: number;
  /**
   * Milliseconds to wait for the pong before closing with 1001.
   * @default {15000}
   */
  timeout?: number;
}

/**
 * permessage-deflate (RFC 7692) settings, `rfc6455` engine only.
 *
 * @example
 * ```ts
 * import type { PerMessageDeflateOptions } from "@netkit/realtime/websocket";
 * const deflate: PerMessageDeflateOptions = { threshold: 256, serverNoContextTakeover: true };
 * ```
 */
export interface PerMessageDeflateOptions {
  /**
   * Messages smaller than this many bytes are sent uncompressed.
   * @default {1024}
   */
  threshold?: number;
  /**
   * zlib compression level, 0–9 (-1: zlib's default).
   * @default {-1}
   */
  level?: number;
  /**
   * Ask for (client) / insist on (server) the server resetting its compressor after each message.
   * @default {false}
   */
  serverNoContextTakeover?: boolean;
  /**
   * Ask for / insist on the client resetting its compressor after each message.
   * @default {false}
   */
  clientNoContextTakeover?: boolean;
  /**
   * Largest LZ77 window (2^bits) the server may compress with, 9–15.
   * @default {15}
   */
  serverMaxWindowBits?: number;
  /**
   * Largest LZ77 window (2^bits) the client may compress with, 9–15.
   * @default {15}
   */
  clientMaxWindowBits?: number;
}

/**
 * Limits and tuning every connection has, on either side.
 *
 * @example
 * ```ts
 * import { connect } from "@netkit/realtime/websocket";
 * await connect("ws://127.0.0.1:9/", {
 *   maxMessageSize: 1024 * 1024,
 *   sendHighWaterMark: 256 * 1024,
 * }).catch(() => {});
 * ```
 */
export interface ConnectionOptions {
  /**
   * Largest incoming message in bytes; a larger one closes the connection
   * with 1009. The `rfc6455` engine refuses it from the frame header, without
   * allocating it; the `native` engine can only check after arrival (and its
   * built-in cap of 64 MiB drops TCP without a close frame, so a larger value
   * is refused with `ERR_INVALID_OPTION` on that engine).
   * @default {16777216} (16 MiB)
   */
  maxMessageSize?: number;
  /**
   * `native` engine only: unread received bytes held before the connection is
   * closed with 1008, because the built-in socket cannot stop reading TCP.
   * (The `rfc6455` engine stops reading TCP instead.)
   * @default {2 * maxMessageSize}
   */
  receiveQueueLimit?: number;
  /**
   * `native` engine only: unread received messages held before the
   * connection is closed with 1008 (`ERR_RECEIVE_QUEUE_FULL`). Counted as
   * well as bytes, because empty messages cost memory but no bytes: the
   * queue is full once `messages / receiveQueueMessages + bytes /
   * receiveQueueLimit` reaches 1.
   * @default {4096}
   */
  receiveQueueMessages?: number;
  /**
   * `rfc6455` engine only: most frames one incoming message may arrive in;
   * more close the connection with 1009 (`ERR_TOO_MANY_FRAGMENTS`).
   * @default {4096}
   */
  maxFragments?: number;
  /**
   * `rfc6455` engine only: milliseconds the rest of a frame, or of a
   * fragmented message, may take once part of it arrived; a peer that stops
   * mid-frame is closed with 1008 (`ERR_MESSAGE_TIMEOUT`), heartbeat or not.
   * Only time spent waiting for the peer counts (not time our reader is
   * paused). `0` disables.
   * @default {60000}
   */
  messageTimeout?: number;
  /**
   * `send()` resolves once no more than this many bytes are buffered.
   * @default {1048576} (1 MiB)
   */
  sendHighWaterMark?: number;
  /**
   * `rfc6455` engine only: the payload size of each frame of a `beginBinary()` stream.
   * @default {65536}
   */
  fragmentSize?: number;
  /**
   * `rfc6455` engine only: offer (client) / accept (server) permessage-deflate.
   * Decompressed messages are held to `maxMessageSize` as well.
   * @default {false}
   */
  deflate?: boolean | PerMessageDeflateOptions;
  /**
   * Milliseconds the opening handshake may take; a slower peer is dropped
   * (a client rejects with a `TimeoutError`).
   * @default {10000}
   */
  handshakeTimeout?: number;
  /**
   * Milliseconds `close()` waits for the peer's close frame; then the
   * connection counts as closed with 1006 (the rfc6455 engine drops TCP; the
   * built-in socket cannot be dropped from JS and lingers until the peer or
   * the server's shutdown ends it).
   * @default {5000}
   */
  closeTimeout?: number;
}

/**
 * Server-side choice of subprotocol and connection settings, shared by `serve()` and `handleUpgrade()`.
 *
 * @example
 * ```ts
 * import { serve } from "@netkit/realtime/websocket";
 * await using server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   selectProtocol: (_request, offered) => offered.find((name) => name.startsWith("chat.")),
 *   engine: "rfc6455",
 *   deflate: true,
 * });
 * ```
 */
export interface UpgradeOptions extends ConnectionOptions {
  /**
   * Subprotocols this server speaks: the first one the client offers that is
   * in this list is chosen; none when there is no match.
   */
  protocols?: string[];
  /**
   * Picks the subprotocol from those the client offered (wins over
   * `protocols`). Returning `undefined`, `null` or a name that was not offered means none.
   */
  selectProtocol?: (request: Request, offered: string[]) => string | undefined | null;
  /**
   * Pings to detect dead peers and closes them with 1001; `false` disables.
   * The `native` engine uses the built-in `idleTimeout`: it pings after
   * `(interval + timeout) / 2` ms without traffic and closes after `interval + timeout` ms.
   * @default {{ interval: 15000, timeout: 15000 }}
   */
  heartbeat?: HeartbeatOptions | false;
  /**
   * Milliseconds a peer may go without reading what we send: a
   * `broadcast()` message not accepted by a connection within this time
   * (its buffer staying above `sendHighWaterMark`), or — native engine — a
   * send buffer that holds data and does not drain for this long, closes
   * the connection with 1008 (`ERR_SEND_TIMEOUT`). The rfc6455 engine's
   * heartbeat catches a non-reader as well (its ping waits behind the data).
   * `0` disables.
   * @default {30000}
   */
  sendTimeout?: number;
  /**
   * Which engine carries the connections. `serve()` defaults to `"rfc6455"`
   * (the only engine that enforces every limit: see the README);
   * `handleUpgrade()` supports `"native"` only.
   * @default {"rfc6455"} for `serve()`, `"native"` for `handleUpgrade()`
   */
  engine?: WebSocketEngine;
  /**
   * Rooms span every server on this cluster (from `connectCluster()` of
   * `@netkit/realtime/cluster`). Without it, rooms are local: per server with
   * `serve()`, per process with `handleUpgrade()`.
   */
  cluster?: Cluster;
}

/**
 * What `authorize` may answer: `true` to accept, `false` for a 401, or the `Response` to reject with.
 *
 * @example
 * ```ts
 * import { type AuthorizeVerdict, serve } from "@netkit/realtime/websocket";
 * const authorize = (request: Request): AuthorizeVerdict =>
 *   request.headers.get("origin") === "https://example.com"
 *     ? true
 *     : new Response("Forbidden origin", { status: 403 });
 * await using server = serve({ hostname: "127.0.0.1", port: 0, authorize });
 * ```
 */
export type AuthorizeVerdict = boolean | Response;

/**
 * Options of `serve()`.
 *
 * @example
 * ```ts
 * import { serve } from "@netkit/realtime/websocket";
 * await using server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   path: "/ws",
 *   protocols: ["chat"],
 *   authorize: (request) => request.headers.has("authorization"),
 *   maxMessageSize: 1024 * 1024,
 * });
 * ```
 */
export interface ServeOptions extends UpgradeOptions {
  /**
   * Address to listen on.
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Port to listen on; `0` picks a free one (read it back from `server.addr`).
   * @default {8000}
   */
  port?: number;
  /** PEM certificate chain: with `key`, the server speaks `wss:`. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
  /** Accept upgrades on this path only (other paths get 404); any path when unset. */
  path?: string;
  /**
   * Decides before the handshake completes: `true` accepts, `false` rejects
   * with 401, a `Response` is sent as the rejection. A thrown error rejects with 500;
   * no answer within `handshakeTimeout` (or the server closing meanwhile) rejects with 503.
   */
  authorize?: (request: Request) => AuthorizeVerdict | Promise<AuthorizeVerdict>;
  /**
   * Answers plain HTTP requests (any request without `Upgrade: websocket`,
   * on any path), so a page and its sockets share one port. Without it they
   * get 426 (404 off `path`). Its answer is written within
   * `handshakeTimeout` (else 503) and the connection is closed after it
   * (one request per connection); a thrown error answers 500; requests
   * with a body get 413 (the request passed here has no body).
   */
  fallback?: (request: Request) => Response | Promise<Response>;
  /**
   * Origins allowed to open a socket (403 otherwise), against cross-site
   * WebSocket hijacking: a page on another site opening a socket that
   * carries the user's cookies. Requests without `Origin` (non-browser
   * clients) and same-origin requests (the `Origin` host equals `Host`)
   * always pass; `"*"` allows every origin. Same rule as `webrtc/`'s master.
   * @default {[]}
   */
  allowedOrigins?: readonly string[] | "*";
  /**
   * Most connections open (or opening) at once; more are rejected with 503.
   * @default {10000}
   */
  maxConnections?: number;
  /**
   * `rfc6455` engine: largest HTTP request head accepted (431 beyond it).
   * A head not complete within `handshakeTimeout` is answered with 408 and
   * dropped; at most `maxConnections` heads are read at once (more get 503).
   * @default {16384}
   */
  maxHeaderBytes?: number;
  /**
   * Bytes all connections together may hold beyond 64 KiB each (rfc6455:
   * messages being received or inflated, and messages not read yet; native:
   * messages not read yet). A connection that needs more is closed with 1013
   * (`ERR_SERVER_BUSY`).
   * @default {134217728} (128 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * `rfc6455` engine with `deflate`: connections inflating at once; the
   * others stop reading until a slot frees.
   * @default {10}
   */
  inflateConcurrency?: number;
  /**
   * `broadcast()`: messages waiting per connection (on top of the
   * connection's own `sendHighWaterMark` buffer) before `sendQueueOverflow`
   * applies. Counted as well as bytes, so empty messages fill it too.
   * @default {1024}
   */
  sendQueueMessages?: number;
  /**
   * `broadcast()`: bytes waiting per connection before `sendQueueOverflow` applies.
   * @default {1048576} (1 MiB)
   */
  sendQueueBytes?: number;
  /**
   * `broadcast()`: what happens to a connection whose send queue is full:
   * `"close"` closes it with 1008 (`ERR_SEND_QUEUE_FULL`), `"drop"` skips
   * the message for it (the others still get it).
   * @default {"close"}
   */
  sendQueueOverflow?: "close" | "drop";

  /** Closes the server (like `close()`) when aborted. */
  signal?: AbortSignal;
}

/**
 * A set of server-side connections with the features `serve()` gives:
 * iterate it for the connections (each one is yielded once its handshake
 * completed), `connections` lists those open, `broadcast()` and `to(room)`
 * reach them through bounded queues. `WebSocketServer` is one that listens;
 * `createConnectionGroup()` makes one for your own `Deno.serve`.
 *
 * @example
 * ```ts
 * import type { ConnectionGroup } from "@netkit/realtime/websocket";
 * async function greetAll(group: ConnectionGroup): Promise<void> {
 *   await group.broadcast(`hello to ${group.connections.length}`);
 * }
 * ```
 */
export interface ConnectionGroup extends AsyncIterable<ServerWebSocketConnection>, AsyncDisposable {
  /** The open connections, in the order they opened (a snapshot). */
  readonly connections: ServerWebSocketConnection[];
  /**
   * Offers `data` to every open connection's bounded send queue and never
   * waits for one of them: a connection that does not keep up hurts only
   * itself (`sendQueueOverflow`, `sendTimeout`). Resolves once queued.
   */
  broadcast(data: string | Uint8Array): Promise<void>;
  /**
   * Addresses the members of `room` (`conn.join(room)`) on this server, or on
   * every server of the `cluster` option: `send()` reaches each exactly once,
   * `except(conn)` leaves some out, `count()`/`members()` see the whole
   * cluster, `watch()` yields join/leave events. Throws `ClusterTypeError`
   * `ERR_INVALID_ROOM_NAME` / `ClusterRangeError` `ERR_ROOM_NAME_TOO_LONG`.
   */
  to(room: string): RoomTarget<WebSocketConnection>;
  /**
   * Stops accepting, closes every connection with 1001 and resolves when all
   * are closed (or dropped after 2 s). Iteration ends.
   */
  close(): Promise<void>;
  /** Settles when the server is closed. */
  readonly finished: Promise<void>;
}

/**
 * A listening WebSocket server: a `ConnectionGroup` with an address.
 *
 * @example
 * ```ts
 * import { serve } from "@netkit/realtime/websocket";
 * await using server = serve({ hostname: "127.0.0.1", port: 0, protocols: ["chat"] });
 * console.log(`listening on ${server.addr.port}`);
 * ```
 */
export interface WebSocketServer extends ConnectionGroup {
  /** The address the server listens on. */
  readonly addr: Deno.NetAddr;
}

/**
 * Retries of `connect()`'s handshake, and optional re-establishment of a
 * connection that drops (framed's `reconnect`, with exponential backoff).
 * Only failures that may pass are retried: no answer, a timeout, 408, 429
 * and 5xx; a refusal such as 401/403/404 is final.
 *
 * @example
 * ```ts
 * import type { ReconnectOptions } from "@netkit/realtime/websocket";
 * const reconnect: ReconnectOptions = { attempts: 5, interval: 200, maxInterval: 5_000, onDrop: true };
 * ```
 */
export interface ReconnectOptions {
  /**
   * Retries after the first attempt fails (so `attempts + 1` attempts in
   * all, per connect and per drop). `0` = no retry.
   * @default {10}
   */
  attempts?: number;
  /**
   * Milliseconds before the first retry; each further one waits `backoff`
   * times longer, up to `maxInterval`, randomized by ±20 % so that clients
   * dropped together do not come back together.
   * @default {1000}
   */
  interval?: number;
  /**
   * Factor between consecutive waits (`1`: a fixed interval).
   * @default {2}
   */
  backoff?: number;
  /**
   * Longest wait between attempts, in milliseconds.
   * @default {30000}
   */
  maxInterval?: number;
  /**
   * Re-establish the connection when it drops (closed by the network or the
   * server going away: 1001, 1005, 1006, 1011, 1012, 1013, 1014; not after
   * your `close()` nor a 1000 or policy close from the server). `connect()`
   * then resolves to a `ReconnectingWebSocketConnection`: the same object
   * carries on, its `readable` continues with the new socket's messages,
   * `send()` rejects with `ERR_NOT_OPEN` while it reconnects, and events
   * `drop`, `reconnect` and `reconnectfailed` tell what happens. Messages
   * in flight when the connection dropped may be lost.
   * @default {false}
   */
  onDrop?: boolean;
}

/**
 * Options of `connect()`.
 *
 * @example
 * ```ts
 * import { connect, type ConnectOptions } from "@netkit/realtime/websocket";
 * const options: ConnectOptions = {
 *   protocols: ["chat"],
 *   headers: { authorization: "Bearer 42" },
 *   signal: AbortSignal.timeout(5_000),
 * };
 * await connect("ws://127.0.0.1:9/", options).catch((error) => console.log(error.code));
 * ```
 */
export interface ConnectOptions extends ConnectionOptions {
  /**
   * Subprotocols to offer. When set, the connection fails with
   * `ERR_PROTOCOL_NOT_NEGOTIATED` if the server picks none, and
   * `ERR_UNEXPECTED_PROTOCOL` if it picks one that was not offered.
   */
  protocols?: string[];
  /**
   * Extra request headers (`Authorization`, `Origin`, cookies …). `Host`,
   * `Upgrade`, `Connection` and `Sec-WebSocket-*` are set by the handshake and
   * ignored here.
   */
  headers?: HeadersInit;
  /** PEM certificates of extra certificate authorities to trust for `wss:`. */
  caCerts?: string[];
  /** Aborts the handshake (rejecting with `AbortError`); after open, closes the connection with 1000. */
  signal?: AbortSignal;
  /**
   * Which engine carries the connection.
   * @default {"native"}
   */
  engine?: WebSocketEngine;
  /**
   * `rfc6455` engine only: ping the server every `interval` ms and close with
   * 1001 when no pong comes within `timeout` ms (detects a dead server or a
   * silently broken path). The built-in client cannot ping: setting this with
   * `engine: "native"` throws `ERR_UNSUPPORTED_BY_ENGINE`.
   * @default {false}
   */
  heartbeat?: HeartbeatOptions | false;
  /**
   * Retry policy of the handshake and, with `onDrop`, reconnection after a
   * drop. `false` = a single attempt.
   * @default {false}
   */
  reconnect?: ReconnectOptions | false;
}

/**
 * Options of `handleUpgrade()`.
 *
 * @example
 * ```ts
 * import { handleUpgrade, type HandleUpgradeOptions } from "@netkit/realtime/websocket";
 * const options: HandleUpgradeOptions = { protocols: ["chat"], heartbeat: { interval: 10_000 } };
 * Deno.serve({ hostname: "127.0.0.1", port: 0 }, (request, info) =>
 *   handleUpgrade(request, { ...options, remoteAddr: info.remoteAddr }).response).shutdown();
 * ```
 */
export interface HandleUpgradeOptions extends UpgradeOptions {
  /** The peer address, reported as `connection.remoteAddr` (pass `info.remoteAddr` from the handler). */
  remoteAddr?: Deno.NetAddr;
}

/**
 * Options of `createConnectionGroup()`: `serve()`'s, less the listening ones.
 *
 * @example
 * ```ts
 * import { type ConnectionGroupOptions, createConnectionGroup } from "@netkit/realtime/websocket";
 * const options: ConnectionGroupOptions = {
 *   path: "/ws",
 *   allowedOrigins: ["https://app.example.com"],
 *   authorize: (request) => new URL(request.url).searchParams.get("token") === "42",
 * };
 * await using group = createConnectionGroup(options);
 * ```
 */
export interface ConnectionGroupOptions extends
  Omit<
    ServeOptions,
    "hostname" | "port" | "cert" | "key" | "maxHeaderBytes" | "inflateConcurrency"
  > {}

/**
 * A `ConnectionGroup` fed by your own HTTP server: `handle(request, info)`
 * is a `Deno.serve` handler that upgrades WebSocket requests into the group
 * (after `path`, `allowedOrigins`, `maxConnections` and `authorize`, like
 * `serve()`) and answers the others with `fallback` (426 without one).
 *
 * @example
 * ```ts
 * import { createConnectionGroup, type WebSocketGroup } from "@netkit/realtime/websocket";
 * await using group: WebSocketGroup = createConnectionGroup({
 *   fallback: () => new Response("<h1>hello</h1>", { headers: { "content-type": "text/html" } }),
 * });
 * const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, group.handle);
 * await http.shutdown();
 * ```
 */
export interface WebSocketGroup extends ConnectionGroup {
  /** A `Deno.serve` handler (bound: pass it as is); `info` gives `connection.remoteAddr`. */
  readonly handle: (request: Request, info?: { remoteAddr: Deno.Addr }) => Promise<Response>;
}
