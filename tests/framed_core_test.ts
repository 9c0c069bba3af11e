import assert from "node:assert/strict";
import { connect, listen, MessageTooLargeError } from "../framed/mod.ts";
import type { FramedConnection, MessageType } from "../framed/mod.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

/** A listener plus a connected client and the server side of that connection. */
async function pair<S extends MessageType, R extends MessageType = S>(
  options: { sendType?: S; receiveType?: R; maxMessageSize?: number } = {},
) {
  const server = listen({ hostname: LOOPBACK4, port: 0, ...options });
  const accepted = (async () => {
    for await (const connection of server) return connection;
    throw new Error("Listener ended");
  })();
  const client = await connect({ hostname: LOOPBACK4, port: server.addr.port, ...options });
  const peer = await deadline(accepted, 5000, "accept");
  return {
    server,
    client,
    peer,
    async [Symbol.asyncDispose]() {
      await client.close();
      await server.close();
    },
  };
}

async function first<T>(connection: FramedConnection<unknown, T>, count = 1): Promise<T[]> {
  const reader = connection.readable.getReader();
  const out: T[] = [];
  try {
    while (out.length < count) {
      const { value, done } = await deadline(reader.read(), 5000, "message");
      if (done) break;
      out.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return out;
}

Deno.test("connect() and listen() carry bytes, strings and JSON both ways", async (t) => {
  await t.step("bytes", async () => {
    await using p = await pair({ sendType: "bytes" });
    await p.client.send(new Uint8Array([1, 2, 3]));
    await p.peer.send(new Uint8Array([]));
    assert.deepEqual(await first(p.peer), [new Uint8Array([1, 2, 3])]);
    assert.deepEqual(await first(p.client), [new Uint8Array([])]);
  });
  await t.step("string", async () => {
    await using p = await pair();
    await p.client.send("héllo ✓");
    await p.client.send("");
    assert.deepEqual(await first(p.peer, 2), ["héllo ✓", ""]);
  });
  await t.step("json", async () => {
    await using p = await pair({ sendType: "json" });
    await p.peer.send({ a: [1, "two", null], b: { c: true } });
    assert.deepEqual(await first(p.client), [{ a: [1, "two", null], b: { c: true } }]);
  });
});

Deno.test("FramedConnection.send() rejects a message above maxMessageSize and stays open", async () => {
  await using p = await pair({ sendType: "bytes", maxMessageSize: 10 });
  await assert.rejects(p.client.send(new Uint8Array(11)), MessageTooLargeError);
  await p.client.send(new Uint8Array(10));
  assert.equal((await first(p.peer))[0].length, 10);
});

Deno.test("FramedListener.close() closes every connection and ends iteration", async () => {
  const server = listen({ hostname: LOOPBACK4, port: 0 });
  const iterated = (async () => {
    const seen = [];
    for await (const connection of server) seen.push(connection);
    return seen.length;
  })();
  const client = await connect({ hostname: LOOPBACK4, port: server.addr.port });
  while (server.connections.size === 0) await new Promise((r) => setTimeout(r, 5));
  await server.close();
  assert.equal(await deadline(iterated, 5000, "iteration end"), 1);
  await deadline(client.closed, 5000, "client closed");
  assert.equal(server.connections.size, 0);
});
