/**
 * Datagram compression for ENet hosts: the pluggable {@linkcode Compressor}
 * interface and ENet's own range coder, {@linkcode RangeCoder}.
 *
 * @module
 */

import { EnetRangeCoder } from "./_range_coder.ts";

/**
 * Compresses the command part of outgoing datagrams and restores it on
 * receipt; the TypeScript form of C's `ENetCompressor`. A host calls it for
 * every datagram, one at a time, so an implementation may keep scratch state.
 *
 * ENet does not negotiate compression: both ends must use the same compressor,
 * or every compressed datagram is silently dropped.
 *
 * @example A compressor that never compresses (datagrams go out as they are)
 * ```ts
 * import type { Compressor } from "@netkit/realtime/enet";
 *
 * const identity: Compressor = {
 *   compress: () => null,
 *   decompress: (data, limit) => data.length <= limit ? data.slice() : null,
 * };
 * ```
 */
export interface Compressor {
  /**
   * Compresses the concatenation of `chunks` (datagram commands and payloads,
   * in order). Returns the compressed bytes, or `null` when the result would be
   * longer than `limit` bytes or the input cannot be compressed. The host sends
   * the result only when it is shorter than the input.
   */
  compress(chunks: readonly Uint8Array[], limit: number): Uint8Array | null;
  /**
   * Restores what {@linkcode Compressor.compress} produced. Returns the
   * original bytes, or `null` when `data` is malformed or would decompress to
   * more than `limit` bytes.
   */
  decompress(data: Uint8Array, limit: number): Uint8Array | null;
}

/**
 * ENet's built-in adaptive order-2 range coder, bit-exact with C
 * `enet_host_compress_with_range_coder()` in both directions (and with npm
 * `enet`'s `enableCompression()`). Each call is independent: the model is
 * rebuilt for every datagram, as in C. Not safe for concurrent use by two
 * hosts at once; give each host its own instance.
 *
 * @example Round trip
 * ```ts
 * import { RangeCoder } from "@netkit/realtime/enet";
 *
 * const coder = new RangeCoder();
 * const text = new TextEncoder().encode("hello hello hello hello hello");
 * const packed = coder.compress([text], text.length);
 * if (packed) {
 *   const unpacked = coder.decompress(packed, 4096);
 *   console.log(packed.length, "<", text.length, unpacked?.length === text.length);
 * }
 * ```
 */
export class RangeCoder implements Compressor {
  readonly #coder = new EnetRangeCoder();
  #scratch = new Uint8Array(4096);

  #scratchOf(size: number): Uint8Array {
    if (this.#scratch.length < size) this.#scratch = new Uint8Array(size);
    return this.#scratch;
  }

  /**
   * Compresses `chunks` into at most `limit` bytes; `null` when the output would
   * exceed `limit` or the input is empty.
   */
  compress(chunks: readonly Uint8Array[], limit: number): Uint8Array | null {
    if (!(limit > 0)) return null;
    let inLimit = 0;
    for (const chunk of chunks) inLimit += chunk.length;
    const out = this.#scratchOf(limit);
    const length = this.#coder.compress(chunks, inLimit, out, limit);
    return length > 0 ? out.slice(0, length) : null;
  }

  /**
   * Decompresses `data` into at most `limit` bytes; `null` when it is malformed
   * or would exceed `limit`.
   */
  decompress(data: Uint8Array, limit: number): Uint8Array | null {
    if (!(limit > 0) || data.length === 0) return null;
    const out = this.#scratchOf(limit);
    const length = this.#coder.decompress(data, data.length, out, limit);
    return length > 0 ? out.slice(0, length) : null;
  }
}
