/**
 * netkit — realtime networking for Deno: every transport module of
 * `@netkit/realtime` as a namespace. Import a single module from its own
 * export (`jsr:@netkit/realtime/enet`, `jsr:@netkit/realtime/websocket`, …) to
 * load only that one. The server-side WebRTC peer loads native code and is
 * only available from `jsr:@netkit/realtime/webrtc/slave`.
 *
 * @example
 * ```ts
 * import { enet, framed } from "@netkit/realtime";
 *
 * await using server = framed.listen({ hostname: "127.0.0.1", port: 0 });
 * await using host = await enet.createHost({ address: { hostname: "127.0.0.1", port: 0 } });
 * console.log(server.addr.port > 0, host.address.port > 0);
 * ```
 *
 * @module
 */

export * as enet from "./enet/mod.ts";
export * as framed from "./framed/mod.ts";
export * as mesh from "./mesh/mod.ts";
export * as websocket from "./websocket/mod.ts";
export * as webrtc from "./webrtc/mod.ts";
