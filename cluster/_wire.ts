/**
 * The frame around every payload on the engine: who published it and its
 * sequence number, so receivers drop duplicates and keep per-publisher order.
 *
 * ```
 * u8 version (1) | u8 flags (bit 0: text) | u8 origin length | origin (ASCII)
 * | u32 seq high | u32 seq low | payload
 * ```
 *
 * @module
 */

const VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A decoded frame. */
export interface Frame {
  origin: string;
  seq: number;
  text: boolean;
  payload: Uint8Array;
}

/** Encodes a frame. `origin` is at most 255 ASCII characters. */
export function encodeFrame(
  origin: string,
  seq: number,
  text: boolean,
  payload: Uint8Array,
): Uint8Array {
  const head = 3 + origin.length + 8;
  const frame = new Uint8Array(head + payload.length);
  frame[0] = VERSION;
  frame[1] = text ? 1 : 0;
  frame[2] = origin.length;
  encoder.encodeInto(origin, frame.subarray(3, 3 + origin.length));
  const view = new DataView(frame.buffer, 3 + origin.length, 8);
  view.setUint32(0, Math.floor(seq / 2 ** 32));
  view.setUint32(4, seq >>> 0);
  frame.set(payload, head);
  return frame;
}

/** Decodes a frame; `undefined` for anything malformed (a foreign publisher on our subject). */
export function decodeFrame(frame: Uint8Array): Frame | undefined {
  if (frame.length < 3 || frame[0] !== VERSION) return undefined;
  const originLength = frame[2];
  const head = 3 + originLength + 8;
  if (frame.length < head) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset + 3 + originLength, 8);
  return {
    origin: decoder.decode(frame.subarray(3, 3 + originLength)),
    seq: view.getUint32(0) * 2 ** 32 + view.getUint32(4),
    text: (frame[1] & 1) === 1,
    payload: frame.subarray(head),
  };
}
