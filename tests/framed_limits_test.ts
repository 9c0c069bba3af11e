import assert from "node:assert/strict";
import { connect, FramedRangeError, listen } from "../framed/mod.ts";
import { accept, concat, drain, frame, pattern, rawClient, take, writeAll } from "./_framed.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

/** Resolves with the error `closed` rejects with (or undefined), failing after `ms`. */
async function closedWith(connection: { closed: Promise<void> }, ms = 5000): Promise<unknown> {
  return await deadline(connection.closed.then(() => undefined, (e) => e), ms, "the close");
}

Deno.test("messageTimeout closes a connection stalled inside a header with a messageTimeout TimeoutError", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, messageTimeout: 200 });
  const accepted = accept(server);
  using raw = await rawClient(server.addr.port);
  await writeAll(raw, new Uint8Array([0xff, 0x00])); // two bytes of a five-byte header
  const peer = await accepted;
  const reading = drain(peer);
  const error = await closedWith(peer);
  assert.ok(error instanceof DOMException, String(error));
  assert.equal(error.name, "TimeoutError");
  assert.match(error.message, /^messageTimeout:/);
  await reading;
});

Deno.test("messageTimeout does not count time the consumer spends behind", async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    sendType: "bytes",
    messageTimeout: 150,
  });
  const accepted = accept(server);
  using raw = await rawClient(server.addr.port);
  const peer = await accepted;
  // More whole messages than the readable queue takes, then half of the
  // next one; nobody reads for a while, so the server stops reading.
  const whole = Array.from({ length: 100 }, (_, i) => frame(pattern(1000, i)));
  const last = frame(pattern(1000, 100));
  await writeAll(raw, concat([...whole, last.subarray(0, 500)]));
  await new Promise((resolve) => setTimeout(resolve, 400));
  await writeAll(raw, last.subarray(500));
  const got = await take(peer, 101);
  assert.equal(got.length, 101);
  assert.deepEqual(got[100], pattern(1000, 100));
  await peer.close();
});

Deno.test("sendTimeout closes a connection whose peer does not read", async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    sendType: "bytes",
    sendTimeout: 300,
  });
  const accepted = accept(server);
  using _raw = await rawClient(server.addr.port); // never reads
  const peer = await accepted;
  const chunk = pattern(1 << 20);
  let sent = 0;
  // Bounded: the kernel's buffers take a few MiB at most.
  for (let i = 0; i < 256; i++) {
    const ok = await peer.send(chunk).then(() => true, () => false);
    if (!ok) break;
    sent++;
  }
  assert.ok(sent < 256, "the sends stopped");
  const error = await closedWith(peer);
  assert.ok(error instanceof DOMException && error.name === "TimeoutError", String(error));
  assert.match(error.message, /^sendTimeout:/);
});

Deno.test("maxBufferedBytes closes only the connection that needs more with ERR_BUFFER_LIMIT", async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    sendType: "bytes",
    maxMessageSize: 4 << 20,
    maxBufferedBytes: 512 * 1024,
  });
  const options = {
    hostname: LOOPBACK4,
    port: server.addr.port,
    sendType: "bytes",
    maxMessageSize: 4 << 20,
  } as const;
  const acceptedBig = accept(server);
  await using big = await connect(options);
  const bigPeer = await acceptedBig;
  const acceptedSmall = accept(server);
  await using small = await connect(options);
  const smallPeer = await acceptedSmall;

  big.send(pattern(2 << 20)).catch(() => {});
  const bigReading = drain(bigPeer);
  const error = await closedWith(bigPeer);
  assert.ok(error instanceof FramedRangeError && error.code === "ERR_BUFFER_LIMIT", String(error));
  assert.equal(error.code, "ERR_BUFFER_LIMIT");
  assert.equal(error.limit, 512 * 1024);
  await bigReading;

  await small.send(pattern(1000));
  assert.deepEqual(await take(smallPeer), [pattern(1000)]);
});

Deno.test("maxConnections closes one connection more at once", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, maxConnections: 2 });
  const first = accept(server);
  using a = await rawClient(server.addr.port);
  const peerA = await first;
  const second = accept(server);
  using _b = await rawClient(server.addr.port);
  await second;
  using c = await rawClient(server.addr.port);
  // The third is closed by the server without a byte.
  const n = await deadline(c.read(new Uint8Array(1)).catch(() => null), 5000, "the refusal");
  assert.equal(n, null);
  assert.equal(server.connections.size, 2);
  // Once one leaves, a newcomer is admitted.
  a.close();
  await closedWith(peerA).catch(() => {});
  await peerA.closed.catch(() => {});
  const third = accept(server);
  using _d = await rawClient(server.addr.port);
  await third;
  assert.equal(server.connections.size, 2);
});

Deno.test("a numeric message is bounded by its decoded size, 8 bytes per element", async () => {
  // 80 bytes decoded = 10 elements, whatever their width on the wire.
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    sendType: "byte",
    maxMessageSize: 80,
  });
  const accepted = accept(server);
  await using client = await connect({
    hostname: LOOPBACK4,
    port: server.addr.port,
    sendType: "byte",
  });
  const peer = await accepted;
  await client.send(Array.from({ length: 10 }, (_, i) => i));
  assert.deepEqual(await take(peer), [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
  const refused = await peer.send(new Array(11).fill(1)).catch((e) => e);
  assert.ok(
    refused instanceof FramedRangeError && refused.code === "ERR_MESSAGE_TOO_LARGE",
    String(refused),
  );
  assert.equal(refused.limit, 10);
  await client.send(new Array(11).fill(1));
  const { error } = await drain(peer);
  assert.ok(
    error instanceof FramedRangeError && error.code === "ERR_MESSAGE_TOO_LARGE",
    String(error),
  );
  assert.equal(error.size, 11);
});

Deno.test("idleTimeout, messageTimeout and sendTimeout have defaults, and 0 turns them off", async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    idleTimeout: 0,
    messageTimeout: 0,
    sendTimeout: 0,
  });
  const accepted = accept(server);
  using raw = await rawClient(server.addr.port);
  await writeAll(raw, new Uint8Array([0xff]));
  const peer = await accepted;
  const early = await Promise.race([
    peer.closed.then(() => "closed", () => "closed"),
    new Promise((resolve) => setTimeout(() => resolve("open"), 300)),
  ]);
  assert.equal(early, "open");
  await peer.close();
});

Deno.test("small bytes messages that arrive together share at most 4 KiB, each its own view", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, sendType: "bytes" });
  const accepted = accept(server);
  using raw = await rawClient(server.addr.port);
  const peer = await accepted;
  const payloads = Array.from({ length: 200 }, (_, i) => pattern(i % 70, i));
  await writeAll(raw, concat(payloads.map(frame)));
  const got = await take(peer, payloads.length);
  assert.deepEqual(got, payloads);
  for (const message of got) assert.ok(message.buffer.byteLength <= 4096);
  // Writing into one message does not touch its neighbours.
  got[1].fill(0xee);
  assert.deepEqual(got[2], payloads[2]);
  await peer.close();
});
