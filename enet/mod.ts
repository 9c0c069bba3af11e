/**
 * ENet 1.3 reliable UDP in pure TypeScript, wire-compatible with C libenet.
 *
 * This entry point currently carries the datagram compression pieces; the
 * host and peer engine are added alongside.
 *
 * @example Compress a datagram body with ENet's range coder
 * ```ts
 * import { RangeCoder } from "@netkit/realtime/enet";
 *
 * const coder = new RangeCoder();
 * const body = new TextEncoder().encode("position 1 2 3; position 1 2 4");
 * console.log(coder.compress([body], body.length)?.length);
 * ```
 *
 * @module
 */

export * from "./compressor.ts";
