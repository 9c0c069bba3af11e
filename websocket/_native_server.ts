/**
 * The native engine's server side: upgrades through `Deno.upgradeWebSocket`
 * and listens with `Deno.serve`. Private to the module.
 *
 * @module
 */

import { Connection } from "./_connection.ts";
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_RECEIVE_QUEUE_MESSAGES,
  DEFAULT_SEND_HIGH_WATER_MARK,
  DEFAULT_SEND_TIMEOUT,
} from "./_engine.ts";
import { NativeSocket } from "./_native.ts";
import { type ByteBudget, SharedBudget } from "./_rfc6455.ts";
import { listenNativeFront } from "./_native_front.ts";
import { assertOptions, chooseProtocol, upgradeProblem } from "./_policy.ts";
import type { Listening, ServerCore } from "./_server_core.ts";
import { WebSocketRangeError, WebSocketTypeError } from "./errors.ts";
import type { HandleUpgradeOptions } from "./handle_upgrade.ts";
import type { UpgradeOptions } from "./options.ts";
import type { ServeOptions } from "./server.ts";

/** The heartbeat settings with defaults applied, `null` when disabled. */
export function heartbeatOf(
  heartbeat: UpgradeOptions["heartbeat"],
): { interval: number; timeout: number } | null {
  if (heartbeat === false) return null;
  const { interval = 15_000, timeout = 15_000 } = heartbeat ?? {};
  if (!(interval > 0) || !(timeout > 0)) {
    throw new WebSocketRangeError(
      "ERR_INVALID_OPTION",
      `Heartbeat interval "${interval}" and timeout "${timeout}" must be positive`,
    );
  }
  return { interval, timeout };
}

/**
 * The built-in heartbeat: `idleTimeout` in seconds (0 disables). The
 * built-in engine pings after idleTimeout / 2 of silence and closes with 1001
 * after idleTimeout, so one idle timeout covers interval + timeout.
 */
export function nativeIdleTimeout(heartbeat: UpgradeOptions["heartbeat"]): number {
  const beat = heartbeatOf(heartbeat);
  return beat ? (beat.interval + beat.timeout) / 1000 : 0;
}

/** `handleUpgrade()` with the internal connection type, for `serve()`. */
export function upgradeNative(
  request: Request,
  options: HandleUpgradeOptions & {
    /** A raw connection to upgrade instead of `Deno.serve`'s (see `_native_front.ts`). */
    socket?: unknown;
    /** Bytes that arrived after the head on `socket`. */
    head?: Uint8Array;
    /** The server's byte budget (`serve()` only). */
    budget?: ByteBudget;
  },
): { response: Response; connection: Connection } {
  const {
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    receiveQueueLimit = 2 * maxMessageSize,
    receiveQueueMessages = DEFAULT_RECEIVE_QUEUE_MESSAGES,
    sendTimeout = DEFAULT_SEND_TIMEOUT,
    sendHighWaterMark = DEFAULT_SEND_HIGH_WATER_MARK,
    closeTimeout = DEFAULT_CLOSE_TIMEOUT,
    heartbeat,
    engine = "native",
    remoteAddr,
  } = options;
  assertOptions(options);
  if (engine !== "native") {
    throw new WebSocketTypeError(
      "ERR_UNSUPPORTED_BY_ENGINE",
      `handleUpgrade() supports engine "native" only, not "${engine}": use serve() for "rfc6455"`,
    );
  }
  const problem = upgradeProblem(request);
  if (problem) {
    throw new WebSocketTypeError(
      "ERR_INVALID_UPGRADE_REQUEST",
      `Request is not a valid WebSocket upgrade (would answer "${problem.status}")`,
    );
  }
  const protocol = chooseProtocol(request, options);
  // The request's URL and headers are unreadable once it was upgraded.
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  const { socket, response } = Deno.upgradeWebSocket(request, {
    protocol: protocol || undefined,
    idleTimeout: nativeIdleTimeout(heartbeat),
    ...(options.socket === undefined ? {} : {
      socket: options.socket as Deno.UpgradeWebSocketOptions["socket"],
      head: options.head,
    }),
  });
  const engineSocket = new NativeSocket(socket, {
    role: "server",
    maxMessageSize,
    receiveQueueLimit,
    receiveQueueMessages,
    sendTimeout,
    sendHighWaterMark,
    closeTimeout,
    budget: options.budget,
  });
  const connection = new Connection(engineSocket, {
    engine: "native",
    path: url.pathname + url.search,
    headers,
    protocol,
    extensions: "",
    remoteAddr: remoteAddr ?? null,
    opened: engineSocket.opened,
  });
  return { response, connection };
}

/**
 * Listens with our own accept loop (heads read with limits, see
 * `_native_front.ts`), or with `Deno.serve` where the runtime cannot hand a
 * connection to the built-in socket.
 */
export function listenNative(server: ServerCore, options: ServeOptions): Listening {
  // What all connections of this server may hold unread together.
  const budget = new SharedBudget(options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES);
  const withBudget = { ...options, budget };
  return listenNativeFront(server, withBudget) ?? listenDenoServe(server, withBudget);
}

/** Listens with `Deno.serve` and upgrades admitted requests (no head timeout: see the README). */
function listenDenoServe(
  server: ServerCore,
  options: ServeOptions & { budget: ByteBudget },
): Listening {
  const { hostname = "0.0.0.0", port = 8000, cert, key } = options;
  const http = Deno.serve({
    hostname,
    port,
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    onListen() {},
    onError() {
      return new Response("Internal Server Error", { status: 500 });
    },
  }, async (request, info) => {
    const rejection = await server.admission(request);
    if (rejection) return rejection;
    const { response, connection } = upgradeNative(request, {
      ...options,
      remoteAddr: info.remoteAddr as Deno.NetAddr,
    });
    server.admit(connection);
    return response;
  });
  return {
    addr: http.addr as Deno.NetAddr,
    stop: async () => {
      await http.shutdown();
    },
  };
}
