/**
 * The seed's length framing, byte for byte (Ptolemy accessors `socket`
 * module, Vert.x buffers underneath): a payload shorter than
 * {@linkcode SHORT_LENGTH_LIMIT} bytes gets a one-byte header holding its
 * length; any other gets {@linkcode LONG_LENGTH_MARKER} followed by the
 * length as a 4-byte big-endian signed int. Lengths count payload bytes.
 *
 * @module
 */

/** Payloads shorter than this use the one-byte header. */
export const SHORT_LENGTH_LIMIT = 255;
/** First byte of the five-byte header. */
export const LONG_LENGTH_MARKER = 0xff;
/** Size of the one-byte header. */
export const SHORT_HEADER_SIZE = 1;
/** Size of the five-byte header: marker plus 4-byte length. */
export const LONG_HEADER_SIZE = 5;
/** The largest length the seed's signed 4-byte field can carry. */
export const MAX_WIRE_LENGTH = 0x7fff_ffff;

/** Header size for a payload of `length` bytes. */
export function headerSize(length: number): number {
  return length < SHORT_LENGTH_LIMIT ? SHORT_HEADER_SIZE : LONG_HEADER_SIZE;
}

/** Writes the header for `length` at `offset`; returns the header size. */
export function writeHeader(target: Uint8Array, offset: number, length: number): number {
  if (length < SHORT_LENGTH_LIMIT) {
    target[offset] = length;
    return SHORT_HEADER_SIZE;
  }
  target[offset] = LONG_LENGTH_MARKER;
  target[offset + 1] = length >>> 24;
  target[offset + 2] = (length >>> 16) & 0xff;
  target[offset + 3] = (length >>> 8) & 0xff;
  target[offset + 4] = length & 0xff;
  return LONG_HEADER_SIZE;
}

/**
 * Reads the long-form length that follows the marker at `offset`, as an
 * unsigned number (a value above {@linkcode MAX_WIRE_LENGTH} is what the seed
 * would read as negative).
 */
export function readLongLength(source: Uint8Array, offset: number): number {
  return (source[offset + 1] * 0x100_0000) +
    ((source[offset + 2] << 16) | (source[offset + 3] << 8) | source[offset + 4]);
}
