/**
 * The rfc6455 engine's `messageTimeout` (issue 15 leftover): a peer that
 * stops inside a frame, or between the fragments of a message, is closed
 * with 1008 `ERR_MESSAGE_TIMEOUT` even with `heartbeat: false`; an idle peer
 * between messages is not. Hand-made frames from a raw TCP peer.
 */

import assert from "node:assert/strict";
import { serve, type ServerWebSocketConnection, WebSocketRangeError } from "../websocket/mod.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";
import { OP, RawPeer } from "./websocket_peers/raw.ts";

function server(messageTimeout: number) {
  const instance = serve({
    hostname: LOOPBACK4,
    port: 0,
    engine: "rfc6455",
    heartbeat: false,
    messageTimeout,
  });
  const conns: ServerWebSocketConnection[] = [];
  (async () => {
    for await (const conn of instance) {
      conns.push(conn);
      (async () => {
        for await (const message of conn.readable) await conn.send(message).catch(() => {});
      })();
    }
  })();
  return { instance, conns };
}

async function expectTimeoutClose(peer: RawPeer, conns: ServerWebSocketConnection[]) {
  const close = await deadline(peer.readClose(), 5_000, "the server's close frame");
  assert.equal(close?.code, 1008);
  const info = await deadline(conns[0].closed, 5_000, "the server side closed");
  assert(info.error instanceof WebSocketRangeError);
  assert.equal(info.error.code, "ERR_MESSAGE_TIMEOUT");
}

Deno.test("rfc6455: a peer that stops inside a frame header is closed with ERR_MESSAGE_TIMEOUT", async () => {
  const { instance, conns } = server(300);
  await using _server = instance;
  using peer = await RawPeer.connect(instance.addr.port);
  await peer.conn.write(new Uint8Array([0x82])); // FIN + binary, then nothing
  await expectTimeoutClose(peer, conns);
});

Deno.test("rfc6455: a peer that stops inside a payload is closed with ERR_MESSAGE_TIMEOUT", async () => {
  const { instance, conns } = server(300);
  await using _server = instance;
  using peer = await RawPeer.connect(instance.addr.port);
  await peer.writeFrame(OP.BINARY, new Uint8Array(10), { claimedLength: 1000 });
  await expectTimeoutClose(peer, conns);
});

Deno.test("rfc6455: a peer that stops between fragments is closed with ERR_MESSAGE_TIMEOUT", async () => {
  const { instance, conns } = server(300);
  await using _server = instance;
  using peer = await RawPeer.connect(instance.addr.port);
  await peer.writeFrame(OP.TEXT, new TextEncoder().encode("first half"), { fin: false });
  await expectTimeoutClose(peer, conns);
});

Deno.test("rfc6455: an idle peer between whole messages is not timed out", async () => {
  const { instance, conns } = server(200);
  await using _server = instance;
  using peer = await RawPeer.connect(instance.addr.port);
  await peer.writeFrame(OP.TEXT, new TextEncoder().encode("hello"));
  const echo = await deadline(peer.readFrame(), 5_000, "the echo");
  assert.equal(new TextDecoder().decode(echo!.payload), "hello");
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.equal(conns[0].readyState, 1);
  await peer.writeFrame(OP.TEXT, new TextEncoder().encode("still here"));
  const again = await deadline(peer.readFrame(), 5_000, "the second echo");
  assert.equal(new TextDecoder().decode(again!.payload), "still here");
  await peer.writeFrame(OP.CLOSE, new Uint8Array([0x03, 0xe8]));
  await deadline(peer.readClose(), 5_000, "close");
});

Deno.test("serve() refuses a negative messageTimeout with ERR_INVALID_OPTION", () => {
  assert.throws(
    () => serve({ hostname: LOOPBACK4, port: 0, messageTimeout: -1 }),
    (error: unknown) => error instanceof WebSocketRangeError && error.code === "ERR_INVALID_OPTION",
  );
});
