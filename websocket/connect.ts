/**
 * `connect()`: open a WebSocket client connection.
 *
 * @module
 */

import { CLOSE_NORMAL } from "./_frame.ts";
import { connectNative, webSocketUrl } from "./_client.ts";
import type { Connection } from "./_connection.ts";
import { assertOptions, heartbeatOf } from "./_policy.ts";
import { connectRfc6455 } from "./_rfc6455_engine.ts";
import type { WebSocketConnection } from "./connection.ts";
import { WebSocketTypeError } from "./errors.ts";
import type { ConnectOptions, ReconnectOptions } from "./options.ts";
import { ReconnectingWebSocketConnection, reconnectPolicy, withRetries } from "./reconnect.ts";

/**
 * Opens a WebSocket connection that re-establishes itself when it drops
 * (`reconnect.onDrop`): see `ReconnectingWebSocketConnection`. The
 * handshake is retried as `reconnect` says (timeouts, no answer, 408, 429,
 * 5xx), then rejects like the other form.
 *
 * @example Following reconnects
 * ```ts
 * import { connect, serve } from "@netkit/realtime/websocket";
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/`, {
 *   reconnect: { attempts: 20, interval: 250, maxInterval: 10_000, onDrop: true },
 * });
 * ws.addEventListener("drop", (event) => console.log("dropped with", event.detail.code));
 * ws.addEventListener("reconnect", () => void ws.send("hello again"));
 * ws.addEventListener("reconnectfailed", (event) => console.log("gave up:", event.detail));
 * ```
 */
export function connect(
  url: string | URL,
  options: ConnectOptions & { reconnect: ReconnectOptions & { onDrop: true } },
): Promise<ReconnectingWebSocketConnection>;
/**
 * Opens a WebSocket connection to `url` and resolves once the handshake
 * completed.
 *
 * Rejects with `WebSocketError` (`ERR_UNEXPECTED_STATUS` with `status`,
 * `ERR_PROTOCOL_NOT_NEGOTIATED`, `ERR_UNEXPECTED_PROTOCOL`,
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
export function connect(url: string | URL, options?: ConnectOptions): Promise<WebSocketConnection>;
export async function connect(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<WebSocketConnection> {
  const { engine = "native", signal, heartbeat = false } = options;
  const target = webSocketUrl(url);
  assertOptions(options);
  const policy = reconnectPolicy(options.reconnect);
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
  /** One handshake; `stop` (a reconnect being called off) aborts it like `signal`. */
  const dial = async (stop?: AbortSignal): Promise<Connection> => {
    const attempt = {
      ...options,
      signal: stop && signal ? AbortSignal.any([signal, stop]) : stop ?? signal,
    };
    const connection = engine === "native"
      ? await connectNative(target, attempt)
      : await connectRfc6455(target, attempt);
    if (beat) connection.startHeartbeat(beat);
    return connection;
  };
  const first = await withRetries(() => dial(), policy, signal);
  const connection = policy.onDrop
    ? new ReconnectingWebSocketConnection(first, dial, policy)
    : first;
  if (signal) {
    const onAbort = () => void connection.close(CLOSE_NORMAL).catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });
    connection.closed.then(() => signal.removeEventListener("abort", onAbort));
  }
  return connection;
}
