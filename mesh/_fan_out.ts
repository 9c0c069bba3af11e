/**
 * Fan-out of one frame to every open link: a broadcast waits for the links
 * that keep up and never for one that is behind (its queue stays bounded by
 * `maxQueuedBytes`), and broadcasts of one burst share one combined promise.
 * No sockets of its own: the links are handed in.
 *
 * @module
 */

/** What a fan-out needs of a link. */
export interface FanOutLink {
  /** Whether the link still accepts frames. */
  readonly open: boolean;
  /** Queues a frame; resolves once written. */
  post(frame: Uint8Array): Promise<void>;
  /** Queues a frame of a fan-out; `undefined` when the link is behind. */
  postFanOut(frame: Uint8Array): Promise<void> | undefined;
}

/** Anything holding a link (a member of the table). */
export interface LinkHolder<L extends FanOutLink = FanOutLink> {
  readonly link?: L;
}

/** Sends frames to the links of many members at once. */
export class FanOut {
  #last?: { writes: Promise<void>[]; all: Promise<void> };

  /**
   * Queues `frame` on the open link of every holder; resolves once it is
   * written to each link that keeps up.
   */
  broadcast(holders: Iterable<LinkHolder>, frame: Uint8Array): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const holder of holders) {
      const link = holder.link;
      if (!link?.open) continue;
      // A link behind gets the frame queued but is not waited for: it must
      // not set everyone's pace.
      const write = link.postFanOut(frame);
      if (write) writes.push(write);
    }
    if (writes.length <= 1) return writes[0] ?? Promise.resolve();
    // Broadcasts in one burst land in the same batch on every link: share
    // one combined promise instead of building one per message.
    const last = this.#last;
    if (
      last && last.writes.length === writes.length && last.writes.every((w, i) => w === writes[i])
    ) return last.all;
    const all = Promise.all(writes).then(() => {});
    this.#last = { writes, all };
    return all;
  }

  /**
   * Queues every frame of `frames` on the open link of every holder,
   * without waiting (a link that fails reports it itself); returns the
   * links used.
   */
  post<L extends FanOutLink>(holders: Iterable<LinkHolder<L>>, frames: readonly Uint8Array[]): L[] {
    const used: L[] = [];
    for (const holder of holders) {
      const link = holder.link;
      if (!link?.open) continue;
      for (const frame of frames) link.post(frame).catch(() => {});
      used.push(link);
    }
    return used;
  }
}
