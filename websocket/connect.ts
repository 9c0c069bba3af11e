/**
 * `connect()`: open a WebSocket client connection.
 *
 * @module
 */

import { connectNative, webSocketUrl } from "./_client.ts";
import type { WebSocketConnection, WebSocketEngine } from "./connection.ts";
import { WebSocketTypeError } from "./errors.ts";
import type { ConnectionOptions } from "./options.ts";

/** Options of `connect()`. */
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
  const { engine = "native", signal } = options;
  const target = webSocketUrl(url);
  signal?.throwIfAborted();
  if (engine !== "native") {
    throw new WebSocketTypeError(
      "ERR_UNSUPPORTED_BY_ENGINE",
      `Engine "${engine}" is not available`,
    );
  }
  const connection = await connectNative(target, options);
  if (signal) {
    const onAbort = () => void connection.close(1000).catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });
    connection.closed.then(() => signal.removeEventListener("abort", onAbort));
  }
  return connection;
}
