/**
 * Frames larger than {@linkcode FRAGMENT_SIZE} travel as FRAGMENT pieces, so
 * the transport's frame limit stays small while large messages still pass.
 * The receiver joins the pieces once the last one arrives, refusing to hold
 * more than its message limit.
 *
 * @module
 */

import { MeshSyntaxError } from "./errors.ts";
import { FRAGMENT_SIZE, KIND_FRAGMENT, messageTooLarge } from "./_protocol.ts";

/** Splits `frame` into FRAGMENT pieces of at most `size` bytes of it each. */
export function fragment(frame: Uint8Array, size: number = FRAGMENT_SIZE): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < frame.length; offset += size) {
    const part = frame.subarray(offset, offset + size);
    const piece = new Uint8Array(2 + part.length);
    piece[0] = KIND_FRAGMENT;
    piece[1] = offset + size >= frame.length ? 1 : 0;
    piece.set(part, 2);
    pieces.push(piece);
  }
  return pieces;
}

/** Joins FRAGMENT pieces back into frames, holding at most `limit` bytes. */
export class Reassembler {
  #limit: number;
  #pieces: Uint8Array[] = [];
  #size = 0;

  /** @param limit largest frame accepted, in bytes */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Bytes held for a frame not complete yet. */
  get size(): number {
    return this.#size;
  }

  /**
   * Takes one FRAGMENT piece; returns the whole frame when it was the last.
   * Throws `ERR_MESSAGE_TOO_LARGE` above the limit.
   */
  push(piece: Uint8Array): Uint8Array | undefined {
    if (piece.length < 3 || piece[1] > 1) {
      throw new MeshSyntaxError("ERR_INVALID_FRAME", "Malformed fragment");
    }
    const part = piece.subarray(2);
    this.#size += part.length;
    if (this.#size > this.#limit) {
      const size = this.#size;
      this.#pieces = [];
      this.#size = 0;
      throw messageTooLarge(size, this.#limit);
    }
    // The transport may reuse its buffer: keep a copy.
    this.#pieces.push(part.slice());
    if (piece[1] === 0) return undefined;
    const frame = new Uint8Array(this.#size);
    let offset = 0;
    for (const p of this.#pieces) {
      frame.set(p, offset);
      offset += p.length;
    }
    this.#pieces = [];
    this.#size = 0;
    if (frame[0] === KIND_FRAGMENT) {
      throw new MeshSyntaxError("ERR_INVALID_FRAME", "Nested fragment");
    }
    return frame;
  }
}
