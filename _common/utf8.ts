/**
 * UTF-8 helpers shared by every module (close reasons, error bodies). Not
 * part of the public API.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `text` cut to at most `maxBytes` bytes of UTF-8, never inside a character
 * (a close reason may be 123 bytes; a quoted error body a few hundred).
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return text;
  return decodeUtf8Prefix(bytes, maxBytes);
}

/** The first `maxBytes` bytes of `bytes` as text, dropping a character cut at the end. */
export function decodeUtf8Prefix(bytes: Uint8Array, maxBytes: number): string {
  const head = bytes.subarray(0, maxBytes);
  const text = decoder.decode(head);
  return head.length < bytes.length ? text.replace(/\uFFFD$/, "") : text;
}

/** UTF-8 length of a string, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length) {
      bytes += 2; // a surrogate pair: 4 bytes for 2 code units
      i++;
    } else bytes += 2;
  }
  return bytes;
}
