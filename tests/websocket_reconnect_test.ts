/**
 * `connect({ reconnect })`: handshake retries with backoff, and connections
 * that come back after a drop (issue 13). Real loopback servers.
 */

import assert from "node:assert/strict";
import {
  connect,
  serve,
  type ServerWebSocketConnection,
  type WebSocketConnection,
  WebSocketError,
  WebSocketRangeError,
  type WebSocketServer,
} from "../websocket/mod.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";
import { ENGINES } from "./websocket_peers/engines.ts";

/** An echo server that also hands its connections to the test. */
function echoServer(port = 0): { server: WebSocketServer; conns: ServerWebSocketConnection[] } {
  const server = serve({ hostname: LOOPBACK4, port });
  const conns: ServerWebSocketConnection[] = [];
  (async () => {
    for await (const conn of server) {
      conns.push(conn);
      (async () => {
        for await (const message of conn.readable) await conn.send(message).catch(() => {});
      })();
    }
  })();
  return { server, conns };
}

async function until(check: () => boolean, what: string): Promise<void> {
  await deadline(
    (async () => {
      while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    10_000,
    what,
  );
}

function freePort(): number {
  const listener = Deno.listen({ hostname: LOOPBACK4, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

for (const engine of ENGINES) {
  Deno.test(`[${engine}] connect({ reconnect }) retries until the server is up`, async () => {
    const port = freePort();
    const connecting = connect(`ws://127.0.0.1:${port}/`, {
      engine,
      reconnect: { attempts: 50, interval: 20, backoff: 1 },
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    const { server } = echoServer(port);
    await using _server = server;
    await using ws = await deadline(connecting, 10_000, "the retried connect");
    assert.equal(ws.readyState, 1);
  });

  Deno.test(`[${engine}] connect({ reconnect }) does not retry a refusal such as 401`, async () => {
    let asked = 0;
    await using server = serve({
      hostname: LOOPBACK4,
      port: 0,
      authorize: () => {
        asked++;
        return false;
      },
    });
    await assert.rejects(
      connect(`ws://127.0.0.1:${server.addr.port}/`, {
        engine,
        reconnect: { attempts: 5, interval: 10 },
      }),
      (error: unknown) => error instanceof WebSocketError && error.status === 401,
    );
    // Not retried; the native client sends the request once more only to read the refusal's body.
    assert.equal(asked, engine === "native" ? 2 : 1);
  });

  Deno.test(`[${engine}] a dropped connection with onDrop comes back on the same object`, async () => {
    const { server, conns } = echoServer();
    await using _server = server;
    await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/`, {
      engine,
      reconnect: { attempts: 20, interval: 20, onDrop: true },
    });
    const events: string[] = [];
    ws.addEventListener("drop", (event) => events.push(`drop ${event.detail.code}`));
    ws.addEventListener("reconnect", () => events.push("reconnect"));
    const reader = ws.readable.getReader();
    await ws.send("one");
    assert.equal((await deadline(reader.read(), 10_000, "echo")).value, "one");
    await until(() => conns.length === 1, "the first server connection");
    await conns[0].close(1001, "restarting");
    await until(() => events.includes("reconnect"), "the reconnect");
    assert.deepEqual(events, ["drop 1001", "reconnect"]);
    assert.equal(ws.readyState, 1);
    await ws.send("two");
    assert.equal((await deadline(reader.read(), 10_000, "echo")).value, "two");
    reader.releaseLock();
    assert.equal(conns.length, 2);
  });

  Deno.test(`[${engine}] onDrop gives up after its attempts and settles closed`, async () => {
    const { server } = echoServer();
    const ws = await connect(`ws://127.0.0.1:${server.addr.port}/`, {
      engine,
      reconnect: { attempts: 2, interval: 10, onDrop: true },
    });
    let failed: unknown;
    ws.addEventListener("reconnectfailed", (event) => failed = event.detail);
    await server.close(); // every connection gets 1001, then nothing listens
    await assert.rejects(
      ws.send("while reconnecting or closed"),
      (error: unknown) => error instanceof WebSocketError && error.code === "ERR_NOT_OPEN",
    );
    const info = await deadline(ws.closed, 10_000, "closed");
    assert.equal(info.code, 1001);
    assert(failed instanceof WebSocketError, "reconnectfailed carries the last error");
    assert.equal(ws.readyState, 3);
    const { done } = await ws.readable.getReader().read();
    assert.equal(done, true, "readable ends with the connection");
  });

  Deno.test(`[${engine}] close() on an onDrop connection does not reconnect`, async () => {
    const { server, conns } = echoServer();
    await using _server = server;
    const ws: WebSocketConnection = await connect(`ws://127.0.0.1:${server.addr.port}/`, {
      engine,
      reconnect: { onDrop: true, interval: 10 },
    });
    await ws.close(1000);
    assert.equal((await ws.closed).code, 1000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(conns.length, 1);
  });
}

Deno.test("connect() refuses a bad reconnect option with ERR_INVALID_OPTION", async () => {
  await assert.rejects(
    connect("ws://127.0.0.1:9/", { reconnect: { attempts: -1 } }),
    (error: unknown) => error instanceof WebSocketRangeError && error.code === "ERR_INVALID_OPTION",
  );
  await assert.rejects(
    connect("ws://127.0.0.1:9/", { reconnect: { backoff: 0.5 } }),
    (error: unknown) => error instanceof WebSocketRangeError && error.code === "ERR_INVALID_OPTION",
  );
});
