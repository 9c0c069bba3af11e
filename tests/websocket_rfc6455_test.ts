/**
 * The rfc6455 engine on the wire, through the public serve()/connect() API,
 * against a raw TCP peer written here: protocol violations get the right
 * close code, control frames behave, reading slowly slows the sender.
 */

import assert from "node:assert/strict";
import {
  connect,
  serve,
  type WebSocketConnection,
  type WebSocketServer,
} from "../websocket/mod.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";
import { closePayload, OP, RawPeer } from "./websocket_peers/raw.ts";
import { sendUntilStalled } from "./websocket_peers/messages.ts";

const encoder = new TextEncoder();

/** An rfc6455 echo server plus a raw peer connected to it. */
async function rawSession(
  options: { maxMessageSize?: number } = {},
): Promise<
  { server: WebSocketServer; peer: RawPeer; conn: WebSocketConnection } & AsyncDisposable
> {
  const server = serve({
    hostname: LOOPBACK4,
    port: 0,
    engine: "rfc6455",
    heartbeat: false,
    ...options,
  });
  const iterator = server[Symbol.asyncIterator]();
  const accepted = iterator.next();
  const peer = await RawPeer.connect(server.addr.port);
  const conn = (await deadline(accepted, 5_000, "the connection")).value as WebSocketConnection;
  (async () => {
    for await (const message of conn.readable) await conn.send(message).catch(() => {});
  })();
  return {
    server,
    peer,
    conn,
    async [Symbol.asyncDispose]() {
      peer.close();
      await server.close();
    },
  };
}

async function expectClose(peer: RawPeer, code: number): Promise<void> {
  const close = await deadline(peer.readClose(), 5_000, `close ${code}`);
  assert.ok(close, "the server closed TCP without a close frame");
  assert.equal(close.code, code, `close reason: "${close.reason}"`);
}

Deno.test("[rfc6455] an unmasked client frame is answered with close 1002", async () => {
  await using session = await rawSession();
  await session.peer.writeFrame(OP.TEXT, encoder.encode("hi"), { mask: false });
  await expectClose(session.peer, 1002);
  assert.equal((await session.conn.closed).code, 1002);
});

Deno.test("[rfc6455] reserved bits without an extension are answered with close 1002", async () => {
  await using session = await rawSession();
  await session.peer.writeFrame(OP.TEXT, encoder.encode("hi"), { rsv: 0x20 });
  await expectClose(session.peer, 1002);
});

Deno.test("[rfc6455] a fragmented control frame is answered with close 1002", async () => {
  await using session = await rawSession();
  await session.peer.writeFrame(OP.PING, encoder.encode("x"), { fin: false });
  await expectClose(session.peer, 1002);
});

Deno.test("[rfc6455] invalid UTF-8 text is answered with close 1007", async (t) => {
  await t.step("in one frame", async () => {
    await using session = await rawSession();
    await session.peer.writeFrame(OP.TEXT, new Uint8Array([0x68, 0xc3, 0x28]));
    await expectClose(session.peer, 1007);
  });
  await t.step("split across fragments", async () => {
    await using session = await rawSession();
    // "é" is c3 a9: a valid split first, then a continuation that breaks the sequence.
    await session.peer.writeFrame(OP.TEXT, new Uint8Array([0x61, 0xc3]), { fin: false });
    await session.peer.writeFrame(OP.CONT, new Uint8Array([0xa9, 0xed, 0xa0, 0x80]));
    await expectClose(session.peer, 1007);
  });
  await t.step("a valid split sequence is fine", async () => {
    await using session = await rawSession();
    await session.peer.writeFrame(OP.TEXT, new Uint8Array([0x61, 0xc3]), { fin: false });
    await session.peer.writeFrame(OP.CONT, new Uint8Array([0xa9]));
    const echo = await deadline(session.peer.readFrame(), 5_000, "echo");
    assert.equal(new TextDecoder().decode(echo!.payload), "aé");
  });
});

Deno.test("[rfc6455] a frame claiming more than maxMessageSize gets 1009 before any payload", async () => {
  await using session = await rawSession({ maxMessageSize: 1 << 20 });
  const before = Deno.memoryUsage().rss;
  // Claims 1 GiB and sends nothing after the header: the limit must trip on the header alone.
  await session.peer.writeFrame(OP.BINARY, new Uint8Array(0), { claimedLength: 2 ** 30 });
  await expectClose(session.peer, 1009);
  assert.ok(
    Deno.memoryUsage().rss - before < 256 * 1024 * 1024,
    "nothing near 1 GiB was allocated",
  );
  assert.equal((await session.conn.closed).code, 1009);
});

Deno.test("[rfc6455] fragments that add up to more than maxMessageSize get 1009", async () => {
  await using session = await rawSession({ maxMessageSize: 1000 });
  await session.peer.writeFrame(OP.BINARY, new Uint8Array(600), { fin: false });
  await session.peer.writeFrame(OP.CONT, new Uint8Array(600));
  await expectClose(session.peer, 1009);
});

Deno.test("[rfc6455] a ping is answered with a pong carrying the same payload", async () => {
  await using session = await rawSession();
  const payload = encoder.encode("ping payload 123");
  await session.peer.writeFrame(OP.PING, payload);
  const pong = await deadline(session.peer.readFrame(), 5_000, "pong");
  assert.equal(pong?.opcode, OP.PONG);
  assert.deepEqual(pong?.payload, payload);
});

Deno.test("[rfc6455] a ping between the fragments of a message is answered and the message kept", async () => {
  await using session = await rawSession();
  await session.peer.writeFrame(OP.TEXT, encoder.encode("Hel"), { fin: false });
  await session.peer.writeFrame(OP.PING, encoder.encode("mid"));
  await session.peer.writeFrame(OP.CONT, encoder.encode("lo"), { fin: false });
  await session.peer.writeFrame(OP.CONT, encoder.encode("!"));
  const first = await deadline(session.peer.readFrame(), 5_000, "pong");
  assert.equal(first?.opcode, OP.PONG);
  assert.equal(new TextDecoder().decode(first!.payload), "mid");
  const echo = await deadline(session.peer.readFrame(), 5_000, "echo");
  assert.equal(echo?.opcode, OP.TEXT);
  assert.equal(new TextDecoder().decode(echo!.payload), "Hello!");
});

Deno.test("[rfc6455] the close handshake echoes the peer's code", async () => {
  await using session = await rawSession();
  const payload = new Uint8Array([0x0b, 0xb8, ...encoder.encode("bye")]); // 3000 "bye"
  await session.peer.writeFrame(OP.CLOSE, payload);
  const echo = await deadline(session.peer.readFrame(), 5_000, "close echo");
  assert.equal(echo?.opcode, OP.CLOSE);
  assert.equal(closePayload(echo!.payload).code, 3000);
  assert.deepEqual(await session.conn.closed, { code: 3000, reason: "bye" });
  assert.equal(await deadline(session.peer.readFrame(), 5_000, "TCP end"), null);
});

Deno.test("[rfc6455] ping() resolves with the round trip to a ws-style peer", async () => {
  await using server = serve({ hostname: LOOPBACK4, port: 0, engine: "rfc6455" });
  const accepted = server[Symbol.asyncIterator]().next();
  await using ws = await connect(`ws://${LOOPBACK4}:${server.addr.port}/`, { engine: "rfc6455" });
  const conn = (await accepted).value as WebSocketConnection;
  // Pongs are read on the readable's pull: keep both sides reading.
  const drain = (c: WebSocketConnection) =>
    (async () => {
      for await (const _ of c.readable) { /* nothing */ }
    })();
  const drained = [drain(ws), drain(conn)];
  const rtt = await deadline(ws.ping(encoder.encode("t")), 5_000, "pong");
  assert.ok(rtt >= 0 && rtt < 5_000);
  assert.ok(await deadline(conn.ping(), 5_000, "pong from client") >= 0);
  await assert.rejects(ws.ping(new Uint8Array(126)), { code: "ERR_PING_PAYLOAD_TOO_LARGE" });
  await ws.close();
  await Promise.all(drained);
});

Deno.test("[rfc6455] a receiver that stops reading slows the sender, and nothing is lost", async () => {
  await using server = serve({ hostname: LOOPBACK4, port: 0, engine: "rfc6455", heartbeat: false });
  const accepted = server[Symbol.asyncIterator]().next();
  await using ws = await connect(`ws://${LOOPBACK4}:${server.addr.port}/`, { engine: "rfc6455" });
  const conn = (await accepted).value as WebSocketConnection;
  const chunk = new Uint8Array(256 * 1024);
  const { resolved, stalled: pending } = await sendUntilStalled((i) => {
    chunk[0] = i & 0xff;
    return ws.send(chunk.slice());
  });
  // Every chunk went out, the stalled one included.
  const sent = pending ? resolved + 1 : resolved;
  assert.ok(pending, "the sender was never slowed down");
  assert.ok(sent * chunk.byteLength < 64 * 1024 * 1024, `stalled only after ${sent} chunks`);
  // Now read everything: every message arrives, in order.
  const reader = conn.readable.getReader();
  for (let i = 0; i < sent; i++) {
    const { value } = await deadline(reader.read(), 5_000, `message ${i}`);
    assert.equal((value as Uint8Array)[0], i & 0xff);
  }
  await deadline(pending, 5_000, "the stalled send to complete");
  reader.releaseLock();
});

Deno.test("[rfc6455] a client heartbeat closes a server that stops answering with 1001", async () => {
  using listener = Deno.listen({ hostname: LOOPBACK4, port: 0 });
  const accepted = RawPeer.accept(listener);
  const ws = await connect(`ws://${LOOPBACK4}:${listener.addr.port}/`, {
    engine: "rfc6455",
    heartbeat: { interval: 200, timeout: 200 },
  });
  using server = await accepted;
  const frame = await deadline(server.readFrame(), 5_000, "a ping");
  assert.equal(frame?.opcode, OP.PING);
  // Never answered: the client gives up with 1001 and drops TCP.
  assert.equal((await server.readClose())?.code, 1001);
  const closed = await deadline(ws.closed, 5_000, "client close");
  assert.deepEqual({ code: closed.code, reason: closed.reason }, {
    code: 1001,
    reason: "No pong within heartbeat timeout",
  });
  assert.equal(closed.error?.code, "ERR_HEARTBEAT_TIMEOUT");
  await assert.rejects(
    connect(`ws://${LOOPBACK4}:${listener.addr.port}/`, { heartbeat: { interval: 1_000 } }),
    { code: "ERR_UNSUPPORTED_BY_ENGINE" },
  );
});

Deno.test("[rfc6455] a client that sends no request head gets 408 and is dropped after handshakeTimeout", async () => {
  await using server = serve({
    hostname: LOOPBACK4,
    port: 0,
    engine: "rfc6455",
    handshakeTimeout: 300,
  });
  using conn = await Deno.connect({ hostname: LOOPBACK4, port: server.addr.port });
  const started = performance.now();
  const answer = new Uint8Array(256);
  const n = await deadline(conn.read(answer), 5_000, "the server's answer");
  assert.match(new TextDecoder().decode(answer.subarray(0, n ?? 0)), /^HTTP\/1\.1 408 /);
  assert.equal(await deadline(conn.read(answer), 5_000, "the server to hang up"), null);
  assert.ok(performance.now() - started < 3_000);
  // Other clients are still served.
  await using ws = await connect(`ws://${LOOPBACK4}:${server.addr.port}/`, { engine: "rfc6455" });
  assert.equal(ws.readyState, 1);
});

Deno.test("[rfc6455] a request head over maxHeaderBytes is answered with 431", async () => {
  await using server = serve({
    hostname: LOOPBACK4,
    port: 0,
    engine: "rfc6455",
    maxHeaderBytes: 1024,
  });
  await assert.rejects(
    connect(`ws://${LOOPBACK4}:${server.addr.port}/`, {
      engine: "rfc6455",
      headers: { "x-padding": "x".repeat(2048) },
    }),
    { status: 431 },
  );
});

Deno.test("broadcast() never waits for a member that does not read: its queue overflows by policy", async (t) => {
  for (const engine of ["rfc6455", "native"] as const) {
    for (const overflow of ["close", "drop"] as const) {
      await t.step(`${engine}, sendQueueOverflow "${overflow}"`, async () => {
        await using server = serve({
          hostname: LOOPBACK4,
          port: 0,
          engine,
          sendQueueMessages: 4,
          sendQueueOverflow: overflow,
        });
        const accepted = server[Symbol.asyncIterator]();
        // A client that never reads: its server-side queue fills once TCP and the engine are full.
        await using slow = await connect(`ws://${LOOPBACK4}:${server.addr.port}/`, {
          engine: "rfc6455",
        });
        const conn = (await accepted.next()).value as WebSocketConnection;
        const chunk = new Uint8Array(256 * 1024);
        const started = performance.now();
        for (let i = 0; i < 400 && conn.readyState === 1; i++) {
          await server.broadcast(chunk); // resolves at once: nothing is awaited per member
          if (i % 8 === 7) await new Promise((resolve) => setTimeout(resolve, 5));
        }
        assert.ok(performance.now() - started < 5_000);
        if (overflow === "close") {
          const closed = await deadline(conn.closed, 5_000, "the overflow close");
          assert.equal(closed.code, 1008);
          assert.equal(closed.error?.code, "ERR_SEND_QUEUE_FULL");
          assert.equal(
            closed.error?.closeCode,
            1008,
            "closed.error says which close code was sent",
          );
        } else {
          assert.equal(conn.readyState, 1, "a dropping member stays open");
        }
        await slow.close().catch(() => {});
      });
    }
  }
});
