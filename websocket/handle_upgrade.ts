/**
 * `handleUpgrade()`: turn an upgrade request inside your own `Deno.serve`
 * handler into a `WebSocketConnection`.
 *
 * @module
 */

import type { RoomTarget } from "../cluster/rooms.ts";
import type { Cluster } from "../cluster/types.ts";
import { rawRequests } from "./_http_front.ts";
import { upgradeNative } from "./_native_server.ts";
import { hubOf, processLocalCluster } from "./_rooms.ts";
import { fanOut } from "./_server_core.ts";
import type { ServerWebSocketConnection, WebSocketConnection } from "./connection.ts";
import type { HandleUpgradeOptions } from "./options.ts";

/**
 * What `handleUpgrade()` returns: the response to return from the handler and the connection.
 *
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
  connection: ServerWebSocketConnection;
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
  const result = raw === undefined
    ? upgradeNative(request, options)
    : upgradeNative(request, { ...options, socket: raw.socket, head: raw.head });
  if (raw !== undefined) raw.upgraded = true;
  const { cluster } = options;
  result.connection.useRooms(() => hubOf(cluster ?? processLocalCluster(), fanOut));
  return result;
}

/**
 * The rooms of `handleUpgrade()` connections: `to(room)` like `server.to(room)`.
 *
 * @example
 * ```ts
 * import { rooms, type WebSocketRooms } from "@netkit/realtime/websocket";
 * const lobby: WebSocketRooms = rooms();
 * await lobby.to("lobby").send("hi");
 * ```
 */
export interface WebSocketRooms {
  /** Addresses the members of `room`, like `WebSocketServer.to()`. */
  to(room: string): RoomTarget<WebSocketConnection>;
}

/**
 * The rooms of connections from `handleUpgrade(request, { cluster })`: pass
 * the same `cluster` (or none for the process's in-process rooms).
 *
 * @example Rooms in your own Deno.serve handler
 * ```ts
 * import { handleUpgrade, rooms } from "@netkit/realtime/websocket";
 * const http = Deno.serve({ hostname: "127.0.0.1", port: 0 }, (request) => {
 *   const { response, connection } = handleUpgrade(request);
 *   void connection.join("lobby").then(() => rooms().to("lobby").except(connection).send("joined"));
 *   return response;
 * });
 * await http.shutdown();
 * ```
 */
export function rooms(cluster?: Cluster): WebSocketRooms {
  const hub = () => hubOf(cluster ?? processLocalCluster(), fanOut);
  return { to: (room) => hub().to(room) as RoomTarget<WebSocketConnection> };
}
