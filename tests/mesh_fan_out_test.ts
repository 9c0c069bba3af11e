/**
 * mesh/_fan_out.ts on its own: a broadcast waits for the links that keep up
 * and not for one that is behind, a burst shares one promise, and a flood
 * queues every frame on every open link. Fake links, no sockets, no timers.
 */
import assert from "node:assert/strict";
import { FanOut, type FanOutLink } from "../mesh/_fan_out.ts";

/** A link that records what it was given; `behind` makes postFanOut() not wait. */
class FakeLink implements FanOutLink {
  frames: Uint8Array[] = [];
  written = Promise.withResolvers<void>();
  constructor(public open = true, public behind = false) {}
  post(frame: Uint8Array): Promise<void> {
    this.frames.push(frame);
    return this.written.promise;
  }
  postFanOut(frame: Uint8Array): Promise<void> | undefined {
    const done = this.post(frame);
    return this.behind ? undefined : done;
  }
}

const frame = (byte: number) => new Uint8Array([byte]);

Deno.test("FanOut.broadcast() queues the frame on every open link and skips closed or missing ones", async () => {
  const fanOut = new FanOut();
  const a = new FakeLink();
  const closed = new FakeLink(false);
  const done = fanOut.broadcast([{ link: a }, { link: closed }, {}], frame(1));
  assert.deepEqual(a.frames, [frame(1)]);
  assert.deepEqual(closed.frames, []);
  a.written.resolve();
  await done;
});

Deno.test("FanOut.broadcast() resolves without waiting for a link that is behind", async () => {
  const fanOut = new FanOut();
  const quick = new FakeLink();
  const slow = new FakeLink(true, true);
  const done = fanOut.broadcast([{ link: quick }, { link: slow }], frame(2));
  assert.deepEqual(slow.frames, [frame(2)], "the slow link still gets the frame queued");
  quick.written.resolve();
  await done;
});

Deno.test("FanOut.broadcast() resolves at once when nobody is linked", async () => {
  await new FanOut().broadcast([], frame(3));
});

Deno.test("FanOut.broadcast() shares one promise between broadcasts of the same burst", async () => {
  const fanOut = new FanOut();
  const a = new FakeLink();
  const b = new FakeLink();
  const holders = [{ link: a }, { link: b }];
  const first = fanOut.broadcast(holders, frame(4));
  const second = fanOut.broadcast(holders, frame(5));
  assert.equal(first, second);
  // A different set of writes gets a promise of its own.
  const c = new FakeLink();
  assert.notEqual(fanOut.broadcast([{ link: a }, { link: c }], frame(6)), first);
  for (const link of [a, b, c]) link.written.resolve();
  await first;
});

Deno.test("FanOut.post() queues every frame on every open link and returns the links used", () => {
  const fanOut = new FanOut();
  const a = new FakeLink();
  const closed = new FakeLink(false);
  const b = new FakeLink();
  const used = fanOut.post([{ link: a }, { link: closed }, { link: b }], [frame(7), frame(8)]);
  assert.deepEqual(used, [a, b]);
  assert.deepEqual(a.frames, [frame(7), frame(8)]);
  assert.deepEqual(b.frames, [frame(7), frame(8)]);
  assert.deepEqual(closed.frames, []);
});
