import assert from "node:assert/strict";
import { FramedRangeError, FramedSyntaxError, listen, type MessageType } from "../framed/mod.ts";
import {
  accept,
  concat,
  drain,
  frame,
  pair,
  pattern,
  rawClient,
  readExactly,
  take,
  writeAll,
} from "./_framed.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

const encoder = new TextEncoder();

Deno.test("length headers are byte-exact with the seed: 1 byte below 255, else 0xFF + 4-byte BE", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, sendType: "bytes" });
  const accepted = accept(server);
  using raw = await rawClient(server.addr.port);
  await using peer = await accepted;
  const sizes = [0, 1, 254, 255, 256, 65536];
  await Promise.all(sizes.map((n) => peer.send(pattern(n, n + 3))));
  const expected = concat(sizes.map((n) => frame(pattern(n, n + 3))));
  const got = await readExactly(raw, expected.length);
  assert.deepEqual(got.subarray(0, 1), new Uint8Array([0]));
  assert.deepEqual(got.subarray(1 + 2 + 255, 1 + 2 + 255 + 5), new Uint8Array([255, 0, 0, 0, 255]));
  assert.deepEqual(got, expected);
});

Deno.test("a message fed one byte per write arrives exactly as sent", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, sendType: "bytes" });
  const accepted = accept(server);
  using raw = await rawClient(server.addr.port);
  raw.setNoDelay(true);
  await using peer = await accepted;
  const payloads = [pattern(3, 1), pattern(0), pattern(300, 2)];
  const bytes = concat(payloads.map(frame));
  const received = take(peer, payloads.length);
  for (let i = 0; i < bytes.length; i++) {
    await raw.write(bytes.subarray(i, i + 1));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.deepEqual(await received, payloads);
});

Deno.test("10 000 small messages in one write arrive as 10 000 messages", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0 });
  const accepted = accept(server);
  using raw = await rawClient(server.addr.port);
  await using peer = await accepted;
  const texts = Array.from({ length: 10_000 }, (_, i) => i % 7 === 0 ? "" : `message ${i}`);
  await writeAll(raw, concat(texts.map((text) => frame(encoder.encode(text)))));
  assert.deepEqual(await take(peer, texts.length), texts);
});

Deno.test("zero-length messages do not desynchronise the stream (the seed's receiver did)", async () => {
  await using p = await pair();
  for (const text of ["", "a", "", "", "b", ""]) await p.client.send(text);
  assert.deepEqual(await take(p.peer, 6), ["", "a", "", "", "b", ""]);
});

/** Sends `bytes` from a raw client and returns what the server-side connection reports. */
async function feed(
  bytes: Uint8Array,
  options: { receiveType?: MessageType; maxMessageSize?: number; endAfter?: boolean } = {},
) {
  const { endAfter = false, ...listenOptions } = options;
  await using server = listen({ hostname: LOOPBACK4, port: 0, ...listenOptions });
  const accepted = accept(server);
  using raw = await rawClient(server.addr.port);
  const peer = await accepted;
  await writeAll(raw, bytes);
  if (endAfter) await raw.closeWrite();
  const result = await drain(peer);
  const closed = await deadline(peer.closed.then(() => null, (e) => e), 5000, "closed");
  // The raw socket sees the server hang up.
  const end = await deadline(raw.read(new Uint8Array(16)).catch(() => null), 5000, "hang-up");
  assert.equal(end, null);
  return { ...result, closed };
}

Deno.test("a length header above maxMessageSize closes the connection with ERR_MESSAGE_TOO_LARGE", async (t) => {
  await t.step("claimed 0xFFFFFFFF, no payload sent: fails at once, nothing awaited", async () => {
    const { error, closed } = await feed(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]));
    assert.ok(error instanceof FramedRangeError && error.code === "ERR_MESSAGE_TOO_LARGE");
    assert.equal(error.code, "ERR_MESSAGE_TOO_LARGE");
    assert.equal(error.size, 0xffff_ffff);
    assert.equal(closed, error);
  });
  await t.step("claimed 16 MiB + 1 against the default limit", async () => {
    const { error } = await feed(new Uint8Array([0xff, 0x01, 0x00, 0x00, 0x01]));
    assert.ok(error instanceof FramedRangeError && error.code === "ERR_MESSAGE_TOO_LARGE");
    assert.equal(error.limit, 16 * 1024 * 1024);
  });
  await t.step("limit + 1 fails, limit passes, messages before it are delivered", async () => {
    const { values, error } = await feed(
      concat([frame(pattern(100)), frame(pattern(101))]),
      { receiveType: "bytes", maxMessageSize: 100 },
    );
    assert.deepEqual(values, [pattern(100)]);
    assert.ok(error instanceof FramedRangeError && error.code === "ERR_MESSAGE_TOO_LARGE");
    assert.equal(error.size, 101);
  });
});

Deno.test("a payload that cannot be decoded closes the connection with ERR_INVALID_PAYLOAD", async (t) => {
  const cases: [string, MessageType, Uint8Array][] = [
    ["3 bytes for int", "int", frame(new Uint8Array([0, 0, 1]))],
    ["5 bytes for double", "double", frame(new Uint8Array(5))],
    ["1 byte for short", "short", frame(new Uint8Array(1))],
    ["invalid UTF-8 for string", "string", frame(new Uint8Array([0x61, 0xc3, 0x28]))],
    ["a lone surrogate half for string", "string", frame(new Uint8Array([0xed, 0xa0, 0x80]))],
    ["invalid JSON", "json", frame(encoder.encode("{nope"))],
    ["invalid UTF-8 for json", "json", frame(new Uint8Array([0x22, 0xff, 0x22]))],
  ];
  for (const [name, receiveType, bad] of cases) {
    await t.step(name, async () => {
      const good = receiveType === "json"
        ? frame(encoder.encode("[1]"))
        : receiveType === "string"
        ? frame(encoder.encode("ok"))
        : frame(new Uint8Array(8));
      const { values, error, closed } = await feed(concat([good, bad]), { receiveType });
      assert.equal(values.length, 1, "the good message before it is delivered");
      assert.ok(
        error instanceof FramedSyntaxError && error.code === "ERR_INVALID_PAYLOAD",
        String(error),
      );
      assert.equal(error.code, "ERR_INVALID_PAYLOAD");
      assert.equal(closed, error);
    });
  }
  await t.step("the stream ends inside a message", async () => {
    const { error } = await feed(frame(pattern(50)).subarray(0, 20), { endAfter: true });
    assert.ok(error instanceof FramedSyntaxError && error.code === "ERR_INVALID_PAYLOAD");
  });
});

Deno.test("a bad peer does not disturb the listener or other connections", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, sendType: "json" });
  const { connect } = await import("../framed/mod.ts");
  const connections = (async () => {
    const out = [];
    for await (const connection of server) {
      out.push(connection);
      if (out.length === 3) return out;
    }
    return out;
  })();
  await using good1 = await connect({
    hostname: LOOPBACK4,
    port: server.addr.port,
    sendType: "json",
  });
  using raw = await rawClient(server.addr.port);
  await using good2 = await connect({
    hostname: LOOPBACK4,
    port: server.addr.port,
    sendType: "json",
  });
  const [s1, sBad, s2] = await deadline(connections, 5000, "3 connections");
  await writeAll(raw, new Uint8Array([0xff, 0x7f, 0xff, 0xff, 0xff]));
  await assert.rejects(
    sBad.closed,
    (e: Error) => e instanceof FramedRangeError && e.code === "ERR_MESSAGE_TOO_LARGE",
  );
  await good1.send({ n: 1 });
  await good2.send({ n: 2 });
  assert.deepEqual(await take(s1), [{ n: 1 }]);
  assert.deepEqual(await take(s2), [{ n: 2 }]);
  await s1.send("back");
  assert.deepEqual(await take(good1), ["back"]);
  assert.equal(server.connections.size, 2);
  await using late = await connect({ hostname: LOOPBACK4, port: server.addr.port });
  assert.ok(late.remoteAddr.port === server.addr.port);
});

Deno.test("bare length headers cost memory for the bytes received, not for the size claimed", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, receiveType: "bytes" });
  const peers: Promise<unknown>[] = [];
  const serving = (async () => {
    for await (const connection of server) {
      peers.push(drain(connection, 20_000));
      if (peers.length === 40) return;
    }
  })();
  const before = Deno.memoryUsage().external;
  const clients: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 40; i++) {
      const raw = await rawClient(server.addr.port);
      clients.push(raw);
      // Claims 16 MiB (the default limit), then sends only 300 bytes of it.
      await writeAll(raw, concat([new Uint8Array([0xff, 0x01, 0, 0, 0]), pattern(300_000)]));
    }
    await deadline(serving, 10_000, "40 connections");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const grown = Deno.memoryUsage().external - before;
    // Claimed: 40 × 16 MiB = 640 MiB. Received: 40 × ~300 KB.
    assert.ok(grown < 160 * 1024 * 1024, `external memory grew by ${grown} bytes`);
  } finally {
    for (const raw of clients) raw.close();
  }
  const results = await Promise.all(peers) as { error: unknown }[];
  for (const { error } of results) {
    assert.ok(error instanceof FramedSyntaxError && error.code === "ERR_INVALID_PAYLOAD");
  }
});
