/**
 * netkit — realtime networking for Deno: every transport module of
 * `@netkit/realtime` as a namespace. Import a single module from its own
 * export (`jsr:@netkit/realtime/enet`) to load only that one.
 *
 * @example
 * ```ts
 * import { enet } from "@netkit/realtime";
 *
 * await using host = await enet.createHost({ address: { hostname: "127.0.0.1", port: 0 } });
 * console.log(host.address.port > 0);
 * ```
 *
 * @module
 */

export * as enet from "./enet/mod.ts";
