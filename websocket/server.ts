/**
 * `serve()`: a WebSocket server whose connections arrive as an async iterable.
 *
 * @module
 */

import { listenNative } from "./_native_front.ts";
import { assertOptions, heartbeatOf } from "./_policy.ts";
import { listenRfc6455 } from "./_rfc6455_engine.ts";
import { ServerCore } from "./_server_core.ts";
import { WebSocketTypeError } from "./errors.ts";
import type { ServeOptions, WebSocketServer } from "./options.ts";

/**
 * Starts a WebSocket server (`ws:`, or `wss:` with `cert`/`key`).
 *
 * @example Echo server and client
 * ```ts
 * import { connect, serve } from "@netkit/realtime/websocket";
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * (async () => {
 *   for await (const conn of server) {
 *     (async () => {
 *       for await (const message of conn.readable) await conn.send(message);
 *     })();
 *   }
 * })();
 * await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/chat`);
 * await ws.send("hello");
 * const reader = ws.readable.getReader();
 * console.log((await reader.read()).value); // "hello"
 * reader.releaseLock();
 * ```
 */
export function serve(options: ServeOptions = {}): WebSocketServer {
  const { engine = "rfc6455", signal } = options;
  assertOptions({ ...options, engine });
  heartbeatOf(options.heartbeat);
  const server = new ServerCore(options);
  if (engine === "native") server.listening(listenNative(server, options));
  else if (engine === "rfc6455") server.listening(listenRfc6455(server, options));
  else {
    throw new WebSocketTypeError("ERR_INVALID_OPTION", `Unknown engine "${engine}"`);
  }
  if (signal) {
    if (signal.aborted) void server.close();
    else signal.addEventListener("abort", () => void server.close(), { once: true });
  }
  return server;
}
