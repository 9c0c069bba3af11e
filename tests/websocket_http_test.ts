/**
 * A page beside its sockets (issue 13): `serve({ fallback })`,
 * `allowedOrigins`, `createConnectionGroup()` for your own HTTP server,
 * `serveHttp()`, and the body of a refused handshake in the client's error.
 * Real loopback sockets, both engines where both apply.
 */

import assert from "node:assert/strict";
import {
  connect,
  createConnectionGroup,
  serve,
  serveHttp,
  type ServerWebSocketConnection,
  WebSocketError,
  WebSocketTypeError,
} from "../websocket/mod.ts";
import { concat } from "../websocket/_deflate.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";
import { ENGINES } from "./websocket_peers/engines.ts";
import { nextMessage } from "./websocket_peers/messages.ts";

const PAGE = "<!doctype html><title>chat</title>";

/** Sends one raw HTTP/1.1 request and returns the status and body of the answer. */
async function rawRequest(
  port: number,
  head: string,
): Promise<{ status: number; body: string; text: string }> {
  const conn = await Deno.connect({ hostname: LOOPBACK4, port });
  try {
    await conn.write(new TextEncoder().encode(head));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    while (true) {
      const n = await deadline(conn.read(buf), 10_000, "the answer");
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      const text = new TextDecoder().decode(concat(chunks));
      if (/^HTTP\/1\.1 101/.test(text) && text.includes("\r\n\r\n")) break;
    }
    const text = new TextDecoder().decode(concat(chunks));
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4), text };
  } finally {
    conn.close();
  }
}

function upgradeHead(port: number, extra = ""): string {
  return `GET /ws HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nupgrade: websocket\r\n` +
    `connection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
    `sec-websocket-version: 13\r\n${extra}\r\n`;
}

for (const engine of ENGINES) {
  Deno.test(`[${engine}] serve({ fallback }) answers plain HTTP requests beside the sockets`, async (t) => {
    await using server = serve({
      hostname: LOOPBACK4,
      port: 0,
      engine,
      path: "/ws",
      fallback: (request) => {
        const { pathname } = new URL(request.url);
        if (pathname === "/boom") throw new Error("handler bug");
        return pathname === "/"
          ? new Response(PAGE, { headers: { "content-type": "text/html" } })
          : new Response("no such page", { status: 404 });
      },
    });
    (async () => {
      for await (const conn of server) {
        (async () => {
          for await (const message of conn.readable) await conn.send(message).catch(() => {});
        })();
      }
    })();
    const base = `http://127.0.0.1:${server.addr.port}`;
    await t.step("GET / gets the page", async () => {
      const response = await fetch(`${base}/`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "text/html");
      assert.equal(await response.text(), PAGE);
    });
    await t.step("other paths get what the fallback answers", async () => {
      const response = await fetch(`${base}/missing`);
      assert.equal(response.status, 404);
      assert.equal(await response.text(), "no such page");
    });
    await t.step("a throwing fallback answers 500 and the server lives on", async () => {
      const response = await fetch(`${base}/boom`);
      assert.equal(response.status, 500);
      await response.body?.cancel();
    });
    await t.step("a request with a body gets 413", async () => {
      const { status } = await rawRequest(
        server.addr.port,
        `POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\n\r\nhi`,
      );
      assert.equal(status, 413);
    });
    await t.step("the socket on the same port still works", async () => {
      await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/ws`, { engine });
      await ws.send("hello");
      assert.equal(await nextMessage(ws), "hello");
    });
  });

  Deno.test(`[${engine}] serve() without fallback still refuses plain HTTP with 426`, async () => {
    await using server = serve({ hostname: LOOPBACK4, port: 0, engine });
    const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
    assert.equal(response.status, 426);
    await response.body?.cancel();
  });

  Deno.test(`[${engine}] allowedOrigins refuses a cross-site upgrade with 403`, async (t) => {
    let opened = 0;
    await using server = serve({
      hostname: LOOPBACK4,
      port: 0,
      engine,
      allowedOrigins: ["https://app.example.com"],
    });
    (async () => {
      for await (const _conn of server) opened++;
    })();
    const port = server.addr.port;
    await t.step("an unlisted Origin gets 403", async () => {
      const { status } = await rawRequest(port, upgradeHead(port, "origin: https://evil.test\r\n"));
      assert.equal(status, 403);
      await assert.rejects(
        connect(`ws://127.0.0.1:${port}/ws`, {
          engine: "rfc6455",
          headers: { origin: "https://evil.test" },
        }),
        (error: unknown) => error instanceof WebSocketError && error.status === 403,
      );
    });
    await t.step("a listed Origin, the same origin and no Origin pass", async () => {
      for (
        const extra of [
          "origin: https://app.example.com\r\n",
          `origin: http://127.0.0.1:${port}\r\n`,
          "",
        ]
      ) {
        const { status } = await rawRequest(port, upgradeHead(port, extra));
        assert.equal(status, 101, `with "${extra.trim()}"`);
      }
    });
    await t.step('"*" allows every origin', async () => {
      await using open = serve({ hostname: LOOPBACK4, port: 0, engine, allowedOrigins: "*" });
      const openPort = open.addr.port;
      const { status } = await rawRequest(
        openPort,
        upgradeHead(openPort, "origin: https://evil.test\r\n"),
      );
      assert.equal(status, 101);
    });
    await deadline(
      (async () => {
        while (opened < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      5_000,
      "three connections",
    );
  });

  Deno.test(`[${engine}] a refused handshake's error quotes the response body, cut to 256 bytes`, async (t) => {
    await using server = serve({
      hostname: LOOPBACK4,
      port: 0,
      authorize: (request) => {
        const token = new URL(request.url).searchParams.get("token");
        if (token === "long") return new Response("é".repeat(1000), { status: 401 });
        return new Response("token expired, log in again", { status: 401 });
      },
    });
    await t.step("a short body is quoted whole", async () => {
      await assert.rejects(
        connect(`ws://127.0.0.1:${server.addr.port}/?token=old`, { engine }),
        (error: unknown) => {
          assert(error instanceof WebSocketError);
          assert.equal(error.code, "ERR_UNEXPECTED_STATUS");
          assert.equal(error.status, 401);
          assert.equal(error.body, "token expired, log in again");
          assert.match(error.message, /"401".*: token expired, log in again$/);
          return true;
        },
      );
    });
    await t.step("a long body is cut to 256 bytes on a character boundary", async () => {
      await assert.rejects(
        connect(`ws://127.0.0.1:${server.addr.port}/?token=long`, { engine }),
        (error: unknown) => {
          assert(error instanceof WebSocketError);
          assert.equal(error.body, "é".repeat(128));
          return true;
        },
      );
    });
  });
}

Deno.test("createConnectionGroup() gives Deno.serve handlers broadcast, connections and rooms", async (t) => {
  await using group = createConnectionGroup({
    path: "/ws",
    fallback: () => new Response(PAGE, { headers: { "content-type": "text/html" } }),
  });
  const seen: ServerWebSocketConnection[] = [];
  (async () => {
    for await (const conn of group) {
      seen.push(conn);
      await conn.join("lobby");
    }
  })();
  const http = Deno.serve({ hostname: LOOPBACK4, port: 0, onListen() {} }, group.handle);
  try {
    const base = `127.0.0.1:${http.addr.port}`;
    await t.step("plain requests get the fallback", async () => {
      const response = await fetch(`http://${base}/`);
      assert.equal(await response.text(), PAGE);
    });
    await t.step("upgrades join the group: broadcast and to(room) reach them", async () => {
      await using a = await connect(`ws://${base}/ws`);
      await using b = await connect(`ws://${base}/ws`);
      await deadline(
        (async () => {
          while (group.connections.length < 2 || seen.length < 2) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          while ((await group.to("lobby").count()) < 2) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        })(),
        5_000,
        "two members",
      );
      assert.equal(seen[0].remoteAddr?.hostname, "127.0.0.1");
      await group.broadcast("to all");
      assert.equal(await nextMessage(a), "to all");
      assert.equal(await nextMessage(b), "to all");
      await group.to("lobby").send("to the lobby");
      assert.equal(await nextMessage(a), "to the lobby");
      assert.equal(await nextMessage(b), "to the lobby");
    });
    await t.step("other paths get 404", async () => {
      await assert.rejects(
        connect(`ws://${base}/other`),
        (error: unknown) => error instanceof WebSocketError && error.status === 404,
      );
    });
    await t.step("close() closes the group's connections with 1001", async () => {
      await using c = await connect(`ws://${base}/ws`);
      await deadline(
        (async () => {
          while (group.connections.length < 1) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        })(),
        5_000,
        "a member",
      );
      await group.close();
      assert.equal((await deadline(c.closed, 5_000, "close")).code, 1001);
    });
  } finally {
    await http.shutdown();
  }
});

Deno.test("createConnectionGroup() refuses the rfc6455 engine", () => {
  assert.throws(
    () => createConnectionGroup({ engine: "rfc6455" }),
    (error: unknown) =>
      error instanceof WebSocketTypeError && error.code === "ERR_UNSUPPORTED_BY_ENGINE",
  );
});

Deno.test("serveHttp() with a group answers pages and upgrades, and times out a silent head", async () => {
  await using group = createConnectionGroup({
    allowedOrigins: [],
    fallback: () => new Response(PAGE),
  });
  (async () => {
    for await (const conn of group) {
      (async () => {
        for await (const message of conn.readable) await conn.send(message).catch(() => {});
      })();
    }
  })();
  const http = serveHttp({ hostname: LOOPBACK4, port: 0, handshakeTimeout: 300 }, group.handle);
  try {
    const port = http.addr.port;
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), PAGE);
    await using ws = await connect(`ws://127.0.0.1:${port}/`);
    await ws.send("echo");
    assert.equal(await nextMessage(ws), "echo");
    const { status } = await rawRequest(port, upgradeHead(port, "origin: https://evil.test\r\n"));
    assert.equal(status, 403);
    const silent = await Deno.connect({ hostname: LOOPBACK4, port });
    try {
      const { status: timedOut } = await rawRequestOn(silent);
      assert.equal(timedOut, 408);
    } finally {
      silent.close();
    }
  } finally {
    await http.shutdown();
  }
});

/** Reads the answer on a connection that sent nothing. */
async function rawRequestOn(conn: Deno.Conn): Promise<{ status: number }> {
  const buf = new Uint8Array(1024);
  const n = await deadline(conn.read(buf), 5_000, "the 408");
  const text = new TextDecoder().decode(buf.subarray(0, n ?? 0));
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]) };
}
