/**
 * The native engine's server side: upgrades through `Deno.upgradeWebSocket`
 * and listens with `Deno.serve`. Private to the module.
 *
 * @module
 */

import { Connection } from "./_connection.ts";
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_RECEIVE_QUEUE_MESSAGES,
  DEFAULT_SEND_HIGH_WATER_MARK,
  DEFAULT_SEND_TIMEOUT,
} from "./_engine.ts";
import { NativeSocket } from "./_native.ts";
import type { ByteBudget } from "./_rfc6455.ts";
import { assertOptions, chooseProtocol, heartbeatOf, upgradeProblem } from "./_policy.ts";
import { WebSocketTypeError } from "./errors.ts";
import type { HandleUpgradeOptions, UpgradeOptions } from "./options.ts";

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
