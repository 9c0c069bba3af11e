/**
 * The behaviour both engines share, run once per engine over real loopback
 * sockets.
 */

import assert from "node:assert/strict";
import {
  connect,
  serve,
  type ServeOptions,
  type WebSocketConnection,
  type WebSocketEngine,
  WebSocketError,
  type WebSocketServer,
} from "../websocket/mod.ts";
import { deadline, hasIPv6, LOOPBACK4, LOOPBACK6 } from "./_loopback.ts";
import { makeServerCertificates } from "./_certs.ts";
import { ENGINES } from "./websocket_peers/engines.ts";
import { nextMessage, sendUntilStalled } from "./websocket_peers/messages.ts";
import { closePayload, OP, RawPeer } from "./websocket_peers/raw.ts";

/** A server that echoes every message back, for the duration of one test. */
function echoServer(engine: WebSocketEngine, options: ServeOptions = {}): WebSocketServer {
  const server = serve({ hostname: LOOPBACK4, port: 0, engine, ...options });
  (async () => {
    for await (const conn of server) {
      (async () => {
        for await (const message of conn.readable) await conn.send(message).catch(() => {});
      })();
    }
  })();
  return server;
}

async function firstConnection(server: WebSocketServer): Promise<WebSocketConnection> {
  const iterator = server[Symbol.asyncIterator]();
  const { value } = await deadline(iterator.next(), 5_000, "a server connection");
  return value as WebSocketConnection;
}

for (const engine of ENGINES) {
  const url = (server: WebSocketServer, path = "/") =>
    `ws://${LOOPBACK4}:${server.addr.port}${path}`;

  Deno.test(`[${engine}] text and binary messages round-trip intact up to 16 MiB`, async (t) => {
    await using server = echoServer(engine);
    await using ws = await connect(url(server), { engine });
    for (const size of [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]) {
      await t.step(`${size} bytes`, async () => {
        const bytes = new Uint8Array(size);
        for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
        await ws.send(bytes);
        const echoed = await nextMessage(ws);
        assert.ok(echoed instanceof Uint8Array, "binary comes back as Uint8Array");
        assert.equal(echoed.byteLength, size);
        assert.deepEqual(echoed, bytes);
        const text = "é".repeat(Math.floor(size / 2)) + (size % 2 ? "x" : "");
        await ws.send(text);
        const echoedText = await nextMessage(ws);
        assert.equal(typeof echoedText, "string");
        assert.ok(echoedText === text, "text differs");
      });
    }
  });

  Deno.test(`[${engine}] the server picks the first offered subprotocol it speaks`, async () => {
    await using server = echoServer(engine, { protocols: ["v2", "v1"] });
    await using ws = await connect(url(server), { engine, protocols: ["v1", "v2"] });
    assert.equal(ws.protocol, "v1");
    await ws.send("ping");
    assert.equal(await nextMessage(ws), "ping");
  });

  Deno.test(`[${engine}] selectProtocol sees the request and the offer`, async () => {
    let seen: string[] = [];
    await using server = echoServer(engine, {
      selectProtocol: (request, offered) => {
        seen = offered;
        return new URL(request.url).searchParams.get("want") ?? undefined;
      },
    });
    await using ws = await connect(url(server, "/?want=b"), { engine, protocols: ["a", "b"] });
    assert.equal(ws.protocol, "b");
    assert.deepEqual(seen, ["a", "b"]);
  });

  Deno.test(`[${engine}] connect() rejects when the server picks no offered subprotocol`, async () => {
    await using server = echoServer(engine, { protocols: ["chat"] });
    await assert.rejects(
      connect(url(server), { engine, protocols: ["superchat"] }),
      (error: unknown) =>
        error instanceof WebSocketError && error.code === "ERR_PROTOCOL_NOT_NEGOTIATED",
    );
  });

  Deno.test(`[${engine}] custom request headers, path and query reach the server`, async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine });
    const accepted = firstConnection(server);
    await using ws = await connect(url(server, "/room/7?user=ann"), {
      engine,
      headers: { "x-custom": "yes", authorization: "Bearer t0k3n" },
    });
    await using conn = await accepted;
    assert.equal(conn.path, "/room/7?user=ann");
    assert.equal(conn.headers.get("x-custom"), "yes");
    assert.equal(conn.headers.get("authorization"), "Bearer t0k3n");
    assert.equal(conn.remoteAddr?.hostname, LOOPBACK4);
    assert.equal(ws.path, "/room/7?user=ann");
  });

  Deno.test(`[${engine}] authorize() rejects with 401 before the handshake completes`, async (t) => {
    let opened = 0;
    await using server = serve({
      hostname: LOOPBACK4,
      port: 0,
      engine,
      authorize: (request) =>
        request.headers.get("authorization") === "Bearer good"
          ? true
          : new URL(request.url).pathname === "/admin"
          ? new Response("Forbidden", { status: 403 })
          : false,
    });
    (async () => {
      for await (const conn of server) {
        opened++;
        void conn;
      }
    })();
    await t.step("false → 401", async () => {
      await assert.rejects(
        connect(url(server), { engine }),
        (error: unknown) => error instanceof WebSocketError && error.status === 401,
      );
    });
    await t.step("a Response is sent as is", async () => {
      await assert.rejects(
        connect(url(server, "/admin"), { engine }),
        (error: unknown) => error instanceof WebSocketError && error.status === 403,
      );
    });
    await t.step("true → open", async () => {
      await using ws = await connect(url(server), {
        engine,
        headers: { authorization: "Bearer good" },
      });
      assert.equal(ws.readyState, 1);
    });
    assert.equal(opened, 1, "only the authorized client became a connection");
  });

  Deno.test(`[${engine}] wss works with a leaf certificate signed by a CA made in the test`, async () => {
    const { caCert, cert, key } = await makeServerCertificates();
    await using server = echoServer(engine, { cert, key });
    await t_rejectsWithoutCa();
    await using ws = await connect(`wss://localhost:${server.addr.port}/secure`, {
      engine,
      caCerts: [caCert],
    });
    await ws.send("over tls");
    assert.equal(await nextMessage(ws), "over tls");

    async function t_rejectsWithoutCa() {
      await assert.rejects(
        connect(`wss://localhost:${server.addr.port}/`, { engine }),
        WebSocketError,
      );
    }
  });

  Deno.test(`[${engine}] the heartbeat closes a peer that stops answering pings with 1001`, async () => {
    await using server = serve({
      hostname: LOOPBACK4,
      port: 0,
      engine,
      heartbeat: { interval: 300, timeout: 300 },
    });
    const accepted = firstConnection(server);
    using peer = await RawPeer.connect(server.addr.port);
    const conn = await accepted;
    const started = performance.now();
    let sawPing = false;
    let closeCode = 0;
    // The peer reads but never answers: no pong, no close reply.
    while (true) {
      const frame = await deadline(peer.readFrame(), 5_000, "a frame from the server");
      if (frame === null) break;
      if (frame.opcode === OP.PING) sawPing = true;
      if (frame.opcode === OP.CLOSE) {
        closeCode = closePayload(frame.payload).code;
        break;
      }
    }
    peer.close();
    assert.ok(sawPing, "the server pinged");
    assert.equal(closeCode, 1001);
    const { code } = await deadline(conn.closed, 5_000, "the server side to close");
    assert.equal(code, 1001);
    assert.ok(performance.now() - started < 3_000, "closed within interval + timeout (+ slack)");
  });

  Deno.test(`[${engine}] a peer that answers pings stays connected`, async () => {
    await using server = echoServer(engine, { heartbeat: { interval: 200, timeout: 200 } });
    await using ws = await connect(url(server), { engine });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal(ws.readyState, 1);
    await ws.send("still here");
    assert.equal(await nextMessage(ws), "still here");
  });

  Deno.test(`[${engine}] broadcast reaches 200 concurrent clients`, async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine });
    const clients = await Promise.all(
      Array.from({ length: 200 }, () => connect(url(server), { engine })),
    );
    try {
      const deadlineAt = Date.now() + 5_000;
      while (server.connections.length < 200 && Date.now() < deadlineAt) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(server.connections.length, 200);
      await server.broadcast("to everyone");
      await server.broadcast(new Uint8Array([1, 2, 3]));
      const received = await Promise.all(
        clients.map(async (ws) => [await nextMessage(ws), await nextMessage(ws)]),
      );
      for (const [text, bytes] of received) {
        assert.equal(text, "to everyone");
        assert.deepEqual(bytes, new Uint8Array([1, 2, 3]));
      }
    } finally {
      await Promise.all(clients.map((ws) => ws.close()));
    }
  });

  Deno.test(`[${engine}] abrupt TCP loss is reported as 1006 on the server`, async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine });
    const accepted = firstConnection(server);
    const peer = await RawPeer.connect(server.addr.port);
    const conn = await accepted;
    peer.close();
    const { code } = await deadline(conn.closed, 5_000, "the close");
    assert.equal(code, 1006);
    const reader = conn.readable.getReader();
    assert.equal((await reader.read()).done, true, "the readable ends");
  });

  Deno.test(`[${engine}] abrupt TCP loss is reported as 1006 on the client`, async () => {
    using listener = Deno.listen({ hostname: LOOPBACK4, port: 0 });
    const accepted = RawPeer.accept(listener);
    const ws = await connect(`ws://${LOOPBACK4}:${listener.addr.port}/`, { engine });
    const server = await accepted;
    server.close(); // no close frame
    const { code } = await deadline(ws.closed, 5_000, "the client to notice");
    assert.equal(code, 1006);
  });

  Deno.test(`[${engine}] a message over maxMessageSize closes the connection with 1009`, async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine, maxMessageSize: 1024 });
    const accepted = firstConnection(server);
    await using ws = await connect(url(server), { engine });
    const conn = await accepted;
    await ws.send(new Uint8Array(1024));
    await ws.send(new Uint8Array(1025));
    const reader = conn.readable.getReader();
    assert.equal(
      ((await reader.read()).value as Uint8Array).byteLength,
      1024,
      "the message at the limit arrives",
    );
    assert.equal((await reader.read()).done, true, "the oversize one ends the stream");
    assert.equal((await deadline(conn.closed, 5_000, "server close")).code, 1009);
    assert.equal((await deadline(ws.closed, 5_000, "client close")).code, 1009);
  });

  Deno.test(`[${engine}] close() sends the code and reason and both sides report them`, async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine });
    const accepted = firstConnection(server);
    const ws = await connect(url(server), { engine });
    const conn = await accepted;
    await ws.close(4001, "see you");
    // The receiving side reports the frame it got; the initiator the echo (code, reason optional).
    assert.deepEqual(await conn.closed, { code: 4001, reason: "see you" });
    assert.equal((await ws.closed).code, 4001);
    assert.equal(ws.readyState, 3);
    await assert.rejects(ws.send("late"), { code: "ERR_NOT_OPEN" });
  });

  Deno.test(`[${engine}] close() refuses reserved codes and long reasons`, async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine });
    await using ws = await connect(url(server), { engine });
    await assert.rejects(ws.close(1005), { code: "ERR_INVALID_CLOSE_CODE" });
    await assert.rejects(ws.close(1006), { code: "ERR_INVALID_CLOSE_CODE" });
    await assert.rejects(ws.close(5000), { code: "ERR_INVALID_CLOSE_CODE" });
    await assert.rejects(ws.close(1000, "é".repeat(62)), { code: "ERR_CLOSE_REASON_TOO_LONG" });
    await assert.rejects(ws.send(42 as unknown as string), { code: "ERR_INVALID_DATA" });
    assert.equal(ws.readyState, 1, "still open after refused calls");
  });

  Deno.test(`[${engine}] beginBinary() delivers one message made of its chunks`, async () => {
    await using server = echoServer(engine);
    await using ws = await connect(url(server), { engine });
    const stream = ws.beginBinary();
    const writer = stream.getWriter();
    await assert.rejects(ws.send("in between"), { code: "ERR_BINARY_STREAM_ACTIVE" });
    const expected = new Uint8Array(300_000);
    for (let i = 0; i < expected.byteLength; i++) expected[i] = i % 251;
    for (let offset = 0; offset < expected.byteLength; offset += 70_000) {
      await writer.write(expected.subarray(offset, offset + 70_000));
    }
    await writer.close();
    assert.deepEqual(await nextMessage(ws), expected);
    await ws.send("after");
    assert.equal(await nextMessage(ws), "after");
  });

  Deno.test(`[${engine}] the writable sends each chunk as a message`, async () => {
    await using server = echoServer(engine);
    await using ws = await connect(url(server), { engine });
    const writer = ws.writable.getWriter();
    await writer.write("one");
    await writer.write(new Uint8Array([2]));
    writer.releaseLock();
    assert.equal(await nextMessage(ws), "one");
    assert.deepEqual(await nextMessage(ws), new Uint8Array([2]));
  });

  Deno.test(`[${engine}] send() waits while a peer that does not read holds the buffer`, async () => {
    await using server = serve({
      hostname: LOOPBACK4,
      port: 0,
      engine,
      sendHighWaterMark: 256 * 1024,
      heartbeat: false,
    });
    const accepted = firstConnection(server);
    using peer = await RawPeer.connect(server.addr.port); // never reads
    const conn = await accepted;
    const chunk = new Uint8Array(256 * 1024);
    const { resolved, stalled: pending } = await sendUntilStalled(() => conn.send(chunk));
    const sent = resolved * chunk.byteLength;
    assert.ok(pending, `send() kept resolving after ${sent} bytes to a non-reading peer`);
    assert.ok(sent < 64 * 1024 * 1024, "stalled before 64 MiB was queued");
    peer.close();
    await deadline(conn.closed, 5_000, "close after the peer vanished");
    await pending.catch(() => {});
  });

  Deno.test(`[${engine}] server.close() closes connections with 1001 and ends iteration`, async () => {
    const server = serve({ hostname: LOOPBACK4, port: 0, engine });
    const iteration = (async () => {
      let count = 0;
      for await (const _conn of server) count++;
      return count;
    })();
    const ws = await connect(url(server), { engine });
    await ws.send("hello");
    await server.close();
    assert.equal((await ws.closed).code, 1001);
    assert.equal(await deadline(iteration, 5_000, "iteration to end"), 1);
    await assert.rejects(connect(url(server), { engine }), WebSocketError);
  });

  Deno.test(`[${engine}] an aborted signal stops serve() and connect()`, async () => {
    const controller = new AbortController();
    const server = serve({ hostname: LOOPBACK4, port: 0, engine, signal: controller.signal });
    const ws = await connect(url(server), { engine });
    controller.abort();
    await server.finished;
    assert.equal((await ws.closed).code, 1001);
    await assert.rejects(
      connect(url(server), { engine, signal: AbortSignal.abort() }),
      { name: "AbortError" },
    );
  });

  Deno.test(`[${engine}] two loops iterating one server share the connections`, async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine });
    const seen: string[][] = [[], []];
    const loops = seen.map(async (list) => {
      for await (const conn of server) list.push(conn.path);
    });
    const clients = await Promise.all(
      [1, 2, 3, 4].map((n) => connect(url(server, `/${n}`), { engine })),
    );
    const until = Date.now() + 5_000;
    while (seen[0].length + seen[1].length < 4 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual([...seen[0], ...seen[1]].sort(), ["/1", "/2", "/3", "/4"]);
    assert.ok(seen[0].length > 0 && seen[1].length > 0, "both loops got connections");
    await Promise.all(clients.map((ws) => ws.close()));
    await server.close();
    await Promise.all(loops);
  });

  Deno.test({
    name: `[${engine}] serves and connects over IPv6 loopback`,
    ignore: !hasIPv6(),
    async fn() {
      await using server = echoServer(engine, { hostname: LOOPBACK6 });
      assert.equal(server.addr.hostname, LOOPBACK6);
      await using ws = await connect(`ws://[${LOOPBACK6}]:${server.addr.port}/v6`, { engine });
      await ws.send("over ::1");
      assert.equal(await nextMessage(ws), "over ::1");
    },
  });

  Deno.test(`[${engine}] close() gives up on a peer that never answers after closeTimeout`, async () => {
    await using server = serve({
      hostname: LOOPBACK4,
      port: 0,
      engine,
      heartbeat: false,
      closeTimeout: 300,
    });
    const accepted = firstConnection(server);
    using peer = await RawPeer.connect(server.addr.port);
    const conn = await accepted;
    const started = performance.now();
    await deadline(conn.close(1000, "bye"), 5_000, "close() to give up");
    assert.ok(performance.now() - started >= 250, "waited for the peer first");
    assert.equal((await conn.closed).code, 1006);
    assert.equal((await deadline(peer.readClose(), 5_000, "the close frame"))?.code, 1000);
  });

  Deno.test(`[${engine}] a hung authorize() answers 503 after handshakeTimeout and never blocks close()`, async (t) => {
    await t.step("handshakeTimeout", async () => {
      await using server = serve({
        hostname: LOOPBACK4,
        port: 0,
        engine,
        handshakeTimeout: 300,
        authorize: () => new Promise<boolean>(() => {}),
      });
      await assert.rejects(
        deadline(connect(url(server), { engine }), 5_000, "the 503"),
        (error: unknown) => error instanceof WebSocketError && error.status === 503,
      );
    });
    await t.step("close()", async () => {
      const server = serve({
        hostname: LOOPBACK4,
        port: 0,
        engine,
        authorize: () => new Promise<boolean>(() => {}),
      });
      const attempt = connect(url(server), { engine }).catch((error) => error);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await deadline(server.close(), 1_000, "close()");
      assert.equal((await attempt).status, 503);
    });
  });

  Deno.test(`[${engine}] hostile peers get errors while a good client keeps being served`, async () => {
    await using server = echoServer(engine, { maxHeaderBytes: 4096, handshakeTimeout: 1_000 });
    await using good = await connect(url(server), { engine });
    const port = server.addr.port;
    const junk = [
      "GARBAGE\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(100_000) + "\r\n\r\n",
      String.fromCharCode(...crypto.getRandomValues(new Uint8Array(512))),
    ];
    const hostile = junk.map(async (text) => {
      using conn = await Deno.connect({ hostname: LOOPBACK4, port });
      await conn.write(new TextEncoder().encode(text)).catch(() => {});
      const buf = new Uint8Array(256);
      const n = await deadline(conn.read(buf).catch(() => null), 5_000, "an answer or a hang-up");
      return n === null ? "hang-up" : new TextDecoder().decode(buf.subarray(0, n)).split("\r\n")[0];
    });
    // Raw peers that complete the handshake and then send random bytes as frames. Random
    // headers may claim a long payload the server then waits for, so each fuzzer gives the
    // server a moment to react and then hangs up itself.
    const fuzzers = Array.from({ length: 5 }, async () => {
      using peer = await RawPeer.connect(port);
      await peer.conn.write(crypto.getRandomValues(new Uint8Array(4096))).catch(() => 0);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        (async () => {
          while ((await peer.readFrame()) !== null) { /* drain until the server hangs up */ }
        })(),
        new Promise((resolve) => timer = setTimeout(resolve, 500)),
      ]);
      clearTimeout(timer);
    });
    for (let i = 0; i < 20; i++) {
      await good.send(`still here ${i}`);
      assert.equal(await nextMessage(good), `still here ${i}`);
    }
    const answers = await Promise.all(hostile);
    for (const answer of answers) {
      assert.ok(answer === "hang-up" || /^HTTP\/1\.1 4\d\d/.test(answer), `answer: ${answer}`);
    }
    await Promise.all(fuzzers);
    assert.equal(good.readyState, 1);
  });

  Deno.test(`[${engine}] piping into writable sends every chunk and closing it closes with 1000`, async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine });
    const accepted = firstConnection(server);
    const ws = await connect(url(server), { engine });
    const conn = await accepted;
    const chunks = Array.from({ length: 50 }, (_, i) => `chunk ${i}`);
    await ReadableStream.from(chunks).pipeTo(ws.writable);
    const received = await Array.fromAsync(conn.readable);
    assert.deepEqual(received, chunks);
    assert.equal((await conn.closed).code, 1000);
    assert.equal((await ws.closed).code, 1000);
  });
}
