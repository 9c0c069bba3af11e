/**
 * Duplicate suppression for one subject's frames, shared by the cluster core,
 * rooms and directories. Private.
 *
 * @module
 */

import type { Frame } from "./_wire.ts";

/** Origins remembered per listener for duplicate suppression. */
const MAX_ORIGINS = 4096;

/** Receives the frames of one subject, each at most once and in order per origin. */
export class Listener {
  #last = new Map<string, number>();
  #onFrame: (frame: Frame) => void;

  constructor(onFrame: (frame: Frame) => void) {
    this.#onFrame = onFrame;
  }

  deliver(frame: Frame): void {
    const last = this.#last.get(frame.origin);
    if (last !== undefined && frame.seq <= last) return; // a duplicate (or replayed) frame
    this.#last.delete(frame.origin);
    this.#last.set(frame.origin, frame.seq);
    if (this.#last.size > MAX_ORIGINS) this.#last.delete(this.#last.keys().next().value!);
    this.#onFrame(frame);
  }
}
