import assert from "node:assert/strict";
import { deadline } from "./_loopback.ts";
import { engineServer, randomBytes, rawFrame, RawPeer } from "./_websocket_engine.ts";
import type { Rfc6455Socket } from "../websocket/_rfc6455.ts";
import { WebSocketRangeError, WebSocketSyntaxError } from "../websocket/mod.ts";

const TEXT = 1;
const BINARY = 2;
const CLOSE = 8;
const PING = 9;
const PONG = 10;
const CONTINUATION = 0;

/** Runs `body` against a fresh engine echo server and a raw peer. */
async function withPeer(
  body: (peer: RawPeer, socket: Promise<Rfc6455Socket>) => Promise<void>,
  options: Parameters<typeof engineServer>[1] = {},
): Promise<void> {
  await using server = engineServer(undefined, options);
  const socket = server.nextSocket();
  using peer = await RawPeer.connect(server.port);
  await deadline(body(peer, socket), 10_000, "the raw peer exchange");
}

Deno.test("Rfc6455Socket echoes text and binary messages from a raw peer", async () => {
  await withPeer(async (peer) => {
    await peer.write(rawFrame(TEXT, "héllo"));
    const text = await peer.readFrame();
    assert.equal(text?.opcode, TEXT);
    assert.equal(text?.masked, false);
    assert.equal(new TextDecoder().decode(text?.payload), "héllo");
    const bytes = randomBytes(70_000);
    await peer.write(rawFrame(BINARY, bytes));
    const binary = await peer.readFrame();
    assert.equal(binary?.opcode, BINARY);
    assert.deepEqual(binary?.payload, bytes);
    await peer.write(rawFrame(CLOSE, new Uint8Array([0x03, 0xe8])));
    assert.equal((await peer.readClose()).code, 1000);
  });
});

Deno.test("Rfc6455Socket closes with 1002 on an unmasked client frame", async () => {
  await withPeer(async (peer, socket) => {
    await peer.write(rawFrame(TEXT, "plain", { mask: false }));
    const close = await peer.readClose();
    assert.equal(close.code, 1002);
    assert.equal(close.others.length, 0);
    assert.ok(await peer.readEof());
    assert.equal((await (await socket).closed).code, 1002);
    const error = (await socket).error;
    assert.equal(error?.code, "ERR_UNMASKED_FRAME");
    assert.ok(error instanceof WebSocketSyntaxError, "a malformed frame is a WebSocketSyntaxError");
    assert.equal(error.closeCode, 1002, "the error carries the close code it sent");
    assert.equal(error.reason, "Client frames must be masked", "and the reason");
  });
});

Deno.test("Rfc6455Socket closes with 1002 on reserved bits without an extension", async () => {
  for (const rsv of [4, 2, 1]) {
    await withPeer(async (peer) => {
      await peer.write(rawFrame(TEXT, "x", { rsv }));
      assert.equal((await peer.readClose()).code, 1002);
    });
  }
});

Deno.test("Rfc6455Socket closes with 1002 on a fragmented control frame", async () => {
  await withPeer(async (peer) => {
    await peer.write(rawFrame(PING, "a", { fin: false }));
    assert.equal((await peer.readClose()).code, 1002);
  });
});

Deno.test("Rfc6455Socket closes with 1002 on a control frame over 125 bytes", async () => {
  await withPeer(async (peer) => {
    await peer.write(rawFrame(PING, new Uint8Array(126)));
    assert.equal((await peer.readClose()).code, 1002);
  });
});

Deno.test("Rfc6455Socket closes with 1002 on an unknown opcode", async () => {
  for (const opcode of [3, 7, 0xb, 0xf]) {
    await withPeer(async (peer) => {
      await peer.write(rawFrame(opcode, "?"));
      assert.equal((await peer.readClose()).code, 1002);
    });
  }
});

Deno.test("Rfc6455Socket closes with 1002 on a continuation without a message", async () => {
  await withPeer(async (peer) => {
    await peer.write(rawFrame(CONTINUATION, "orphan"));
    assert.equal((await peer.readClose()).code, 1002);
  });
});

Deno.test("Rfc6455Socket closes with 1002 on a new message inside a fragmented one", async () => {
  await withPeer(async (peer) => {
    await peer.write(rawFrame(TEXT, "a", { fin: false }));
    await peer.write(rawFrame(TEXT, "b"));
    assert.equal((await peer.readClose()).code, 1002);
  });
});

Deno.test("Rfc6455Socket closes with 1007 on invalid UTF-8 in a text message", async () => {
  await withPeer(async (peer, socket) => {
    await peer.write(rawFrame(TEXT, new Uint8Array([0x61, 0xff, 0x62])));
    assert.equal((await peer.readClose()).code, 1007);
    assert.equal((await (await socket).closed).code, 1007);
    const error = (await socket).error;
    assert.equal(error?.code, "ERR_INVALID_UTF8");
    assert.ok(error instanceof WebSocketSyntaxError);
    assert.equal(error.closeCode, 1007);
  });
});

Deno.test("Rfc6455Socket closes with 1007 on invalid UTF-8 split across fragments", async (t) => {
  await t.step("a valid sequence split across fragments is accepted", async () => {
    await withPeer(async (peer) => {
      const euro = new TextEncoder().encode("€"); // e2 82 ac
      await peer.write(rawFrame(TEXT, euro.subarray(0, 1), { fin: false }));
      await peer.write(rawFrame(CONTINUATION, euro.subarray(1, 2), { fin: false }));
      await peer.write(rawFrame(CONTINUATION, euro.subarray(2)));
      const frame = await peer.readFrame();
      assert.equal(new TextDecoder().decode(frame?.payload), "€");
    });
  });
  await t.step("a broken sequence split across fragments is 1007", async () => {
    await withPeer(async (peer) => {
      await peer.write(rawFrame(TEXT, new Uint8Array([0xe2, 0x82]), { fin: false }));
      await peer.write(rawFrame(CONTINUATION, new Uint8Array([0x41])));
      assert.equal((await peer.readClose()).code, 1007);
    });
  });
  await t.step("a sequence truncated by the final fragment is 1007", async () => {
    await withPeer(async (peer) => {
      await peer.write(rawFrame(TEXT, new Uint8Array([0x41]), { fin: false }));
      await peer.write(rawFrame(CONTINUATION, new Uint8Array([0xe2, 0x82])));
      assert.equal((await peer.readClose()).code, 1007);
    });
  });
  await t.step("invalid bytes are caught before the message ends", async () => {
    await withPeer(async (peer) => {
      await peer.write(rawFrame(TEXT, new Uint8Array([0xc0, 0x80]), { fin: false }));
      assert.equal((await peer.readClose()).code, 1007);
    });
  });
});

Deno.test("Rfc6455Socket closes with 1009 on an oversize header without allocating it", async (t) => {
  await t.step("a single frame claiming 2^62 bytes", async () => {
    await withPeer(async (peer, socket) => {
      await peer.write(rawFrame(BINARY, new Uint8Array(0), { claimedLength: 2 ** 62 }));
      assert.equal((await peer.readClose()).code, 1009);
      assert.equal((await (await socket).closed).code, 1009);
      const error = (await socket).error;
      assert.equal(error?.code, "ERR_MESSAGE_TOO_LARGE");
      assert.ok(error instanceof WebSocketRangeError, "a broken limit is a WebSocketRangeError");
      assert.equal(error.closeCode, 1009);
      assert.equal(error.limit, 1024);
    }, { maxMessageSize: 1024 });
  });
  await t.step("a frame claiming 2 GiB against a 1 KiB limit", async () => {
    const before = Deno.memoryUsage().external;
    await withPeer(async (peer) => {
      await peer.write(rawFrame(BINARY, new Uint8Array(16), { claimedLength: 2 ** 31 }));
      assert.equal((await peer.readClose()).code, 1009);
    }, { maxMessageSize: 1024 });
    assert.ok(Deno.memoryUsage().external - before < 256 * 1024 * 1024, "memory stayed bounded");
  });
  await t.step("an unallocatable claim under an unlimited maxMessageSize", async () => {
    await withPeer(async (peer) => {
      await peer.write(rawFrame(BINARY, new Uint8Array(16), { claimedLength: 2 ** 52 }));
      assert.equal((await peer.readClose()).code, 1009);
    }, { maxMessageSize: Infinity });
  });
  await t.step("fragments whose sum crosses the limit", async () => {
    await withPeer(async (peer) => {
      await peer.write(rawFrame(BINARY, new Uint8Array(600), { fin: false }));
      await peer.write(rawFrame(CONTINUATION, new Uint8Array(600)));
      assert.equal((await peer.readClose()).code, 1009);
    }, { maxMessageSize: 1024 });
  });
  await t.step("a message of exactly the limit is accepted", async () => {
    await withPeer(async (peer) => {
      await peer.write(rawFrame(BINARY, new Uint8Array(1024)));
      assert.equal((await peer.readFrame())?.payload.length, 1024);
    }, { maxMessageSize: 1024 });
  });
});

Deno.test("Rfc6455Socket answers a ping with a pong carrying the same payload", async () => {
  await withPeer(async (peer) => {
    const payload = new TextEncoder().encode("are you there? 🏓");
    await peer.write(rawFrame(PING, payload));
    const pong = await peer.readFrame();
    assert.equal(pong?.opcode, PONG);
    assert.deepEqual(pong?.payload, payload);
  });
});

Deno.test("Rfc6455Socket handles a ping interleaved inside a fragmented message", async () => {
  await withPeer(async (peer) => {
    await peer.write(rawFrame(TEXT, "frag", { fin: false }));
    await peer.write(rawFrame(PING, "mid"));
    await peer.write(rawFrame(CONTINUATION, "men", { fin: false }));
    await peer.write(rawFrame(PONG, "unsolicited"));
    await peer.write(rawFrame(CONTINUATION, "ted"));
    const pong = await peer.readFrame();
    assert.equal(pong?.opcode, PONG);
    assert.equal(new TextDecoder().decode(pong?.payload), "mid");
    const message = await peer.readFrame();
    assert.equal(message?.opcode, TEXT);
    assert.equal(new TextDecoder().decode(message?.payload), "fragmented");
  });
});

Deno.test("Rfc6455Socket echoes the close code in the closing handshake", async () => {
  await withPeer(async (peer, socket) => {
    await peer.write(rawFrame(CLOSE, new Uint8Array([0x0f, 0xa0, 0x62, 0x79, 0x65]))); // 4000 "bye"
    const close = await peer.readClose();
    assert.equal(close.code, 4000);
    assert.ok(await peer.readEof(), "server closes TCP after the handshake");
    assert.deepEqual(await (await socket).closed, { code: 4000, reason: "bye" });
  });
});

Deno.test("Rfc6455Socket closes with 1002 on an invalid close code", async () => {
  for (const code of [999, 1004, 1005, 1006, 1016, 2999, 5000]) {
    await withPeer(async (peer) => {
      await peer.write(rawFrame(CLOSE, new Uint8Array([code >> 8, code & 255])));
      assert.equal((await peer.readClose()).code, 1002, `code ${code}`);
    });
  }
});

Deno.test("Rfc6455Socket closes with 1007 on a close reason that is not UTF-8", async () => {
  await withPeer(async (peer) => {
    await peer.write(rawFrame(CLOSE, new Uint8Array([0x03, 0xe8, 0xff])));
    assert.equal((await peer.readClose()).code, 1007);
  });
});

Deno.test("Rfc6455Socket.close() sends its code and waits for the peer's answer", async () => {
  await using server = engineServer(() => {});
  const accepted = server.nextSocket();
  using peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  const closing = socket.close(4001, "done");
  assert.equal(socket.readyState, 2);
  const close = await deadline(peer.readClose(), 5000, "close frame");
  assert.deepEqual([close.code, close.reason], [4001, "done"]);
  await peer.write(rawFrame(CLOSE, new Uint8Array([0x0f, 0xa1])));
  await deadline(closing, 5000, "close()");
  assert.equal(socket.readyState, 3);
  assert.deepEqual(await socket.closed, { code: 4001, reason: "" });
  assert.ok(await peer.readEof());
});

Deno.test("Rfc6455Socket reports abrupt TCP loss as 1006 and rejects later sends", async () => {
  await using server = engineServer(() => {});
  const accepted = server.nextSocket();
  const peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  peer.close();
  const info = await deadline(socket.closed, 5000, "closed");
  assert.equal(info.code, 1006);
  await assert.rejects(socket.send("late"), { code: "ERR_NOT_OPEN" });
});

Deno.test("Rfc6455Socket survives a peer reset in the middle of a large send", async () => {
  await using server = engineServer(() => {});
  const accepted = server.nextSocket();
  const peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  const sends = Array.from({ length: 8 }, () => socket.send(new Uint8Array(4 << 20)));
  peer.close();
  const results = await Promise.allSettled(sends);
  assert.ok(results.some((r) => r.status === "rejected"), "some sends were cut off");
  assert.equal((await socket.closed).code, 1006);
});

Deno.test("Rfc6455Socket stops reading TCP while its readable is not consumed", async () => {
  await using server = engineServer(() => {});
  const accepted = server.nextSocket();
  using peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  // Write 32 MiB without anyone reading: the writes must stall (kernel buffers
  // fill) instead of the server buffering everything.
  const frame = rawFrame(BINARY, new Uint8Array(1 << 20));
  let written = 0;
  const writer = (async () => {
    for (let i = 0; i < 32; i++) {
      await peer.write(frame);
      written++;
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(written < 32, `the peer could only write ${written} of 32 MiB`);
  // Now consume: everything arrives.
  let received = 0;
  const reader = socket.readable.getReader();
  while (received < 32) {
    const { value } = await deadline(reader.read(), 5000, "message");
    assert.equal((value as Uint8Array).length, 1 << 20);
    received++;
  }
  reader.releaseLock();
  await writer;
  await peer.write(rawFrame(CLOSE, new Uint8Array([0x03, 0xe8])));
  assert.equal((await peer.readClose()).code, 1000);
});

Deno.test("Rfc6455Socket.ping() resolves with the round trip when the pong comes back", async () => {
  await using server = engineServer(() => {});
  const accepted = server.nextSocket();
  using peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  const pongs: Uint8Array[] = [];
  socket.onpong = (data) => pongs.push(data);
  const rtt = socket.ping(new Uint8Array([1, 2, 3]));
  const ping = await peer.readFrame();
  assert.equal(ping?.opcode, PING);
  assert.deepEqual(ping?.payload, new Uint8Array([1, 2, 3]));
  await peer.write(rawFrame(PONG, ping!.payload));
  const ms = await deadline(rtt, 5000, "pong");
  assert.ok(ms >= 0 && ms < 5000);
  assert.deepEqual(pongs, [new Uint8Array([1, 2, 3])]);
  const closing = socket.close(1000);
  assert.equal((await peer.readClose()).code, 1000);
  await peer.write(rawFrame(CLOSE, new Uint8Array([0x03, 0xe8])));
  await closing;
});

Deno.test("Rfc6455Socket.close() drops TCP after closeTimeout when the peer never answers", async () => {
  await using server = engineServer(() => {}, { closeTimeout: 200 });
  const accepted = server.nextSocket();
  using peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  const pending = socket.ping();
  const started = performance.now();
  const closing = socket.close(1000);
  assert.equal((await peer.readClose()).code, 1000);
  await deadline(closing, 5000, "close() after the timeout");
  assert.ok(performance.now() - started >= 150);
  assert.deepEqual(await socket.closed, { code: 1006, reason: "" });
  await assert.rejects(pending, { code: "ERR_NOT_OPEN" });
  assert.ok(await peer.readEof());
});

Deno.test("Rfc6455Socket.abort() drops TCP without a close frame and reports 1006", async () => {
  await using server = engineServer(() => {});
  const accepted = server.nextSocket();
  using peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  socket.abort();
  assert.equal(socket.readyState, 3);
  assert.equal(await peer.readFrame(), null);
  assert.deepEqual(await socket.closed, { code: 1006, reason: "" });
  await assert.rejects(socket.ping(), { code: "ERR_NOT_OPEN" });
});

Deno.test("Cancelling Rfc6455Socket.readable closes the connection with 1000", async () => {
  await using server = engineServer(() => {});
  const accepted = server.nextSocket();
  using peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  await socket.readable.cancel();
  assert.equal((await peer.readClose()).code, 1000);
  await peer.write(rawFrame(CLOSE, new Uint8Array([0x03, 0xe8])));
  assert.equal((await socket.closed).code, 1000);
});

Deno.test("Rfc6455Socket.send() resolves at once under sendHighWaterMark and waits for the write above it", async () => {
  await using server = engineServer(() => {}, { sendHighWaterMark: 1 << 20 });
  const accepted = server.nextSocket();
  using peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  // Nobody reads on the peer side: after the kernel buffers fill, writes stall.
  let resolved = 0;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 64; i++) {
    sends.push(socket.send(new Uint8Array(256 * 1024)).then(() => void resolved++));
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(resolved > 0, "small backlog resolves early");
  assert.ok(resolved < 64, `only ${resolved} of 64 resolved against a stalled peer`);
  assert.ok(socket.bufferedAmount > 1 << 20, `bufferedAmount ${socket.bufferedAmount}`);
  // Drain on the peer side: everything completes and bufferedAmount returns to 0.
  let frames = 0;
  while (frames < 64) {
    const frame = await deadline(peer.readFrame(), 5000, "frame");
    assert.equal(frame?.payload.length, 256 * 1024);
    frames++;
  }
  await Promise.all(sends);
  assert.equal(socket.bufferedAmount, 0);
  socket.abort();
});

Deno.test("Rfc6455Socket messages stay intact after later reads reuse its buffers", async () => {
  await using server = engineServer(() => {});
  const accepted = server.nextSocket();
  using peer = await RawPeer.connect(server.port);
  const socket = await accepted;
  const sizes = Array.from(
    { length: 600 },
    (_, i) => [0, 1, 64, 700, 1024, 2000, 4096, 9000, 16384, 20000][i % 10],
  );
  const expected = sizes.map((size, i) => randomBytes(size, i + 1));
  const frames = expected.map((data) => rawFrame(BINARY, data));
  const writer = (async () => {
    for (const frame of frames) await peer.write(frame);
  })();
  const kept: Uint8Array[] = [];
  const reader = socket.readable.getReader();
  while (kept.length < expected.length) {
    const { value } = await deadline(reader.read(), 5000, "message");
    kept.push(value as Uint8Array);
  }
  reader.releaseLock();
  await writer;
  for (let i = 0; i < expected.length; i++) assert.deepEqual(kept[i], expected[i], `message ${i}`);
  // Mutating one message must not touch its neighbours.
  kept[2].fill(0);
  assert.deepEqual(kept[1], expected[1]);
  assert.deepEqual(kept[12], expected[12]);
  socket.abort();
});

Deno.test("Rfc6455Socket memory follows the bytes that arrived, not the length a frame claims", async () => {
  await using server = engineServer(() => {}, { maxMessageSize: 64 << 20 });
  const peers: RawPeer[] = [];
  try {
    const before = Deno.memoryUsage().external;
    for (let i = 0; i < 40; i++) {
      const peer = await RawPeer.connect(server.port);
      peers.push(peer);
      // Claims 60 MiB, sends 1 KiB, then trickles nothing.
      await peer.write(rawFrame(BINARY, new Uint8Array(1024), { claimedLength: 60 << 20 }));
    }
    await new Promise((r) => setTimeout(r, 200));
    const grown = Deno.memoryUsage().external - before;
    assert.ok(
      grown < 200 * 1024 * 1024,
      `External memory grew ${grown} bytes for 40 x 60 MiB claims`,
    );
  } finally {
    for (const peer of peers) peer.close();
  }
  await Promise.all(server.sockets.map((s) => s.closed));
});

Deno.test("Rfc6455Socket stays bounded under floods of empty fragments and unread pings", async (t) => {
  await t.step("100 000 empty continuation frames then the end of the message", async () => {
    await withPeer(async (peer) => {
      const empty = rawFrame(CONTINUATION, new Uint8Array(0), { fin: false });
      const flood = new Uint8Array(empty.length * 100_000);
      for (let i = 0; i < 100_000; i++) flood.set(empty, i * empty.length);
      await peer.write(rawFrame(TEXT, "start-", { fin: false }));
      await peer.write(flood);
      await peer.write(rawFrame(CONTINUATION, "end"));
      const echo = await peer.readFrame();
      assert.equal(new TextDecoder().decode(echo?.payload), "start-end");
    }, { maxFragments: 200_000 });
  });
  await t.step("more fragments than maxFragments (4096 by default) close with 1009", async () => {
    await withPeer(async (peer, socket) => {
      const piece = rawFrame(CONTINUATION, new Uint8Array([1]), { fin: false });
      const flood = new Uint8Array(piece.length * 5000);
      for (let i = 0; i < 5000; i++) flood.set(piece, i * piece.length);
      await peer.write(rawFrame(BINARY, new Uint8Array([0]), { fin: false }));
      await peer.write(flood).catch(() => {});
      assert.equal((await peer.readClose()).code, 1009);
      assert.equal((await socket).error?.code, "ERR_TOO_MANY_FRAGMENTS");
    });
  });
  await t.step("20 000 pings from a peer that reads nothing get far fewer pongs", async () => {
    await withPeer(async (peer) => {
      const ping = rawFrame(PING, "p".repeat(100));
      const flood = new Uint8Array(ping.length * 20_000);
      for (let i = 0; i < 20_000; i++) flood.set(ping, i * ping.length);
      await peer.write(flood);
      await peer.write(rawFrame(TEXT, "done"));
      let pongs = 0;
      while (true) {
        const frame = await peer.readFrame();
        if (frame?.opcode === PONG) pongs++;
        else break;
      }
      assert.ok(pongs >= 1 && pongs < 1000, `${pongs} pongs for 20 000 pings`);
    });
  });
});

Deno.test("Rfc6455Socket drops a peer that streams data instead of answering its close frame after 1 MiB", async () => {
  await withPeer(async (peer, accepted) => {
    const socket = await accepted;
    const closing = socket.close(1000);
    assert.equal((await peer.readClose()).code, 1000);
    const frame = rawFrame(BINARY, new Uint8Array(64 * 1024));
    const started = performance.now();
    // 2 MiB of data and never a close frame: the socket gives up long before its 5 s closeTimeout.
    for (let i = 0; i < 32; i++) if (!await peer.write(frame).then(() => true, () => false)) break;
    await deadline(closing, 3_000, "close()");
    assert.equal((await socket.closed).code, 1006);
    assert.ok(performance.now() - started < 3_000);
  });
});
