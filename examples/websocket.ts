/**
 * websocket/ tour: a chat room on the native engine (auth, subprotocols,
 * broadcast), then the rfc6455 engine's extras (ping round trip, a streamed
 * binary message, permessage-deflate, a 1009 close), all over loopback.
 *
 * @module
 */

import { connect, serve, type WebSocketConnection, WebSocketError } from "../websocket/mod.ts";

/** One line for the tour menu. */
export const description =
  "WebSocket server + client: native and own RFC 6455 engine, auth, broadcast, ping, deflate";

async function next(conn: WebSocketConnection): Promise<string | Uint8Array> {
  const reader = conn.readable.getReader();
  try {
    const { value } = await reader.read();
    return value ?? "";
  } finally {
    reader.releaseLock();
  }
}

/** Runs the demo and returns when everything is closed. */
export default async function demo(): Promise<void> {
  // 1. A chat room on the native engine: token auth, the "chat.v1" subprotocol, broadcast.
  let members: WebSocketConnection[];
  {
    await using room = serve({
      hostname: "127.0.0.1",
      port: 0,
      engine: "native",
      path: "/room",
      protocols: ["chat.v1"],
      authorize: (request) => new URL(request.url).searchParams.get("token") === "s3cret",
    });
    const base = `ws://127.0.0.1:${room.addr.port}/room`;
    console.log(`native server on ${base}`);
    (async () => {
      for await (const member of room) {
        const name = new URL(member.path, "http://x").searchParams.get("name");
        void room.broadcast(`* ${name} joined (${room.connections.length} here)`);
        (async () => {
          for await (const text of member.readable) void room.broadcast(`${name}: ${text}`);
        })();
      }
    })();

    try {
      await connect(`${base}?name=eve&token=guess`, { protocols: ["chat.v1"] });
    } catch (error) {
      if (error instanceof WebSocketError) {
        console.log(`eve is refused before the handshake: ${error.code} ${error.status}`);
      }
    }
    const ann = await connect(`${base}?name=ann&token=s3cret`, { protocols: ["chat.v1"] });
    console.log(`ann joined, subprotocol "${ann.protocol}": ${await next(ann)}`);
    const bob = await connect(`${base}?name=bob&token=s3cret`, { protocols: ["chat.v1"] });
    members = [ann, bob];
    console.log(`ann sees: ${await next(ann)}`);
    await next(bob);
    await bob.send("hello ann");
    console.log(`ann sees: ${await next(ann)}`);
    console.log(`bob sees his own line too: ${await next(bob)}`);
  }
  const codes = await Promise.all(members.map(async (member) => (await member.closed).code));
  console.log(`room closed; the members got close codes ${codes.join(", ")}`);

  // 2. The rfc6455 engine: ping RTT, a streamed binary message, permessage-deflate, 1009.
  {
    await using server = serve({
      hostname: "127.0.0.1",
      port: 0,
      engine: "rfc6455",
      deflate: true,
      maxMessageSize: 4 * 1024 * 1024,
    });
    (async () => {
      for await (const conn of server) {
        (async () => {
          for await (const message of conn.readable) {
            await conn.send(typeof message === "string" ? message : `${message.byteLength} bytes`)
              .catch(() => {});
          }
        })();
      }
    })();
    const url = `ws://127.0.0.1:${server.addr.port}/`;
    await using ws = await connect(url, { engine: "rfc6455", deflate: true });
    console.log(`rfc6455 client connected, extensions "${ws.extensions}"`);
    const reading = next(ws);
    console.log(`ping round trip ${(await ws.ping()).toFixed(3)} ms`);
    const stream = ws.beginBinary();
    const writer = stream.getWriter();
    for (let i = 0; i < 16; i++) await writer.write(new Uint8Array(64 * 1024).fill(i));
    await writer.close();
    console.log(`streamed 16 × 64 KiB as one message; server says: ${await reading}`);
    const big = "compressible ".repeat(100_000);
    await ws.send(big);
    console.log(`sent ${big.length} chars compressed; echoed intact: ${(await next(ws)) === big}`);
    await ws.send(new Uint8Array(5 * 1024 * 1024)).catch(() => {});
    const { code, reason } = await ws.closed;
    console.log(`a 5 MiB message over the 4 MiB limit: closed ${code} "${reason}"`);
  }
}

if (import.meta.main) await demo();
