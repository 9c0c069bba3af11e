/**
 * `serve()`: a WebSocket server whose connections arrive as an async iterable.
 *
 * @module
 */

import { heartbeatOf, listenNative } from "./_native_server.ts";
import { assertOptions } from "./_policy.ts";
import { listenRfc6455 } from "./_rfc6455_engine.ts";
import { ServerCore } from "./_server_core.ts";
import type { RoomTarget } from "../cluster/rooms.ts";
import type { ServerWebSocketConnection, WebSocketConnection } from "./connection.ts";
import { WebSocketTypeError } from "./errors.ts";
import type { UpgradeOptions } from "./options.ts";

/** What `authorize` may answer: `true` to accept, `false` for a 401, or the `Response` to reject with. *
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

/** Options of `serve()`. *
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
 * A listening WebSocket server. Iterate it for the connections (each one is
 * yielded once its handshake completed); `connections` lists those open.
 *
 * @example
 * ```ts
 * import { serve } from "@netkit/realtime/websocket";
 * await using server = serve({ hostname: "127.0.0.1", port: 0, protocols: ["chat"] });
 * console.log(`listening on ${server.addr.port}`);
 * ```
 */
export interface WebSocketServer extends AsyncIterable<ServerWebSocketConnection>, AsyncDisposable {
  /** The address the server listens on. */
  readonly addr: Deno.NetAddr;
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
   * are closed. Iteration ends.
   */
  close(): Promise<void>;
  /** Settles when the server is closed. */
  readonly finished: Promise<void>;
}

/**
 * Starts a WebSocket server (`ws:`, or `wss:` with `cert`/`key`).
 *
 * @example Echo server and client
 * ```ts
 * import { connect, serve } from "@netkit/realtime/websocket";
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * (async () => {
 *   for await (const conn of server) {
 *     (async () => {
 *       for await (const message of conn.readable) await conn.send(message);
 *     })();
 *   }
 * })();
 * await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/chat`);
 * await ws.send("hello");
 * const reader = ws.readable.getReader();
 * console.log((await reader.read()).value); // "hello"
 * reader.releaseLock();
 * ```
 */
export function serve(options: ServeOptions = {}): WebSocketServer {
  const { engine = "rfc6455", signal } = options;
  assertOptions({ ...options, engine });
  heartbeatOf(options.heartbeat);
  const server = new ServerCore(options);
  if (engine === "native") server.listening(listenNative(server, options));
  else if (engine === "rfc6455") server.listening(listenRfc6455(server, options));
  else {
    throw new WebSocketTypeError("ERR_INVALID_OPTION", `Unknown engine "${engine}"`);
  }
  if (signal) {
    if (signal.aborted) void server.close();
    else signal.addEventListener("abort", () => void server.close(), { once: true });
  }
  return server;
}
