/**
 * Copies of small byte ranges carved out of shared 16 KiB slabs, like
 * Node's Buffer pool: one `subarray` view instead of a new ArrayBuffer per
 * packet, which is most of the per-message cost of a naive `slice()`.
 * A copy never aliases live data (each range is handed out once), but its
 * `.buffer` is the slab: call `slice()` for an own ArrayBuffer.
 *
 * @module
 */

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
