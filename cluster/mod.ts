/**
 * Scale-out for netkit on an existing engine: NATS or Redis, or in-process
 * when there is only one machine. Plain pub/sub between processes, and the
 * rooms and presence that `serve({ cluster })` of `@netkit/realtime/websocket`
 * builds on it (`conn.join(room)`, `server.to(room).send()`, `.count()`).
 *
 * The engine clients load only when `connectCluster()` is given their URL.
 *
 * @example Pub/sub
 * ```ts
 * import { connectCluster } from "@netkit/realtime/cluster";
 * await using cluster = await connectCluster(); // "nats://127.0.0.1:4222" or "redis://127.0.0.1:6379"
 * const subscription = cluster.subscribe("chat.lobby");
 * await subscription.ready;
 * await cluster.publish("chat.lobby", "hello");
 * for await (const m of subscription) {
 *   console.log(m.data, m.nodeId === cluster.nodeId); // "hello" true
 *   break;
 * }
 * ```
 *
 * @module
 */

export * from "./announce.ts";
export * from "./connect.ts";
export * from "./directory.ts";
export * from "./errors.ts";
export * from "./local.ts";
export * from "./options.ts";
export * from "./rooms.ts";
export * from "./types.ts";
