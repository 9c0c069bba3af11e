/**
 * WebSocket server and client for Deno with two engines behind one API:
 * `"rfc6455"` (the default of `serve()`) is our own RFC 6455 implementation
 * on plain TCP/TLS sockets, which enforces every limit a hostile peer could
 * push (a 1009 close before allocating, unmasked frames refused, fragments,
 * inflated bytes and unread messages bounded, TCP backpressure on receive)
 * and adds ping/pong, streamed fragments and permessage-deflate; `"native"`
 * (the default of `connect()`, the engine of `handleUpgrade()`) rides on
 * Deno's built-in WebSocket (`Deno.upgradeWebSocket`, `new WebSocket`).
 *
 * Every connection is a `readable` of whole messages and a `send()` that
 * applies backpressure; servers are async iterables of connections.
 *
 * @example Echo server and client
 * ```ts
 * import { connect, serve } from "@netkit/realtime/websocket";
 *
 * await using server = serve({ hostname: "127.0.0.1", port: 0, protocols: ["chat"] });
 * (async () => {
 *   for await (const conn of server) {
 *     (async () => {
 *       for await (const message of conn.readable) await conn.send(message);
 *     })();
 *   }
 * })();
 *
 * await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/chat`, {
 *   protocols: ["chat"],
 * });
 * await ws.send("hello");
 * for await (const message of ws.readable) {
 *   console.log(message); // "hello"
 *   break;
 * }
 * ```
 *
 * @module
 */

export * from "./connect.ts";
export * from "./connection.ts";
export * from "./errors.ts";
export * from "./group.ts";
export * from "./handle_upgrade.ts";
export { serveHttp, type ServeHttpOptions } from "./_http_front.ts";
export * from "./options.ts";
export { type ReconnectingEventMap, ReconnectingWebSocketConnection } from "./reconnect.ts";
export { TypedEventTarget } from "../_common/typed_event_target.ts";
export type { TypedEventListener } from "../_common/typed_event_target.ts";
export * from "./server.ts";
export type { PresenceEvent, PresenceWatch, RoomMember, RoomTarget } from "../cluster/rooms.ts";
export type {
  Cluster,
  ClusterEngine,
  ClusterMessage,
  ClusterSubscription,
} from "../cluster/types.ts";
export type * from "../cluster/directory.ts";
