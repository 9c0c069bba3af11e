/**
 * `connect()`: open a WebSocket client connection.
 *
 * @module
 */

import { connectNative, webSocketUrl } from "./_client.ts";
import type { Connection } from "./_connection.ts";
import { assertOptions, heartbeatOf } from "./_policy.ts";
import { connectRfc6455 } from "./_rfc6455_engine.ts";
import type { WebSocketConnection } from "./connection.ts";
import { WebSocketTypeError } from "./errors.ts";
import type { ConnectOptions } from "./options.ts";

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
