import assert from "node:assert/strict";
import { SendQueue } from "../_common/send_queue.ts";

Deno.test("SendQueue writes in order, one at a time, and refuses past maxMessages", async () => {
  const written: number[] = [];
  let inFlight = 0;
  const gate = Promise.withResolvers<void>();
  const queue = new SendQueue<number>({ maxMessages: 3, maxBytes: 1 << 20, sendTimeout: 0 }, {
    async write(n) {
      inFlight++;
      assert.equal(inFlight, 1);
      if (n === 0) await gate.promise;
      written.push(n);
      inFlight--;
    },
  });
  assert.equal(queue.offer(0, 0), undefined); // taken by the writer at once
  for (const n of [1, 2, 3]) assert.equal(queue.offer(n, 0), undefined);
  assert.equal(queue.offer(4, 0), "full", "empty messages count too");
  gate.resolve();
  await queue.idle();
  assert.deepEqual(written, [0, 1, 2, 3]);
});

Deno.test("SendQueue refuses past maxBytes but always takes one message into an empty queue", async () => {
  const gate = Promise.withResolvers<void>();
  const queue = new SendQueue<string>({ maxMessages: 100, maxBytes: 10, sendTimeout: 0 }, {
    write: () => gate.promise,
  });
  assert.equal(queue.offer("writing", 50), undefined);
  assert.equal(queue.offer("big", 50), undefined, "one oversized message fits an empty queue");
  assert.equal(queue.offer("more", 1), "full");
  assert.equal(queue.bytes, 50);
  gate.resolve();
  await queue.idle();
  assert.equal(queue.bytes, 0);
});

Deno.test("SendQueue reports a write slower than sendTimeout as a stall and closes", async () => {
  const stalled = Promise.withResolvers<void>();
  let release!: () => void;
  const queue = new SendQueue<string>({ maxMessages: 8, maxBytes: 1024, sendTimeout: 20 }, {
    write: () => new Promise<void>((resolve) => release = resolve),
    onStall: () => stalled.resolve(),
  });
  queue.offer("a", 1);
  queue.offer("b", 1);
  await stalled.promise;
  assert.equal(queue.closed, true);
  assert.equal(queue.length, 0);
  assert.equal(queue.offer("c", 1), "closed");
  release();
});

Deno.test("SendQueue reports a failed write through onError and closes", async () => {
  const failed = Promise.withResolvers<unknown>();
  const queue = new SendQueue<string>({ maxMessages: 8, maxBytes: 1024, sendTimeout: 0 }, {
    write: () => Promise.reject(new Error("gone")),
    onError: (error) => failed.resolve(error),
  });
  queue.offer("a", 1);
  assert.equal((await failed.promise as Error).message, "gone");
  assert.equal(queue.offer("b", 1), "closed");
});

Deno.test("SendQueue hands items to writeNow while it takes them and never lets one overtake a waiting write", async () => {
  const log: string[] = [];
  let ready = true;
  const gate = Promise.withResolvers<void>();
  const queue = new SendQueue<string>({ maxMessages: 2, maxBytes: 1024, sendTimeout: 0 }, {
    writeNow(item) {
      if (!ready) return false;
      log.push(`now ${item}`);
      return true;
    },
    async write(item) {
      log.push(`wait ${item}`);
      await gate.promise;
    },
  });
  assert.equal(queue.offer("a", 1), undefined);
  assert.deepEqual(log, ["now a"], "taken at once: nothing waits");
  assert.equal(queue.length, 0);
  ready = false;
  assert.equal(queue.offer("b", 1), undefined);
  ready = true;
  assert.equal(queue.offer("c", 1), undefined, "queued behind b although writeNow would take it");
  assert.equal(queue.offer("d", 1), undefined);
  assert.equal(queue.offer("e", 1), "full", "the bound still holds behind a waiting write");
  assert.deepEqual(log, ["now a", "wait b"]);
  gate.resolve();
  await queue.idle();
  assert.deepEqual(log, ["now a", "wait b", "now c", "now d"]);
});
