/**
 * `handleUpgrade()`: turn an upgrade request inside your own `Deno.serve`
 * handler into a `WebSocketConnection`.
 *
 * @module
 */

import { rawRequests } from "./_http_front.ts";
import { upgradeNative } from "./_native_server.ts";
import type { WebSocketConnection } from "./connection.ts";
import type { UpgradeOptions } from "./options.ts";

/** Options of `handleUpgrade()`. *
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

/** What `handleUpgrade()` returns: the response to return from the handler and the connection. *
 * @example
 * ```ts
 * import { handleUpgrade } from "@netkit/realtime/websocket";
 * Deno.serve({ hostname: "127.0.0.1", port: 0 }, (request) => {
 *   const { response, connection } = handleUpgrade(request);
 *   connection.closed.then(({ code }) => console.log("closed", code));
 *   return response;
 * }).shutdown();
 * ```
 */
export interface UpgradeResult {
  /** The `101 Switching Protocols` response: return it from the `Deno.serve` handler. */
  response: Response;
  /** The connection; it opens once the response was sent (`send()` waits for that). */
  connection: WebSocketConnection;
}

/**
 * Upgrades a request received by your own `Deno.serve` handler, so HTTP routes
 * and WebSockets share one server. Authorization is yours to do before the
 * call (return a 401 instead). Native engine only: `Deno.serve` does not hand
 * out the raw TCP connection the `rfc6455` engine needs (use `serve()` for it).
 *
 * Throws `WebSocketTypeError` `ERR_INVALID_UPGRADE_REQUEST` when the request
 * is not a valid WebSocket upgrade, `ERR_UNSUPPORTED_BY_ENGINE` for
 * `engine: "rfc6455"`.
 *
 * @example HTTP routes and WebSockets on one port
 * ```ts
 * import { handleUpgrade } from "@netkit/realtime/websocket";
 * const http = Deno.serve({ hostname: "127.0.0.1", port: 0 }, (request, info) => {
 *   if (new URL(request.url).pathname !== "/ws") return new Response("hello");
 *   const { response, connection } = handleUpgrade(request, {
 *     protocols: ["chat"],
 *     remoteAddr: info.remoteAddr,
 *   });
 *   (async () => {
 *     for await (const message of connection.readable) await connection.send(message);
 *   })();
 *   return response;
 * });
 * await http.shutdown();
 * ```
 */
export function handleUpgrade(request: Request, options: HandleUpgradeOptions = {}): UpgradeResult {
  // A request read by our own head-limited HTTP front (not Deno.serve) carries its connection.
  const raw = rawRequests.get(request);
  if (raw === undefined) return upgradeNative(request, options);
  const result = upgradeNative(request, { ...options, socket: raw.socket, head: raw.head });
  raw.upgraded = true;
  return result;
}
