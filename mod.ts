/**
 * netkit (`@netkit/realtime`): realtime networking for Deno. Each transport
 * lives in its own folder and is re-exported here as a namespace; import a
 * single module from its own export (`@netkit/realtime/websocket`) to load
 * only that one.
 *
 * @example
 * ```ts
 * import { websocket } from "@netkit/realtime";
 * await using server = websocket.serve({ hostname: "127.0.0.1", port: 0 });
 * console.log(server.addr.port);
 * ```
 *
 * @module
 */

export * as websocket from "./websocket/mod.ts";
export * as webrtc from "./webrtc/mod.ts";
