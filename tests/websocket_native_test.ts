/**
 * What only the native engine does (or does differently): handleUpgrade()
 * inside a Deno.serve handler, the bounded receive queue, refused ping().
 */

import assert from "node:assert/strict";
import { connect, handleUpgrade, serve, type WebSocketConnection } from "../websocket/mod.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

Deno.test("handleUpgrade() serves WebSockets and HTTP routes from one Deno.serve handler", async () => {
  const accepted = Promise.withResolvers<WebSocketConnection>();
  await using http = Deno.serve(
    { hostname: LOOPBACK4, port: 0, onListen() {} },
    (request, info) => {
      if (new URL(request.url).pathname !== "/ws") return new Response("plain http");
      const { response, connection } = handleUpgrade(request, {
        protocols: ["chat"],
        remoteAddr: info.remoteAddr,
      });
      accepted.resolve(connection);
      (async () => {
        for await (const message of connection.readable) await connection.send(message);
      })();
      return response;
    },
  );
  const base = `127.0.0.1:${http.addr.port}`;
  assert.equal(await (await fetch(`http://${base}/`)).text(), "plain http");
  await using ws = await connect(`ws://${base}/ws?x=1`, { protocols: ["chat"] });
  const conn = await accepted.promise;
  assert.equal(conn.path, "/ws?x=1");
  assert.equal(conn.protocol, "chat");
  assert.equal(conn.remoteAddr?.hostname, LOOPBACK4);
  await ws.send("echo me");
  const reader = ws.readable.getReader();
  assert.equal((await deadline(reader.read(), 5_000, "echo")).value, "echo me");
  reader.releaseLock();
});

Deno.test("handleUpgrade() throws ERR_INVALID_UPGRADE_REQUEST for a plain request", () => {
  assert.throws(
    () => handleUpgrade(new Request("http://127.0.0.1/")),
    { name: "WebSocketTypeError", code: "ERR_INVALID_UPGRADE_REQUEST" },
  );
  assert.throws(
    () => handleUpgrade(new Request("http://127.0.0.1/"), { engine: "rfc6455" }),
    { code: "ERR_UNSUPPORTED_BY_ENGINE" },
  );
});

Deno.test("serve() answers plain requests with 426, other paths with 404, over capacity with 503", async (t) => {
  await using server = serve({
    hostname: LOOPBACK4,
    port: 0,
    engine: "native",
    path: "/ws",
    maxConnections: 1,
  });
  const base = `127.0.0.1:${server.addr.port}`;
  await t.step("426", async () => {
    const response = await fetch(`http://${base}/ws`);
    await response.body?.cancel();
    assert.equal(response.status, 426);
  });
  await t.step("404", async () => {
    await assert.rejects(connect(`ws://${base}/elsewhere`), { status: 404 });
  });
  await t.step("503", async () => {
    await using first = await connect(`ws://${base}/ws`);
    await assert.rejects(connect(`ws://${base}/ws`), { status: 503 });
    assert.equal(first.readyState, 1);
  });
});

Deno.test("native ping() rejects with ERR_UNSUPPORTED_BY_ENGINE", async () => {
  await using server = serve({ hostname: LOOPBACK4, port: 0, engine: "native" });
  await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  await assert.rejects(ws.ping(), { code: "ERR_UNSUPPORTED_BY_ENGINE" });
  assert.equal(ws.engine, "native");
});

Deno.test("native: unread messages beyond receiveQueueLimit close with 1008, earlier ones stay readable", async () => {
  await using server = serve({
    hostname: LOOPBACK4,
    port: 0,
    engine: "native",
    receiveQueueLimit: 64 * 1024,
  });
  const iterator = server[Symbol.asyncIterator]();
  await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  const conn = (await iterator.next()).value as WebSocketConnection;
  const chunk = new Uint8Array(16 * 1024);
  // Nobody reads on the server: the fourth message does not fit.
  for (let i = 0; i < 4; i++) await ws.send(chunk);
  const closed = await deadline(conn.closed, 5_000, "overflow close");
  assert.equal(closed.code, 1008);
  assert.equal(closed.error?.code, "ERR_RECEIVE_QUEUE_FULL");
  assert.equal((await deadline(ws.closed, 5_000, "client sees it")).code, 1008);
  let kept = 0;
  for await (const message of conn.readable) kept += (message as Uint8Array).byteLength;
  // Each message also weighs receiveQueueLimit / receiveQueueMessages (16 bytes): the fourth
  // 16 KiB message no longer fits.
  assert.equal(kept, 48 * 1024, "the queued messages are still delivered");
});

Deno.test("connect() rejects ERR_INVALID_URL for other schemes and fragments", async () => {
  await assert.rejects(connect("ftp://127.0.0.1/"), {
    name: "WebSocketSyntaxError",
    code: "ERR_INVALID_URL",
  });
  await assert.rejects(connect("ws://127.0.0.1/#x"), { code: "ERR_INVALID_URL" });
  await assert.rejects(connect("not a url"), { code: "ERR_INVALID_URL" });
});

Deno.test("connect() rejects ERR_HANDSHAKE_FAILED when nothing listens", async () => {
  const listener = Deno.listen({ hostname: LOOPBACK4, port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(connect(`ws://127.0.0.1:${port}/`), { code: "ERR_HANDSHAKE_FAILED" });
});

Deno.test("serve(), connect() and handleUpgrade() refuse bad limits with ERR_INVALID_OPTION", async () => {
  assert.throws(() => serve({ port: 0, maxMessageSize: 0 }), { code: "ERR_INVALID_OPTION" });
  // The built-in socket cannot go past 64 MiB; the rfc6455 engine can.
  assert.throws(
    () => serve({ port: 0, engine: "native", maxMessageSize: 65 << 20 }),
    { code: "ERR_INVALID_OPTION" },
  );
  await serve({ hostname: LOOPBACK4, port: 0, maxMessageSize: 65 << 20 }).close();
  assert.throws(() => serve({ port: 0, sendQueueOverflow: "x" as "drop" }), {
    code: "ERR_INVALID_OPTION",
  });
  assert.throws(() => serve({ port: 0, maxFragments: 0 }), { code: "ERR_INVALID_OPTION" });
  assert.throws(
    () => serve({ port: 0, engine: "rfc6455", heartbeat: { interval: -1 } }),
    { code: "ERR_INVALID_OPTION" },
  );
  await assert.rejects(
    connect("ws://127.0.0.1:9/", { fragmentSize: -5 }),
    { code: "ERR_INVALID_OPTION" },
  );
  assert.throws(
    () => handleUpgrade(new Request("http://127.0.0.1/"), { sendHighWaterMark: -1 }),
    { code: "ERR_INVALID_OPTION" },
  );
});

Deno.test("native client: codes the built-in client cannot send go out as 1000", async (t) => {
  await t.step("close(1001) is sent and reported as 1000", async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine: "native" });
    const accepted = server[Symbol.asyncIterator]().next();
    const ws = await connect(`ws://127.0.0.1:${server.addr.port}/`);
    const conn = (await accepted).value as WebSocketConnection;
    await ws.close(1001, "leaving");
    assert.deepEqual(await conn.closed, { code: 1000, reason: "leaving" });
    assert.equal((await ws.closed).code, 1000);
  });
  await t.step("an oversize message: 1009 locally, 1000 with the reason on the wire", async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine: "native" });
    const accepted = server[Symbol.asyncIterator]().next();
    const ws = await connect(`ws://127.0.0.1:${server.addr.port}/`, { maxMessageSize: 100 });
    const conn = (await accepted).value as WebSocketConnection;
    await conn.send(new Uint8Array(101));
    assert.equal((await deadline(ws.closed, 5_000, "client close")).code, 1009);
    const seen = await deadline(conn.closed, 5_000, "server close");
    assert.equal(seen.code, 1000);
    assert.match(seen.reason, /exceeds the limit/);
  });
});

Deno.test("native: unread bytes of all connections beyond maxBufferedBytes close the one over it with 1013", async () => {
  await using server = serve({
    hostname: LOOPBACK4,
    port: 0,
    engine: "native",
    receiveQueueLimit: 4 << 20,
    maxBufferedBytes: 1 << 20,
  });
  const iterator = server[Symbol.asyncIterator]();
  await using first = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  const a = (await iterator.next()).value as WebSocketConnection;
  await using second = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  const b = (await iterator.next()).value as WebSocketConnection;
  const chunk = new Uint8Array(256 * 1024);
  // Nobody reads on the server: the first connection holds 768 KiB (704 KiB charged) …
  for (let i = 0; i < 3; i++) await first.send(chunk);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(a.readyState, 1);
  // … so the second one's 512 KiB do not fit in the 1 MiB budget.
  for (let i = 0; i < 2; i++) await second.send(chunk);
  const closed = await deadline(b.closed, 5_000, "the budget close");
  assert.equal(closed.code, 1013);
  assert.equal(closed.error?.code, "ERR_SERVER_BUSY");
  assert.equal(a.readyState, 1, "the first connection is not touched");
});

Deno.test("native: a peer that stops reading what we send is closed with 1008 after sendTimeout", async () => {
  await using server = serve({
    hostname: LOOPBACK4,
    port: 0,
    engine: "native",
    sendTimeout: 300,
    closeTimeout: 500,
  });
  const iterator = server[Symbol.asyncIterator]();
  // An rfc6455 client whose readable nobody reads: it stops reading TCP after 64 KiB.
  await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/`, { engine: "rfc6455" });
  const conn = (await iterator.next()).value as WebSocketConnection;
  const chunk = new Uint8Array(1 << 20);
  for (let i = 0; i < 16; i++) void conn.send(chunk).catch(() => {});
  const closed = await deadline(conn.closed, 10_000, "the send-timeout close");
  assert.equal(closed.code, 1008);
  assert.equal(closed.error?.code, "ERR_SEND_TIMEOUT");
  await ws.close().catch(() => {});
});
