/**
 * RFC 6455 framing: wire constants, frame header parsing, frame encoding and
 * (un)masking. Everything here is synchronous and allocation-free on the hot
 * path; the socket (`_rfc6455.ts`) drives it from a growing reusable buffer.
 *
 * @module
 */

/** Continuation frame opcode. */
export const OPCODE_CONTINUATION = 0x0;
/** Text frame opcode. */
export const OPCODE_TEXT = 0x1;
/** Binary frame opcode. */
export const OPCODE_BINARY = 0x2;
/** Close frame opcode. */
export const OPCODE_CLOSE = 0x8;
/** Ping frame opcode. */
export const OPCODE_PING = 0x9;
/** Pong frame opcode. */
export const OPCODE_PONG = 0xa;

/** FIN bit of the first header byte. */
export const FIN = 0x80;
/** RSV1 bit (permessage-deflate "compressed" flag). */
export const RSV1 = 0x40;
/** RSV2 bit. */
export const RSV2 = 0x20;
/** RSV3 bit. */
export const RSV3 = 0x10;
/** MASK bit of the second header byte. */
export const MASK = 0x80;

/** Largest payload of a control frame (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;
/** The largest close reason in UTF-8 bytes: the control payload less the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;
/** Largest header: 2 + 8 (64-bit length) + 4 (mask key). */
export const MAX_HEADER_SIZE = 14;

/** Close codes (RFC 6455 §7.4.1). */
export const CLOSE_NORMAL = 1000;
/** Endpoint going away. */
export const CLOSE_GOING_AWAY = 1001;
/** Protocol error. */
export const CLOSE_PROTOCOL_ERROR = 1002;
/** Unsupported data. */
export const CLOSE_UNSUPPORTED_DATA = 1003;
/** No status code present (never sent on the wire). */
export const CLOSE_NO_STATUS = 1005;
/** Abnormal closure: no close frame (never sent on the wire). */
export const CLOSE_ABNORMAL = 1006;
/** Invalid frame payload data (bad UTF-8). */
export const CLOSE_INVALID_PAYLOAD = 1007;
/** Policy violation. */
export const CLOSE_POLICY_VIOLATION = 1008;
/** Message too big. */
export const CLOSE_MESSAGE_TOO_BIG = 1009;
/** Mandatory extension missing. */
export const CLOSE_MANDATORY_EXTENSION = 1010;
/** Internal error. */
export const CLOSE_INTERNAL_ERROR = 1011;
/** Service restart. */
export const CLOSE_SERVICE_RESTART = 1012;
/** Try again later (out of buffer budget, overloaded). */
export const CLOSE_TRY_AGAIN_LATER = 1013;
/** Bad gateway. */
export const CLOSE_BAD_GATEWAY = 1014;
/** TLS handshake failure (never sent on the wire). */
export const CLOSE_TLS_HANDSHAKE = 1015;

/** Whether `code` may appear in a close frame on the wire (RFC 6455 §7.4). */
export function isValidCloseCode(code: number): boolean {
  return (code >= CLOSE_NORMAL && code <= CLOSE_UNSUPPORTED_DATA) ||
    (code >= CLOSE_INVALID_PAYLOAD && code <= CLOSE_BAD_GATEWAY) ||
    (code >= 3000 && code <= 4999);
}

/** A parsed frame header. Reused by the parser: copy fields you keep. */
export interface FrameHeader {
  /** FIN bit set. */
  fin: boolean;
  /** The three RSV bits as they sit in the first byte (0x70 mask). */
  rsv: number;
  /** Opcode (low nibble of the first byte). */
  opcode: number;
  /** Whether a mask key follows the length. */
  masked: boolean;
  /** Payload length; up to 2^53 - 1 (larger claims are reported as `Infinity`). */
  length: number;
  /** Mask key as 4 bytes read little-endian into one 32-bit word (0 when unmasked). */
  maskKey: number;
  /** Header size in bytes (2..14). */
  headerSize: number;
}

/**
 * Parses the frame header at `buf[start..end)` into `out`. Returns `false`
 * when the bytes are not all there yet (nothing is consumed).
 */
export function parseHeader(
  buf: Uint8Array,
  start: number,
  end: number,
  out: FrameHeader,
): boolean {
  const available = end - start;
  if (available < 2) return false;
  const b0 = buf[start];
  const b1 = buf[start + 1];
  const masked = (b1 & MASK) !== 0;
  let length = b1 & 0x7f;
  let size = 2;
  if (length === 126) {
    size = 4;
  } else if (length === 127) {
    size = 10;
  }
  if (masked) size += 4;
  if (available < size) return false;
  if (length === 126) {
    length = (buf[start + 2] << 8) | buf[start + 3];
  } else if (length === 127) {
    const high = ((buf[start + 2] << 24) >>> 0) + ((buf[start + 3] << 16) | (buf[start + 4] << 8) |
      buf[start + 5]);
    const low = ((buf[start + 6] << 24) >>> 0) +
      ((buf[start + 7] << 16) | (buf[start + 8] << 8) | buf[start + 9]);
    // The most significant bit must be 0 (RFC 6455 §5.2); anything past
    // 2^53 cannot be represented exactly and is far beyond any limit anyway.
    length = high >= 0x200000 ? Infinity : high * 0x100000000 + low;
  }
  out.fin = (b0 & FIN) !== 0;
  out.rsv = b0 & 0x70;
  out.opcode = b0 & 0x0f;
  out.masked = masked;
  out.length = length;
  out.headerSize = size;
  if (masked) {
    const m = start + size - 4;
    out.maskKey = (buf[m] | (buf[m + 1] << 8) | (buf[m + 2] << 16) | (buf[m + 3] << 24)) >>> 0;
  } else {
    out.maskKey = 0;
  }
  return true;
}

/** A fresh header record for {@linkcode parseHeader}. */
export function newHeader(): FrameHeader {
  return { fin: false, rsv: 0, opcode: 0, masked: false, length: 0, maskKey: 0, headerSize: 0 };
}

/** Size of the header needed for a payload of `length` bytes. */
export function headerSize(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a frame header into `out` at `offset`; returns the offset where the
 * payload starts. `maskKey` is the little-endian 32-bit mask word, or
 * `undefined` for an unmasked frame.
 */
export function writeHeader(
  out: Uint8Array,
  offset: number,
  firstByte: number,
  length: number,
  maskKey: number | undefined,
): number {
  const maskBit = maskKey === undefined ? 0 : MASK;
  out[offset++] = firstByte;
  if (length < 126) {
    out[offset++] = maskBit | length;
  } else if (length < 0x10000) {
    out[offset++] = maskBit | 126;
    out[offset++] = length >>> 8;
    out[offset++] = length & 0xff;
  } else {
    out[offset++] = maskBit | 127;
    const high = Math.floor(length / 0x100000000);
    out[offset++] = 0;
    out[offset++] = 0;
    out[offset++] = (high >>> 8) & 0xff;
    out[offset++] = high & 0xff;
    out[offset++] = (length >>> 24) & 0xff;
    out[offset++] = (length >>> 16) & 0xff;
    out[offset++] = (length >>> 8) & 0xff;
    out[offset++] = length & 0xff;
  }
  if (maskKey !== undefined) {
    out[offset++] = maskKey & 0xff;
    out[offset++] = (maskKey >>> 8) & 0xff;
    out[offset++] = (maskKey >>> 16) & 0xff;
    out[offset++] = maskKey >>> 24;
  }
  return offset;
}

/**
 * XORs `src` with the mask into `dst` (which may be `src` itself, for in-place
 * unmasking). `phase` is the index of the first byte within the masked
 * payload, so a payload can be processed in pieces. Aligned middles go
 * through 32-bit words.
 */
export function applyMask(
  src: Uint8Array,
  dst: Uint8Array,
  maskKey: number,
  phase = 0,
): void {
  const length = src.length;
  let i = 0;
  // Byte-wise until both views are 4-aligned (or the payload ends).
  if (length >= 16 && (src.byteOffset & 3) !== (dst.byteOffset & 3)) {
    // Misaligned relative to each other: a memcpy then an aligned in-place
    // pass beats a byte-wise loop.
    dst.set(src);
    src = dst;
  }
  const srcMis = src.byteOffset & 3;
  if (length >= 16) {
    const lead = (4 - srcMis) & 3;
    for (; i < lead; i++) {
      dst[i] = src[i] ^ ((maskKey >>> (((phase + i) & 3) << 3)) & 0xff);
    }
    const rot = ((phase + i) & 3) << 3;
    const word = rot === 0 ? maskKey : ((maskKey >>> rot) | (maskKey << (32 - rot))) >>> 0;
    const words = (length - i) >>> 2;
    const s32 = new Uint32Array(src.buffer, src.byteOffset + i, words);
    const d32 = s32.buffer === dst.buffer && src.byteOffset === dst.byteOffset
      ? s32
      : new Uint32Array(dst.buffer, dst.byteOffset + i, words);
    for (let w = 0; w < words; w++) d32[w] = s32[w] ^ word;
    i += words << 2;
  }
  for (; i < length; i++) {
    dst[i] = src[i] ^ ((maskKey >>> (((phase + i) & 3) << 3)) & 0xff);
  }
}

/**
 * Encodes one complete frame into a new buffer (used for control frames and
 * by tests). Data frames on the hot path are written straight into the
 * socket's scratch buffer instead.
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: { fin?: boolean; rsv?: number; maskKey?: number } = {},
): Uint8Array {
  const { fin = true, rsv = 0, maskKey } = options;
  const masked = maskKey !== undefined;
  const out = new Uint8Array(headerSize(payload.length, masked) + payload.length);
  const at = writeHeader(out, 0, (fin ? FIN : 0) | rsv | opcode, payload.length, maskKey);
  if (masked) applyMask(payload, out.subarray(at), maskKey);
  else out.set(payload, at);
  return out;
}

/** Hands out random 32-bit mask keys from a pool refilled in bulk. */
export class MaskKeys {
  #pool = new Uint32Array(256);
  #next = 256;
  /** A fresh random mask key. */
  next(): number {
    if (this.#next === this.#pool.length) {
      crypto.getRandomValues(this.#pool);
      this.#next = 0;
    }
    return this.#pool[this.#next++];
  }
}

/** Encodes a close frame payload: 2-byte code + UTF-8 reason. */
export function encodeClosePayload(code: number | undefined, reason: string): Uint8Array {
  if (code === undefined) return new Uint8Array(0);
  const text = new TextEncoder().encode(reason);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/**
 * The byte stream a WebSocket runs on: a `Deno.Conn` (TCP, client TLS) or
 * the server TLS connection of `_common/tls_accept.ts`.
 */
export interface ByteStream {
  read(target: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
  readonly remoteAddr: Deno.Addr;
}
