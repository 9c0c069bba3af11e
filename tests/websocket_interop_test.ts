/**
 * Interop with npm `ws` under Node, a WebSocket implementation nobody here
 * wrote: our client against a `ws` server, a `ws` client against our server.
 */

import assert from "node:assert/strict";
import {
  connect,
  serve,
  type WebSocketConnection,
  type WebSocketEngine,
  WebSocketError,
} from "../websocket/mod.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";
import { ENGINES } from "./websocket_peers/engines.ts";

const peers = new URL("./websocket_peers/", import.meta.url);

/** A `ws` server under Node; stopped on dispose. */
async function wsServer(
  deflate = false,
): Promise<{ port: number } & AsyncDisposable> {
  const child = new Deno.Command("node", {
    args: [new URL("ws_server.mjs", peers).pathname, ...(deflate ? ["--deflate"] : [])],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await deadline(reader.read(), 10_000, "the ws server to listen");
    if (done) throw new Error("ws server exited before listening");
    line += value;
  }
  const { port } = JSON.parse(line.split("\n")[0]);
  return {
    port,
    async [Symbol.asyncDispose]() {
      await child.stdin.close();
      await reader.cancel();
      await child.status;
    },
  };
}

/** Runs the `ws` client script against `url` and returns its JSON verdict. */
async function wsClient(url: string, deflate = false): Promise<Record<string, unknown>> {
  const output = await new Deno.Command("node", {
    args: [
      new URL("ws_interop_client.mjs", peers).pathname,
      url,
      ...(deflate ? ["--deflate"] : []),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
}

async function nextMessage(conn: WebSocketConnection): Promise<string | Uint8Array> {
  const reader = conn.readable.getReader();
  try {
    const { value, done } = await deadline(reader.read(), 10_000, "a message");
    assert.equal(done, false);
    return value!;
  } finally {
    reader.releaseLock();
  }
}

function echoServer(engine: WebSocketEngine, deflate = false) {
  const server = serve({ hostname: LOOPBACK4, port: 0, engine, protocols: ["chat"], deflate });
  (async () => {
    for await (const conn of server) {
      (async () => {
        for await (const message of conn.readable) await conn.send(message).catch(() => {});
      })();
    }
  })();
  return server;
}

for (const engine of ENGINES) {
  Deno.test(`[${engine}] our client talks to a ws server`, async (t) => {
    await using peer = await wsServer();
    const url = `ws://${LOOPBACK4}:${peer.port}/interop?q=1`;
    await using ws = await connect(url, {
      engine,
      protocols: ["superchat", "chat"],
      headers: { "x-from": "netkit" },
    });
    await t.step("subprotocol and headers", async () => {
      assert.equal(ws.protocol, "superchat");
      await ws.send("headers?");
      const headers = JSON.parse(await nextMessage(ws) as string);
      assert.equal(headers["x-from"], "netkit");
      assert.equal(headers["sec-websocket-protocol"], "superchat, chat");
    });
    await t.step("text and binary echo up to 8 MiB", async () => {
      for (const size of [0, 125, 126, 65536, 8 << 20]) {
        const bytes = new Uint8Array(size).map((_, i) => i & 0xff);
        await ws.send(bytes);
        assert.deepEqual(await nextMessage(ws), bytes);
        const text = "ж".repeat(size >> 1);
        await ws.send(text);
        assert.ok(await nextMessage(ws) === text);
      }
    });
    await t.step("the ws server's close code reaches us", async () => {
      await ws.send("close:4321");
      assert.deepEqual(await deadline(ws.closed, 5_000, "close"), {
        code: 4321,
        reason: "bye from ws",
      });
    });
  });

  Deno.test(`[${engine}] our client rejects a ws server that picks no offered subprotocol`, async () => {
    await using peer = await wsServer();
    await assert.rejects(
      connect(`ws://${LOOPBACK4}:${peer.port}/`, { engine, protocols: ["other"] }),
      (error: unknown) =>
        error instanceof WebSocketError &&
        (error.code === "ERR_PROTOCOL_NOT_NEGOTIATED" || error.code === "ERR_UNEXPECTED_STATUS"),
    );
  });

  Deno.test(`[${engine}] a ws client talks to our server`, async () => {
    await using server = echoServer(engine);
    const result = await wsClient(`ws://${LOOPBACK4}:${server.addr.port}/from-ws`);
    assert.equal(result.opened, true, JSON.stringify(result));
    assert.equal(result.protocol, "chat");
    assert.equal(result.mismatches, 0);
    assert.equal(result.echoes, 16);
    assert.equal(result.pong, true, "our server answered the ws client's ping");
    assert.equal(result.closeCode, 4000);
  });
}

Deno.test("[rfc6455] permessage-deflate with a ws server: negotiated, and messages round-trip", async () => {
  await using peer = await wsServer(true);
  await using ws = await connect(`ws://${LOOPBACK4}:${peer.port}/`, {
    engine: "rfc6455",
    deflate: { threshold: 0 },
  });
  assert.match(ws.extensions, /^permessage-deflate/);
  await ws.send("extensions?");
  assert.match(await nextMessage(ws) as string, /permessage-deflate/);
  const compressible = "all work and no play makes jack a dull boy ".repeat(50_000);
  await ws.send(compressible);
  assert.ok(await nextMessage(ws) === compressible);
  const bytes = new Uint8Array(3 << 20).map((_, i) => (i * 7) % 13);
  await ws.send(bytes);
  assert.deepEqual(await nextMessage(ws), bytes);
});

Deno.test("[rfc6455] permessage-deflate with a ws client: negotiated, and messages round-trip", async () => {
  await using server = echoServer("rfc6455", true);
  const result = await wsClient(`ws://${LOOPBACK4}:${server.addr.port}/`, true);
  assert.match(String(result.extensions), /permessage-deflate/, JSON.stringify(result));
  assert.equal(result.mismatches, 0);
  assert.equal(result.echoes, 16);
  assert.equal(result.closeCode, 4000);
});

Deno.test("[rfc6455] a deflate-bomb over maxMessageSize from a ws server closes with 1009", async () => {
  await using peer = await wsServer(true);
  await using ws = await connect(`ws://${LOOPBACK4}:${peer.port}/`, {
    engine: "rfc6455",
    deflate: true,
    maxMessageSize: 1 << 20,
  });
  // 1 MiB + 1 of zeros compresses to about 1 KiB: the limit must hold after inflating.
  const reader = ws.readable.getReader();
  await ws.send(new Uint8Array(512 * 1024));
  assert.equal(((await reader.read()).value as Uint8Array).byteLength, 512 * 1024);
  await assert.rejects(
    ws.send(new Uint8Array((1 << 20) + 1)).then(() => reader.read()).then(
      ({ done }) => {
        if (done) throw new Error("closed");
      },
    ),
  );
  reader.releaseLock();
  assert.equal((await deadline(ws.closed, 5_000, "close")).code, 1009);
});

for (
  const [serverEngine, clientEngine] of [["native", "rfc6455"], ["rfc6455", "native"]] as const
) {
  Deno.test(`a ${clientEngine} client talks to a ${serverEngine} server`, async () => {
    await using server = echoServer(serverEngine);
    await using ws = await connect(`ws://${LOOPBACK4}:${server.addr.port}/mixed`, {
      engine: clientEngine,
      protocols: ["chat"],
    });
    assert.equal(ws.protocol, "chat");
    const pooled = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);
    for (const message of ["text é", pooled.subarray(100, 5_100), pooled, new Uint8Array(0)]) {
      await ws.send(message);
      assert.deepEqual(await nextMessage(ws), message);
    }
    await ws.close(4002, "done");
    assert.equal((await ws.closed).code, 4002);
  });
}
