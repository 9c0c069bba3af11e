/**
 * Byte helpers shared by every module. Not part of the public API.
 *
 * @module
 */

/**
 * Whether `a` and `b` hold the same bytes. The time taken depends only on the
 * lengths, never on where the first difference is, so it is also the
 * comparison for MACs and proofs (mesh) and not only for ping payloads
 * (websocket).
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
