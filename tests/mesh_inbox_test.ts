/**
 * mesh/_inbox.ts on its own: fan-out to every iterator, backpressure at
 * `size` and release at half, and ending. In process, no sockets or timers.
 */
import assert from "node:assert/strict";
import { Inbox } from "../mesh/_inbox.ts";

Deno.test("Inbox hands every message to every open iterator, in order", async () => {
  const inbox = new Inbox<number>(8);
  const a = inbox.iterator();
  const b = inbox.iterator();
  inbox.deliver(1);
  inbox.deliver(2);
  assert.deepEqual([(await a.next()).value, (await a.next()).value], [1, 2]);
  assert.deepEqual([(await b.next()).value, (await b.next()).value], [1, 2]);
  await a.return!();
  await b.return!();
});

Deno.test("Inbox is full at size and lets the readers go once an iterator is down to half", async () => {
  const inbox = new Inbox<number>(4);
  const it = inbox.iterator();
  for (let i = 0; i < 4; i++) inbox.deliver(i);
  assert.equal(inbox.full, true);
  let drained = false;
  const wait = inbox.whenDrained().then(() => drained = true);
  await it.next(); // 3 left
  await Promise.resolve();
  assert.equal(drained, false);
  await it.next(); // 2 left: half
  await wait;
  assert.equal(drained, true);
  assert.equal(inbox.full, false);
  await it.return!();
});

Deno.test("Inbox.end() ends the iterators after what they hold, and new ones at once", async () => {
  const inbox = new Inbox<string>(4);
  const it = inbox.iterator();
  const pending = it.next();
  inbox.deliver("last");
  assert.deepEqual(await pending, { value: "last", done: false });
  inbox.end();
  assert.equal((await it.next()).done, true);
  assert.equal((await inbox.iterator().next()).done, true);
});

Deno.test("Inbox: an iterator that returns early no longer holds the readers back", async () => {
  const inbox = new Inbox<number>(2);
  const it = inbox.iterator();
  inbox.deliver(1);
  inbox.deliver(2);
  assert.equal(inbox.full, true);
  const wait = inbox.whenDrained();
  await it.return!();
  await wait;
  assert.equal(inbox.full, false);
  inbox.deliver(3); // nobody listens: dropped, not held
  assert.equal(inbox.full, false);
});
