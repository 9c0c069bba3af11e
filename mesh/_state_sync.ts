/**
 * STATE frames in pieces: a full sync (or any batch of entries) is cut into
 * frames of at most {@linkcode MAX_CONTROL_SIZE} bytes, so a state of any
 * size travels; only an entry larger than that on its own gets a frame of
 * its own, bounded by {@linkcode stateFrameLimit}.
 *
 * @module
 */

import type { MeshStateEntry } from "./state.ts";
import { MeshSyntaxError } from "./errors.ts";
import {
  decodeJsonBody,
  isWireStateEntry,
  KIND_STATE,
  MAX_CONTROL_SIZE,
  utf8,
} from "./_protocol.ts";

/** Room in a STATE frame around one entry's key and value: clock, writer id, brackets. */
const ENTRY_OVERHEAD = 1024;

/**
 * Largest STATE frame body a member accepts when entries may be up to
 * `maxValueSize` bytes (key and value, JSON).
 */
export function stateFrameLimit(maxValueSize: number): number {
  return Math.max(MAX_CONTROL_SIZE, maxValueSize + ENTRY_OVERHEAD);
}

/**
 * Encodes `entries` as STATE frames (`{full, entries}`), each at most
 * `budget` bytes unless a single entry is larger.
 */
export function stateFrames(
  entries: readonly MeshStateEntry[],
  full: boolean,
  budget: number = MAX_CONTROL_SIZE,
): Uint8Array[] {
  const head = utf8(`{"full":${full},"entries":[`);
  const tail = utf8("]}");
  const frames: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  let size = 1 + head.length + tail.length;
  const flush = () => {
    const frame = new Uint8Array(size);
    frame[0] = KIND_STATE;
    frame.set(head, 1);
    let offset = 1 + head.length;
    parts.forEach((part, i) => {
      if (i > 0) frame[offset++] = 0x2c; // ","
      frame.set(part, offset);
      offset += part.length;
    });
    frame.set(tail, offset);
    frames.push(frame);
    parts = [];
    size = 1 + head.length + tail.length;
  };
  for (const entry of entries) {
    const part = utf8(JSON.stringify(entry));
    const extra = part.length + (parts.length > 0 ? 1 : 0);
    if (parts.length > 0 && size + extra > budget) flush();
    size += part.length + (parts.length > 0 ? 1 : 0);
    parts.push(part);
  }
  if (parts.length > 0) flush();
  return frames;
}

/**
 * The entries of a STATE frame of at most `limit` bytes (see
 * {@linkcode stateFrameLimit}); `ERR_INVALID_FRAME` when malformed.
 */
export function decodeStateFrame(frame: Uint8Array, limit: number): MeshStateEntry[] {
  const body = decodeJsonBody(frame, 1, limit) as { entries?: unknown };
  if (!Array.isArray(body?.entries) || !body.entries.every(isWireStateEntry)) {
    throw new MeshSyntaxError("ERR_INVALID_FRAME", "Malformed STATE frame");
  }
  return body.entries as MeshStateEntry[];
}
