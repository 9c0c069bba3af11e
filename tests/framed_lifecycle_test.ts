import assert from "node:assert/strict";
import { connect, FramedError, FramedRangeError, FramedTypeError, listen } from "../framed/mod.ts";
import { accept, drain, pair, pattern, take } from "./_framed.ts";
import { deadline, hasIPv6, LOOPBACK4, LOOPBACK6 } from "./_loopback.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port nothing listens on (bound, read back, released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: LOOPBACK4, port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

Deno.test("a peer's close ends readable and resolves closed", async () => {
  await using p = await pair();
  await p.peer.send("last words");
  await p.peer.close();
  const { values, error } = await drain(p.client);
  assert.deepEqual(values, ["last words"]);
  assert.equal(error, undefined);
  await deadline(p.client.closed, 5000, "client closed");
});

Deno.test("close() writes everything already sent before closing the socket", async () => {
  await using p = await pair({ sendType: "bytes" });
  const payloads = Array.from({ length: 5 }, (_, i) => pattern(1 << 20, i + 1));
  const sent = payloads.map((payload) => p.client.send(payload));
  const closing = p.client.close();
  const { values, error } = await drain(p.peer);
  await Promise.all(sent);
  await closing;
  assert.equal(error, undefined);
  assert.deepEqual(values, payloads);
});

Deno.test("bursts that follow an awaited send arrive in order, and close() then returns at once", async () => {
  await using p = await pair({ sendType: "bytes" });
  const expected: Uint8Array[] = [];
  for (let burst = 0; burst < 20; burst++) {
    const first = pattern(64, burst * 100);
    expected.push(first);
    await p.client.send(first);
    let last!: Promise<void>;
    for (let i = 1; i <= 50; i++) {
      const message = pattern(1 + (i * 37) % 300, burst * 100 + i);
      expected.push(message);
      last = p.client.send(message);
    }
    await last;
  }
  const started = performance.now();
  await p.client.close();
  assert.ok(performance.now() - started < 1000, "no write was left pending after the last one");
  const { values, error } = await drain(p.peer);
  assert.equal(error, undefined);
  assert.deepEqual(values, expected);
});

Deno.test("send() after close() rejects with ERR_CONNECTION_CLOSED; close() twice is fine", async () => {
  await using p = await pair();
  await p.client.close();
  await p.client.close();
  await assert.rejects(
    p.client.send("late"),
    (e: Error) => e instanceof FramedError && e.code === "ERR_CONNECTION_CLOSED",
  );
  const error = await p.client.send("late").catch((e) => e);
  assert.equal(error.code, "ERR_CONNECTION_CLOSED");
});

Deno.test("send() resolves only as the socket takes the bytes (backpressure)", async () => {
  await using p = await pair({ sendType: "bytes" });
  const chunk = pattern(64 * 1024);
  let resolved = 0;
  const sends = Array.from({ length: 600 }, () => p.client.send(chunk).then(() => resolved++));
  await sleep(300);
  assert.ok(resolved < 600, `${resolved} of 600 sends resolved while nobody read`);
  const received = await take(p.peer, 600, 30_000);
  await Promise.all(sends);
  assert.equal(received.length, 600);
});

Deno.test("writable carries a piped stream and closing it closes the connection", async () => {
  await using p = await pair({ sendType: "json" });
  const source = ReadableStream.from(Array.from({ length: 1000 }, (_, i) => ({ i })));
  await source.pipeTo(p.client.writable);
  const { values, error } = await drain(p.peer);
  assert.equal(error, undefined);
  assert.deepEqual(values, Array.from({ length: 1000 }, (_, i) => ({ i })));
  await deadline(p.client.closed, 5000, "client closed");
});

Deno.test("leaving a for-await over readable closes the connection", async () => {
  await using p = await pair();
  await p.client.send("one");
  for await (const message of p.peer.readable) {
    assert.equal(message, "one");
    break;
  }
  await deadline(p.peer.closed, 5000, "peer closed");
  await deadline(p.client.closed, 5000, "client closed");
});

Deno.test("idleTimeout closes a quiet connection with TimeoutError, traffic keeps it open", async () => {
  // Only the server side has the timeout: with both sides timing out, either could close first and
  // the other would see a plain end of stream instead of its own TimeoutError.
  await using server = listen({ hostname: LOOPBACK4, port: 0, idleTimeout: 200 });
  const accepted = accept(server);
  await using client = await connect({ hostname: LOOPBACK4, port: server.addr.port });
  const peer = await accepted;
  const start = performance.now();
  for (let i = 0; i < 6; i++) {
    await sleep(60);
    await client.send(`tick ${i}`);
  }
  assert.equal((await take(peer, 6)).length, 6);
  const error = await deadline(peer.closed.catch((e) => e), 5000, "idle close");
  assert.ok(error instanceof DOMException && error.name === "TimeoutError", String(error));
  assert.ok(performance.now() - start >= 500, "it stayed open while traffic flowed");
  await deadline(client.closed.catch(() => {}), 5000, "client sees the close");
});

Deno.test("100 concurrent clients are each served their own answers", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, sendType: "json" });
  const serving = (async () => {
    const handlers = [];
    for await (const connection of server) {
      handlers.push(
        (async () => {
          for await (const message of connection.readable) {
            await connection.send({ echo: message });
          }
        })().catch(() => {}),
      );
      if (handlers.length === 100) break;
    }
    await Promise.all(handlers);
  })();
  const clients = await Promise.all(
    Array.from(
      { length: 100 },
      () => connect({ hostname: LOOPBACK4, port: server.addr.port, sendType: "json" }),
    ),
  );
  const replies = await Promise.all(clients.map(async (client, id) => {
    await client.send({ id, blob: "x".repeat(id * 10) });
    const [reply] = await take(client);
    await client.close();
    return reply;
  }));
  replies.forEach((reply, id) =>
    assert.deepEqual(reply, { echo: { id, blob: "x".repeat(id * 10) } })
  );
  await deadline(serving, 10_000, "every handler to finish");
});

Deno.test("connect() retries the initial connect until the server appears", async () => {
  const port = freePort();
  const connecting = connect({
    hostname: LOOPBACK4,
    port,
    reconnect: { attempts: 50, interval: 40 },
  });
  await sleep(200);
  await using server = listen({ hostname: LOOPBACK4, port });
  const accepted = accept(server);
  await using client = await deadline(connecting, 5000, "connect");
  await using peer = await accepted;
  await client.send("made it");
  assert.deepEqual(await take(peer), ["made it"]);
});

Deno.test("connect() gives up after reconnect.attempts with ERR_CONNECT_FAILED", async () => {
  const port = freePort();
  const started = performance.now();
  const error = await connect({
    hostname: LOOPBACK4,
    port,
    reconnect: { attempts: 2, interval: 30 },
  })
    .catch((e) => e);
  assert.ok(error instanceof FramedError && error.code === "ERR_CONNECT_FAILED", String(error));
  assert.equal(error.code, "ERR_CONNECT_FAILED");
  assert.equal(error.attempts, 3);
  assert.ok(error.cause instanceof Deno.errors.ConnectionRefused);
  assert.ok(performance.now() - started >= 55, "it waited between attempts");
  const once = await connect({ hostname: LOOPBACK4, port, reconnect: false }).catch((e) => e);
  assert.equal(once.attempts, 1);
});

Deno.test("connect() rejects with TimeoutError when the server never answers", async () => {
  // A listener that never accepts, with its queue filled, drops further SYNs.
  using blackhole = Deno.listen({ hostname: LOOPBACK4, port: 0, tcpBacklog: 1 });
  const queued: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 16; i++) {
      const signal = AbortSignal.timeout(300);
      const conn = await Deno.connect({ hostname: LOOPBACK4, port: blackhole.addr.port, signal })
        .catch(() => null);
      if (conn === null) break;
      queued.push(conn);
    }
    const started = performance.now();
    const error = await connect({
      hostname: LOOPBACK4,
      port: blackhole.addr.port,
      connectTimeout: 250,
      reconnect: { attempts: 1, interval: 10 },
    }).catch((e) => e);
    assert.ok(error instanceof DOMException && error.name === "TimeoutError", String(error));
    assert.ok(performance.now() - started >= 490, "both attempts waited connectTimeout");
  } finally {
    for (const conn of queued) conn.close();
  }
});

Deno.test("signal aborts connect() with AbortError and closes an open connection", async (t) => {
  await t.step("while retrying", async () => {
    const controller = new AbortController();
    const connecting = connect({
      hostname: LOOPBACK4,
      port: freePort(),
      reconnect: { attempts: 100, interval: 50 },
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 80);
    const error = await connecting.catch((e) => e);
    assert.ok(error instanceof DOMException && error.name === "AbortError", String(error));
  });
  await t.step("already aborted", async () => {
    const error = await connect({ port: freePort(), signal: AbortSignal.abort() }).catch((e) => e);
    assert.equal(error.name, "AbortError");
  });
  await t.step("after connecting", async () => {
    await using server = listen({ hostname: LOOPBACK4, port: 0 });
    const accepted = accept(server);
    const controller = new AbortController();
    const client = await connect({
      hostname: LOOPBACK4,
      port: server.addr.port,
      signal: controller.signal,
    });
    await using peer = await accepted;
    controller.abort();
    const error = await client.closed.catch((e) => e);
    assert.equal(error.name, "AbortError");
    await deadline(peer.closed, 5000, "peer sees the close");
  });
  await t.step("a listener", async () => {
    const controller = new AbortController();
    const server = listen({ hostname: LOOPBACK4, port: 0, signal: controller.signal });
    const client = await connect({ hostname: LOOPBACK4, port: server.addr.port });
    const peer = await accept(server);
    controller.abort();
    await deadline(peer.closed, 5000, "server side closed");
    await deadline(client.closed, 5000, "client closed");
    await server.close();
  });
});

Deno.test("reconnect.onDrop re-establishes a dropped connection and delivers what was queued", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0 });
  const connections = server[Symbol.asyncIterator]();
  await using client = await connect({
    hostname: LOOPBACK4,
    port: server.addr.port,
    reconnect: { attempts: 20, interval: 30, onDrop: true },
  });
  const first = (await connections.next()).value!;
  await client.send("before");
  assert.deepEqual(await take(first), ["before"]);
  const firstPort = client.localAddr.port;
  await first.close();
  await sleep(50);
  const queued = [client.send("during 1"), client.send("during 2")];
  const second = (await deadline(connections.next(), 5000, "the reconnection")).value!;
  await Promise.all(queued);
  assert.deepEqual(await take(second, 2), ["during 1", "during 2"]);
  await second.send("after");
  assert.deepEqual(await take(client), ["after"]);
  assert.notEqual(client.localAddr.port, firstPort);
  await connections.return?.();
});

Deno.test("while reconnecting, maxUnsentMessages bounds the queue and discardMessagesBeforeOpen refuses", async (t) => {
  for (const discard of [false, true]) {
    await t.step(`discardMessagesBeforeOpen: ${discard}`, async () => {
      const server = listen({ hostname: LOOPBACK4, port: 0 });
      const { port } = server.addr;
      const accepted = accept(server);
      const client = await connect({
        hostname: LOOPBACK4,
        port,
        reconnect: { attempts: 1000, interval: 20, onDrop: true },
        maxUnsentMessages: 2,
        discardMessagesBeforeOpen: discard,
      });
      await accepted;
      await server.close();
      await sleep(60);
      if (discard) {
        await assert.rejects(
          client.send("x"),
          (e: Error) => e instanceof FramedError && e.code === "ERR_NOT_CONNECTED",
        );
        await client.close();
        return;
      }
      const queued = [client.send("q1"), client.send("q2")];
      const refused = await client.send("q3").catch((e) => e);
      assert.ok(refused instanceof FramedRangeError && refused.code === "ERR_UNSENT_QUEUE_FULL");
      assert.equal(refused.code, "ERR_UNSENT_QUEUE_FULL");
      await using again = listen({ hostname: LOOPBACK4, port });
      const peer = await accept(again);
      await deadline(Promise.all(queued), 5000, "queued sends");
      assert.deepEqual(await take(peer, 2), ["q1", "q2"]);
      await client.close();
    });
  }
});

Deno.test("when reconnection gives up, closed rejects and queued sends are rejected", async () => {
  const server = listen({ hostname: LOOPBACK4, port: 0 });
  const accepted = accept(server);
  const client = await connect({
    hostname: LOOPBACK4,
    port: server.addr.port,
    reconnect: { attempts: 2, interval: 20, onDrop: true },
  });
  await accepted;
  await server.close();
  await sleep(30);
  const queued = client.send("never");
  const error = await deadline(client.closed.catch((e) => e), 5000, "give up");
  assert.ok(error instanceof FramedError && error.code === "ERR_CONNECT_FAILED", String(error));
  await assert.rejects(
    queued,
    (e: Error) => e instanceof FramedError && e.code === "ERR_CONNECTION_CLOSED",
  );
  await client.close();
});

Deno.test("bad options are refused with ERR_INVALID_OPTION", async (t) => {
  const bad: Record<string, unknown>[] = [
    { framing: "lines" },
    { sendType: "long" },
    { receiveType: "unsignedint" },
    { framing: "raw", receiveType: "json" },
    { maxMessageSize: -1 },
    { maxMessageSize: 2 ** 31 },
    { idleTimeout: -5 },
    { port: 70000 },
    { noDelay: "yes" },
    { cert: "x" },
    { caCerts: "pem" },
    { clientAuth: "maybe" },
  ];
  for (const options of bad) {
    await t.step(`listen(${JSON.stringify(options)})`, () => {
      const error = (() => {
        try {
          listen({ hostname: LOOPBACK4, port: 0, ...options } as never).close();
        } catch (e) {
          return e;
        }
      })();
      assert.ok(
        error instanceof FramedTypeError && error.code === "ERR_INVALID_OPTION",
        String(error),
      );
      assert.equal(error.code, "ERR_INVALID_OPTION");
    });
  }
  const clientBad: Record<string, unknown>[] = [
    { connectTimeout: 0 },
    { reconnect: { attempts: -1 } },
    { reconnect: { onDrop: "yes" } },
    { maxUnsentMessages: -1 },
    { tls: 1 },
  ];
  for (const options of clientBad) {
    await t.step(`connect(${JSON.stringify(options)})`, async () => {
      await assert.rejects(
        connect({ hostname: LOOPBACK4, port: 1, ...options } as never),
        (e: Error) => e instanceof FramedTypeError && e.code === "ERR_INVALID_OPTION",
      );
    });
  }
});

Deno.test("noDelay and keepAlive can be turned off and messages still flow", async () => {
  await using p = await pair({ noDelay: false, keepAlive: false, sendType: "json" });
  await p.client.send({ nagle: true });
  assert.deepEqual(await take(p.peer), [{ nagle: true }]);
});

Deno.test("listen() and connect() work over IPv6 loopback", {
  ignore: !hasIPv6(),
}, async () => {
  await using server = listen({ hostname: LOOPBACK6, port: 0 });
  const accepted = accept(server);
  await using client = await connect({ hostname: LOOPBACK6, port: server.addr.port });
  await using peer = await accepted;
  assert.equal(peer.remoteAddr.hostname, LOOPBACK6);
  await client.send("over v6");
  assert.deepEqual(await take(peer), ["over v6"]);
});

Deno.test("writing a value that does not fit sendType errors the writable", async () => {
  await using p = await pair({ sendType: "int" });
  const writer = p.client.writable.getWriter();
  await writer.write(1);
  await writer.write("two" as unknown as number).catch(() => {});
  await assert.rejects(
    writer.closed,
    (e: Error) => e instanceof FramedTypeError && e.code === "ERR_INVALID_MESSAGE",
  );
  assert.deepEqual(await take(p.peer), [1]);
});

Deno.test("a small payload's buffer may be reused as soon as send() returns", async () => {
  await using p = await pair({ sendType: "bytes" });
  const buffer = new Uint8Array([1, 2, 3]);
  const sent = [p.client.send(buffer)];
  buffer.set([4, 5, 6]);
  sent.push(p.client.send(buffer));
  buffer.fill(0);
  await Promise.all(sent);
  assert.deepEqual(await take(p.peer, 2), [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6])]);
});

Deno.test("in a burst, every send() copies its payload, so one buffer may be refilled between sends", async () => {
  await using p = await pair({ sendType: "bytes" });
  const buffer = new Uint8Array(64);
  for (let round = 0; round < 3; round++) {
    let last!: Promise<void>;
    for (let i = 0; i < 2000; i++) {
      buffer.fill(i & 0xff);
      buffer[0] = i >> 8;
      last = p.client.send(buffer);
    }
    buffer.fill(0);
    const received = await take(p.peer, 2000);
    await last;
    received.forEach((got, i) => {
      const expected = new Uint8Array(64).fill(i & 0xff);
      expected[0] = i >> 8;
      assert.deepEqual(got, expected, `round ${round} message ${i}`);
    });
  }
});

Deno.test("in a burst, a payload above a small maxMessageSize is rejected alone", async () => {
  await using p = await pair({ sendType: "bytes", maxMessageSize: 10 });
  const sizes = [3, 3, 10, 11, 3, 200, 0, 10, 3];
  const sent = sizes.map((size, i) => p.client.send(new Uint8Array(size).fill(i)));
  const settled = await Promise.allSettled(sent);
  settled.forEach((result, i) => {
    if (sizes[i] > 10) {
      assert.equal(result.status, "rejected", `message ${i}`);
      assert.ok(
        (result as PromiseRejectedResult).reason instanceof FramedRangeError &&
          (result as PromiseRejectedResult).reason.code === "ERR_MESSAGE_TOO_LARGE",
      );
    } else {
      assert.equal(result.status, "fulfilled", `message ${i}`);
    }
  });
  const accepted = sizes.map((size, i) => [size, i]).filter(([size]) => size <= 10);
  assert.deepEqual(
    await take(p.peer, accepted.length),
    accepted.map(([size, i]) => new Uint8Array(size).fill(i)),
  );
});
