/**
 * `connect()`: open a WebSocket client connection.
 *
 * @module
 */

import { connectNative, webSocketUrl } from "./_client.ts";
import type { Connection } from "./_connection.ts";
import { assertOptions } from "./_policy.ts";
import { connectRfc6455 } from "./_rfc6455_engine.ts";
import type { WebSocketConnection, WebSocketEngine } from "./connection.ts";
import { WebSocketTypeError } from "./errors.ts";
import { heartbeatOf } from "./_native_server.ts";
import type { ConnectionOptions, HeartbeatOptions } from "./options.ts";

/** Options of `connect()`. *
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
}

/**
 * Opens a WebSocket connection to `url` and resolves once the handshake
 * completed.
 *
 * Rejects with `WebSocketHandshakeError` (`ERR_UNEXPECTED_STATUS` with
 * `status`, `ERR_PROTOCOL_NOT_NEGOTIATED`, `ERR_UNEXPECTED_PROTOCOL`,
 * `ERR_HANDSHAKE_FAILED`), `WebSocketSyntaxError` `ERR_INVALID_URL`, or a
 * `DOMException` `AbortError` when `signal` aborts first.
 *
 * @example
 * ```ts
 * import { connect, serve } from "@netkit/realtime/websocket";
 * await using server = serve({ hostname: "127.0.0.1", port: 0, protocols: ["chat"] });
 * await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/`, {
 *   protocols: ["chat"],
 *   headers: { authorization: "Bearer 123" },
 *   signal: AbortSignal.timeout(5000),
 * });
 * console.log(ws.protocol); // "chat"
 * ```
 */
export async function connect(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<WebSocketConnection> {
  const { engine = "native", signal, heartbeat = false } = options;
  const target = webSocketUrl(url);
  assertOptions(options);
  const beat = heartbeatOf(heartbeat);
  if (beat && engine === "native") {
    throw new WebSocketTypeError(
      "ERR_UNSUPPORTED_BY_ENGINE",
      'Client heartbeats need engine "rfc6455": the built-in client cannot send pings',
    );
  }
  signal?.throwIfAborted();
  if (engine !== "native" && engine !== "rfc6455") {
    throw new WebSocketTypeError("ERR_INVALID_OPTION", `Unknown engine "${engine}"`);
  }
  const connection = engine === "native"
    ? await connectNative(target, options)
    : await connectRfc6455(target, options);
  if (beat) (connection as Connection).startHeartbeat(beat);
  if (signal) {
    const onAbort = () => void connection.close(1000).catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });
    connection.closed.then(() => signal.removeEventListener("abort", onAbort));
  }
  return connection;
}
