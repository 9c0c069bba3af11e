/**
 * netkit — realtime networking for Deno: every transport of
 * `@netkit/realtime` as a namespace. Import a single module from its own
 * export (`jsr:@netkit/realtime/framed`, …) to load only that one.
 *
 * @example
 * ```ts
 * import { framed } from "./mod.ts";
 *
 * await using server = framed.listen({ hostname: "127.0.0.1", port: 0 });
 * console.log(server.addr.port);
 * ```
 *
 * @module
 */

export * as framed from "./framed/mod.ts";
export * as mesh from "./mesh/mod.ts";
