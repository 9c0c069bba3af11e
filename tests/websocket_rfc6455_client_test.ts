import assert from "node:assert/strict";
import { deadline, LOOPBACK4 } from "./_loopback.ts";
import { engineClient, engineServer, randomBytes, rawFrame, RawPeer } from "./_websocket_engine.ts";
import { acceptKey, clientHandshake } from "../websocket/_handshake.ts";
import { WebSocketError } from "../websocket/errors.ts";

const TEXT = 1;
const BINARY = 2;
const CLOSE = 8;
const PING = 9;
const PONG = 10;

/** A raw TCP server: hand-written handshake answer, then `body` with a RawPeer on the accepted conn. */
async function withRawServer(
  answer: (key: string, request: string) => Promise<string | Uint8Array> | string | Uint8Array,
  body: (port: number, peer: Promise<RawPeer>) => Promise<void>,
): Promise<void> {
  using listener = Deno.listen({ hostname: LOOPBACK4, port: 0 });
  const peer = (async () => {
    const conn = await listener.accept();
    const raw = new RawPeer(conn);
    const request = await raw.readHead();
    const key = /sec-websocket-key: (\S+)/i.exec(request)?.[1] ?? "";
    await raw.write(await answer(key, request));
    return raw;
  })();
  try {
    await deadline(body(listener.addr.port, peer), 10_000, "the raw server exchange");
  } finally {
    (await peer.catch(() => null))?.close();
  }
}

async function upgrade(key: string, extra = ""): Promise<string> {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${await acceptKey(key)}\r\n${extra}\r\n`;
}

Deno.test("acceptKey() derives the RFC 6455 sample accept value", async () => {
  assert.equal(await acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("The engine client masks its frames and reads unmasked server frames", async () => {
  await withRawServer((key) => upgrade(key), async (port, peerPromise) => {
    const client = await engineClient(port);
    const peer = await peerPromise;
    await client.send("masked?");
    const frame = await peer.readFrame();
    assert.equal(frame?.masked, true);
    assert.equal(new TextDecoder().decode(frame?.payload), "masked?");
    const big = randomBytes(300_000);
    await client.send(big);
    const bigFrame = await peer.readFrame();
    assert.equal(bigFrame?.masked, true);
    assert.deepEqual(bigFrame?.payload, big);
    await peer.write(rawFrame(BINARY, new Uint8Array([1, 2, 3]), { mask: false }));
    const reader = client.readable.getReader();
    assert.deepEqual((await reader.read()).value, new Uint8Array([1, 2, 3]));
    reader.releaseLock();
    // Server-initiated close: the client echoes, then waits for TCP close.
    await peer.write(rawFrame(CLOSE, new Uint8Array([0x03, 0xe9]), { mask: false }));
    const echoed = await peer.readClose();
    assert.equal(echoed.code, 1001);
    peer.close();
    assert.deepEqual(await client.closed, { code: 1001, reason: "" });
  });
});

Deno.test("The engine client closes with 1002 on a masked server frame", async () => {
  await withRawServer((key) => upgrade(key), async (port, peerPromise) => {
    const client = await engineClient(port);
    const peer = await peerPromise;
    await peer.write(rawFrame(TEXT, "masked", { mask: true }));
    assert.equal((await peer.readClose()).code, 1002);
    assert.equal((await client.closed).code, 1002);
  });
});

Deno.test("The engine client answers pings and times its own", async () => {
  await withRawServer((key) => upgrade(key), async (port, peerPromise) => {
    const client = await engineClient(port);
    const peer = await peerPromise;
    await peer.write(rawFrame(PING, "srv", { mask: false }));
    const pong = await peer.readFrame();
    assert.equal(pong?.opcode, PONG);
    assert.equal(pong?.masked, true);
    assert.equal(new TextDecoder().decode(pong?.payload), "srv");
    const rtt = client.ping();
    const ping = await peer.readFrame();
    assert.equal(ping?.opcode, PING);
    await peer.write(rawFrame(PONG, ping!.payload, { mask: false }));
    assert.ok(await rtt >= 0);
    const closing = client.close(1000, "bye");
    assert.deepEqual(
      await peer.readClose().then((c) => [c.code, c.reason]),
      [1000, "bye"],
    );
    await peer.write(rawFrame(CLOSE, new Uint8Array([0x03, 0xe8]), { mask: false }));
    peer.close();
    await closing;
    assert.equal((await client.closed).code, 1000);
  });
});

Deno.test("clientHandshake() rejects a wrong Sec-WebSocket-Accept", async () => {
  await withRawServer(
    () => upgrade("not-the-key"),
    async (port) => {
      await assert.rejects(engineClient(port), {
        code: "ERR_HANDSHAKE_FAILED",
        message: /Sec-WebSocket-Accept/,
      });
    },
  );
});

Deno.test("clientHandshake() rejects a subprotocol that was not offered, or none", async (t) => {
  await t.step("another protocol", async () => {
    await withRawServer(
      (key) => upgrade(key, "Sec-WebSocket-Protocol: evil\r\n"),
      async (port) => {
        await assert.rejects(engineClient(port, { protocols: ["chat"] }), {
          code: "ERR_UNEXPECTED_PROTOCOL",
        });
      },
    );
  });
  await t.step("no protocol", async () => {
    await withRawServer((key) => upgrade(key), async (port) => {
      await assert.rejects(engineClient(port, { protocols: ["chat"] }), {
        code: "ERR_PROTOCOL_NOT_NEGOTIATED",
      });
    });
  });
  await t.step("the offered one is accepted", async () => {
    await withRawServer(
      (key) => upgrade(key, "Sec-WebSocket-Protocol: chat\r\n"),
      async (port, peer) => {
        const client = await engineClient(port, { protocols: ["superchat", "chat"] });
        assert.equal(client.protocol, "chat");
        (await peer).close();
        assert.equal((await client.closed).code, 1006);
      },
    );
  });
});

Deno.test("clientHandshake() rejects an extension it did not offer", async () => {
  await withRawServer(
    (key) => upgrade(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
    async (port) => {
      await assert.rejects(engineClient(port), {
        code: "ERR_HANDSHAKE_FAILED",
        message: /extensions/,
      });
    },
  );
});

Deno.test("clientHandshake() reports a refused upgrade with its status", async () => {
  await withRawServer(
    () => "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
    async (port) => {
      const err = await engineClient(port).catch((e) => e);
      assert.ok(err instanceof WebSocketError);
      assert.equal(err.code, "ERR_UNEXPECTED_STATUS");
      assert.equal(err.status, 401);
    },
  );
});

Deno.test("clientHandshake() sends custom headers but keeps the handshake headers its own", async () => {
  let seen = "";
  await withRawServer(
    (key, request) => {
      seen = request;
      return upgrade(key);
    },
    async (port, peer) => {
      const conn = await Deno.connect({ hostname: LOOPBACK4, port });
      try {
        await clientHandshake(conn, new URL(`ws://127.0.0.1:${port}/room?id=7`), {
          headers: { Authorization: "Bearer t", "Sec-WebSocket-Key": "forged" },
        });
      } finally {
        conn.close();
        (await peer).close();
      }
    },
  );
  assert.match(seen, /^GET \/room\?id=7 HTTP\/1\.1\r\n/);
  assert.match(seen, /authorization: Bearer t/i);
  assert.doesNotMatch(seen, /forged/);
});

Deno.test("The engine server refuses a malformed or oversize upgrade request", async (t) => {
  await using server = engineServer();
  await t.step("wrong version → 426", async () => {
    using conn = await Deno.connect({ hostname: LOOPBACK4, port: server.port });
    const peer = new RawPeer(conn);
    await peer.write(
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    );
    assert.match(await peer.readHead(), /^HTTP\/1\.1 426/);
  });
  await t.step("bad key → 400", async () => {
    using conn = await Deno.connect({ hostname: LOOPBACK4, port: server.port });
    const peer = new RawPeer(conn);
    await peer.write(
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert.match(await peer.readHead(), /^HTTP\/1\.1 400/);
  });
  await t.step("garbage request line → 400", async () => {
    using conn = await Deno.connect({ hostname: LOOPBACK4, port: server.port });
    const peer = new RawPeer(conn);
    await peer.write("HELLO\r\n\r\n");
    assert.match(await peer.readHead(), /^HTTP\/1\.1 400/);
  });
  await t.step("TRACE → 405", async () => {
    using conn = await Deno.connect({ hostname: LOOPBACK4, port: server.port });
    const peer = new RawPeer(conn);
    await peer.write("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(await peer.readHead(), /^HTTP\/1\.1 405/);
  });
  await t.step("a 20 KiB head → 431", async () => {
    using conn = await Deno.connect({ hostname: LOOPBACK4, port: server.port });
    const peer = new RawPeer(conn);
    await peer.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    assert.match(await peer.readHead(), /^HTTP\/1\.1 431/);
  });
});

Deno.test("The engine passes messages up to 16 MiB both ways, client to server", async () => {
  await using server = engineServer();
  const client = await engineClient(server.port);
  const reader = client.readable.getReader();
  for (const size of [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]) {
    const data = randomBytes(size, size + 1);
    await client.send(data);
    const { value } = await deadline(reader.read(), 10_000, `echo of ${size} bytes`);
    assert.equal((value as Uint8Array).length, size);
    assert.deepEqual(value, data);
  }
  const text = "héllo wörld ✓ ".repeat(100_000);
  await client.send(text);
  assert.equal((await reader.read()).value, text);
  reader.releaseLock();
  await client.close(1000);
  assert.equal((await client.closed).code, 1000);
});

Deno.test("beginBinary() sends one message as fragmentSize continuation frames", async () => {
  await withRawServer((key) => upgrade(key), async (port, peerPromise) => {
    const client = await engineClient(port, { fragmentSize: 1000 });
    const peer = await peerPromise;
    const writer = client.beginBinary().getWriter();
    const queuedText = client.send("after the stream");
    const data = randomBytes(2500);
    await writer.write(data.subarray(0, 700));
    await writer.write(data.subarray(700, 2300));
    // A ping in the middle of the streamed message goes out between its frames.
    const rtt = client.ping(new Uint8Array([42]));
    await writer.write(data.subarray(2300));
    await writer.close();
    await queuedText;
    const frames = [];
    for (let i = 0; i < 5; i++) frames.push(await peer.readFrame());
    assert.deepEqual(frames.map((f) => [f?.opcode, f?.fin, f?.payload.length]), [
      [BINARY, false, 1000],
      [0, false, 1000],
      [PING, true, 1],
      [0, true, 500],
      [TEXT, true, 16],
    ]);
    await peer.write(rawFrame(PONG, new Uint8Array([42]), { mask: false }));
    assert.ok(await rtt >= 0);
    const joined = new Uint8Array(2500);
    joined.set(frames[0]!.payload, 0);
    joined.set(frames[1]!.payload, 1000);
    joined.set(frames[3]!.payload, 2000);
    assert.deepEqual(joined, data);
    peer.close();
    await client.closed;
  });
});

Deno.test("beginBinary() streams to the engine server, which reassembles the message", async () => {
  await using server = engineServer();
  const client = await engineClient(server.port, { fragmentSize: 64 * 1024 });
  const data = randomBytes(1_000_000);
  const stream = client.beginBinary();
  const pongs = client.ping(new Uint8Array([7]));
  await ReadableStream.from([data.subarray(0, 300_000), data.subarray(300_000)]).pipeTo(stream);
  await pongs;
  const reader = client.readable.getReader();
  assert.deepEqual((await reader.read()).value, data);
  reader.releaseLock();
  await client.close(1000);
});

Deno.test("permessage-deflate round trip between engine client and server", async (t) => {
  for (
    const [name, server, client] of [
      ["context takeover", true, true],
      ["server_no_context_takeover", { serverNoContextTakeover: true }, true],
      ["client_no_context_takeover + window bits", true, {
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 9,
      }],
    ] as const
  ) {
    await t.step(name, async () => {
      await using srv = engineServer(undefined, { deflate: server });
      const socket = await engineClient(srv.port, { deflate: client });
      assert.match(socket.extensions, /^permessage-deflate/);
      const reader = socket.readable.getReader();
      const repetitive = "all work and no play makes jack a dull boy ".repeat(5000);
      for (let i = 0; i < 3; i++) {
        await socket.send(repetitive + i);
        assert.equal((await reader.read()).value, repetitive + i);
      }
      const bin = randomBytes(200_000);
      await socket.send(bin);
      assert.deepEqual((await reader.read()).value, bin);
      await socket.send("tiny");
      assert.equal((await reader.read()).value, "tiny");
      reader.releaseLock();
      await socket.close(1000);
    });
  }
});

Deno.test("permessage-deflate: a decompression bomb is closed with 1009", async () => {
  await using server = engineServer(() => {}, { deflate: true, maxMessageSize: 1 << 20 });
  const accepted = server.nextSocket();
  using peer = await RawPeer.connect(
    server.port,
    "Sec-WebSocket-Extensions: permessage-deflate\r\n",
  );
  const socket = await accepted;
  const reader = socket.readable.getReader();
  const { deflateRawSync, constants } = await import("node:zlib");
  const bomb = deflateRawSync(new Uint8Array(64 << 20), { finishFlush: constants.Z_SYNC_FLUSH });
  assert.ok(bomb.length < 100_000);
  await peer.write(rawFrame(BINARY, bomb.subarray(0, bomb.length - 4), { rsv: 4 }));
  assert.equal((await peer.readClose()).code, 1009);
  assert.equal((await socket.closed).code, 1009);
  assert.equal((await reader.read()).done, true);
});

Deno.test("The engine client compresses large messages (RSV1) and leaves small ones plain", async () => {
  await withRawServer(
    (key) => upgrade(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
    async (port, peerPromise) => {
      const client = await engineClient(port, { deflate: true });
      const peer = await peerPromise;
      const text = "squeeze me ".repeat(1000);
      await client.send(text);
      await client.send("small");
      const big = await peer.readFrame();
      const small = await peer.readFrame();
      assert.equal(big?.rsv, 4);
      assert.ok(big!.payload.length < 200, `compressed to ${big!.payload.length} bytes`);
      const { inflateRawSync, constants } = await import("node:zlib");
      const inflated = inflateRawSync(
        new Uint8Array([...big!.payload, 0x00, 0x00, 0xff, 0xff]),
        { finishFlush: constants.Z_SYNC_FLUSH },
      );
      assert.equal(new TextDecoder().decode(inflated), text);
      assert.equal(small?.rsv, 0);
      assert.equal(new TextDecoder().decode(small?.payload), "small");
      peer.close();
      await client.closed;
    },
  );
});

Deno.test("close() right after a compressed send() keeps the message ahead of the close frame", async () => {
  await withRawServer(
    (key) => upgrade(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
    async (port, peerPromise) => {
      const client = await engineClient(port, { deflate: true });
      const peer = await peerPromise;
      const sent = client.send("ordered ".repeat(5000));
      const closing = client.close(1000, "after the message");
      await assert.rejects(client.send("too late"), { code: "ERR_NOT_OPEN" });
      const data = await peer.readFrame();
      assert.equal(data?.opcode, TEXT);
      assert.equal(data?.rsv, 4);
      const close = await peer.readClose();
      assert.deepEqual([close.code, close.reason, close.others.length], [
        1000,
        "after the message",
        0,
      ]);
      await sent;
      await peer.write(rawFrame(CLOSE, new Uint8Array([0x03, 0xe8]), { mask: false }));
      peer.close();
      await closing;
      assert.equal((await client.closed).code, 1000);
    },
  );
});

Deno.test("Frames that arrive in the same packet as the handshake are not lost", async (t) => {
  await t.step("server side: request head + first frame in one write", async () => {
    await using server = engineServer();
    using conn = await Deno.connect({ hostname: LOOPBACK4, port: server.port });
    const head = new TextEncoder().encode(
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const frame = rawFrame(TEXT, "early bird");
    const both = new Uint8Array(head.length + frame.length);
    both.set(head);
    both.set(frame, head.length);
    const peer = new RawPeer(conn);
    await peer.write(both);
    assert.match(await peer.readHead(), /^HTTP\/1\.1 101/);
    const echo = await deadline(peer.readFrame(), 5000, "echo");
    assert.equal(new TextDecoder().decode(echo?.payload), "early bird");
  });
  await t.step("client side: 101 head + first frame in one write", async () => {
    const frame = rawFrame(TEXT, "welcome", { mask: false });
    await withRawServer(
      async (key) => {
        const head = new TextEncoder().encode(await upgrade(key));
        const both = new Uint8Array(head.length + frame.length);
        both.set(head);
        both.set(frame, head.length);
        return both;
      },
      async (port, peer) => {
        const client = await engineClient(port);
        const reader = client.readable.getReader();
        assert.equal((await reader.read()).value, "welcome");
        reader.releaseLock();
        (await peer).close();
        await client.closed;
      },
    );
  });
});

Deno.test("Hundreds of small text and binary sends in one burst arrive intact and in order", async () => {
  await using server = engineServer();
  const client = await engineClient(server.port);
  const messages: (string | Uint8Array)[] = [];
  for (let i = 0; i < 500; i++) {
    messages.push(i % 3 === 0 ? randomBytes(i % 200, i + 1) : `msg ${i} ${"ü€😀".repeat(i % 90)}`);
  }
  const sends = messages.map((m) => client.send(m));
  const reader = client.readable.getReader();
  for (const expected of messages) {
    const { value } = await deadline(reader.read(), 5000, "echo");
    assert.deepEqual(value, expected);
  }
  await Promise.all(sends);
  reader.releaseLock();
  await client.close(1000);
});
