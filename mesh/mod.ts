/**
 * A serverless peer-to-peer full mesh over TCP (or TLS): every member listens
 * and connects to every other one, membership converges by gossip, silent
 * members are detected by heartbeats, names are unique, an optional shared
 * secret authenticates every connection and frame, and a replicated
 * last-writer-wins key/value state is kept on every member.
 *
 * ```ts
 * import { joinMesh } from "./mod.ts";
 *
 * await using alice = await joinMesh({ name: "alice", hostname: "127.0.0.1", port: 0 });
 * await using bob = await joinMesh({ name: "bob", seeds: [alice.addr] });
 * alice.addEventListener("message", (e) => console.log(e.detail.from, e.detail.content));
 * await bob.broadcast("chat", { text: "hi" });
 * bob.state.set("score", 10);
 * ```
 *
 * Permissions: `--allow-net` for the bind address and the members' addresses.
 *
 * @module
 */

export * from "./mesh.ts";
export * from "./options.ts";
export * from "./types.ts";
export * from "./peer.ts";
export * from "./state.ts";
export * from "./errors.ts";
export { TypedEventTarget } from "../_common/typed_event_target.ts";
export type { TypedEventListener } from "../_common/typed_event_target.ts";
