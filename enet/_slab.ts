/**
 * Copies of small byte ranges carved out of shared 16 KiB slabs, like
 * Node's Buffer pool: one `subarray` view instead of a new ArrayBuffer per
 * packet, which is most of the per-message cost of a naive `slice()`.
 * A copy never aliases live data (each range is handed out once), but its
 * `.buffer` is the slab: call `slice()` for an own ArrayBuffer.
 *
 * @module
 */

import { EnetTypeError } from "./errors.ts";

const SLAB_SIZE = 16 * 1024;
/** Larger copies get their own buffer. */
const SLAB_MAXIMUM_COPY = 2048;

let slab = new Uint8Array(SLAB_SIZE);
let used = 0;

/** Returns a private copy of `source` (a view into a shared slab when small). */
export function copyBytes(source: Uint8Array): Uint8Array {
  const length = source.length;
  if (length > SLAB_MAXIMUM_COPY) return source.slice();
  if (used + length > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    used = 0;
  }
  const start = used;
  slab.set(source, start);
  used = (start + length + 7) & ~7;
  return slab.subarray(start, start + length);
}

const utf8 = new TextEncoder();

/** What `send()` and `broadcast()` take: UTF-8 text, any typed array or DataView, or an ArrayBuffer. */
export type PacketData = string | ArrayBufferView | ArrayBuffer;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return (value as object).constructor?.name ?? "an object";
  return typeof value;
}

/**
 * A private copy of a packet's bytes, byte-exact for any view (a
 * Float32Array of 2 elements is 8 bytes); throws `ERR_INVALID_DATA` for
 * anything else.
 */
export function packetBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return copyBytes(data);
  if (typeof data === "string") return utf8.encode(data);
  if (ArrayBuffer.isView(data)) {
    return copyBytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) {
    return copyBytes(new Uint8Array(data));
  }
  throw new EnetTypeError(
    "ERR_INVALID_DATA",
    `Packet data must be a string, an ArrayBufferView or an ArrayBuffer, got ${describe(data)}`,
  );
}
