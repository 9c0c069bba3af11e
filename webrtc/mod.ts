/**
 * WebRTC data channels between browsers and server-side peers, enslavism-style: a **master**
 * (this module: WebSocket signalling, slave directory, auth hooks; serves the browser client at
 * `/netkit/client.js`), **slaves** (`@netkit/realtime/webrtc/slave`, server peers on
 * `npm:node-datachannel`) and **clients** (`@netkit/realtime/webrtc/client`, browsers or Deno
 * bots).
 *
 * This module has no native dependency: it needs only `--allow-net`.
 *
 * @example
 * ```ts
 * import { serveMaster } from "@netkit/realtime/webrtc";
 * await using master = serveMaster({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   authorizeSlave: (authData) => authData.token === "secret" || "Bad token",
 *   authorizeClient: (cookies) => cookies.session ? { user: cookies.session } : "Log in first",
 * });
 * console.log(`browsers load http://127.0.0.1:${master.addr.port}/netkit/client.js`);
 * ```
 *
 * @module
 */

export * from "./master.ts";
export * from "./errors.ts";
export { CloseCode, PacketType } from "./_protocol.ts";
export { TypedEventTarget } from "../_common/typed_event_target.ts";
export type { TypedEventListener } from "../_common/typed_event_target.ts";
// The cluster types `MasterOptions.cluster` refers to (types only: no engine client is loaded).
export type {
  Cluster,
  ClusterEngine,
  ClusterMessage,
  ClusterSubscription,
} from "../cluster/types.ts";
export type * from "../cluster/directory.ts";
