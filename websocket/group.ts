/**
 * `createConnectionGroup()`: `serve()`'s connection features (iteration,
 * `connections`, `broadcast`, rooms, `authorize`, `allowedOrigins`,
 * `fallback`) for connections upgraded in your own HTTP server.
 *
 * @module
 */

import { rawRequests } from "./_http_front.ts";
import { DEFAULT_MAX_BUFFERED_BYTES } from "./_engine.ts";
import { upgradeNative } from "./_native_server.ts";
import { assertOptions, heartbeatOf } from "./_policy.ts";
import { SharedBudget } from "./_rfc6455.ts";
import { ServerCore } from "./_server_core.ts";
import { WebSocketTypeError } from "./errors.ts";
import type { ConnectionGroupOptions, WebSocketGroup } from "./options.ts";

/**
 * Makes a group of connections for your own `Deno.serve` (or `serveHttp()`)
 * handler: pass `group.handle` as the handler, or call it for the requests
 * you route to it. Native engine only (like `handleUpgrade()`); `close()`
 * closes the group's connections with 1001, not your HTTP server.
 *
 * Throws `WebSocketTypeError` `ERR_UNSUPPORTED_BY_ENGINE` for
 * `engine: "rfc6455"` and `ERR_INVALID_OPTION` for a bad option.
 *
 * @example A page and its sockets on one port, with broadcast
 * ```ts
 * import { createConnectionGroup, serveHttp } from "@netkit/realtime/websocket";
 * await using group = createConnectionGroup({
 *   path: "/ws",
 *   fallback: () => new Response("<script>new WebSocket('/ws')</script>", {
 *     headers: { "content-type": "text/html" },
 *   }),
 * });
 * (async () => {
 *   for await (const conn of group) await group.broadcast(`${conn.remoteAddr?.port} joined`);
 * })();
 * const http = serveHttp({ hostname: "127.0.0.1", port: 0 }, group.handle);
 * await http.shutdown();
 * ```
 */
export function createConnectionGroup(options: ConnectionGroupOptions = {}): WebSocketGroup {
  const { engine = "native", signal } = options;
  if (engine !== "native") {
    throw new WebSocketTypeError(
      "ERR_UNSUPPORTED_BY_ENGINE",
      `createConnectionGroup() supports engine "native" only, not "${engine}": use serve() for "rfc6455"`,
    );
  }
  assertOptions(options);
  heartbeatOf(options.heartbeat);
  const core = new ServerCore(options);
  // What all connections of this group may hold unread together.
  const budget = new SharedBudget(options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES);
  const handle = async (
    request: Request,
    info?: { remoteAddr: Deno.Addr },
  ): Promise<Response> => {
    const rejection = await core.admission(request);
    if (rejection) return rejection;
    // A request read by serveHttp() carries its connection (see handleUpgrade()).
    const raw = rawRequests.get(request);
    const { response, connection } = upgradeNative(request, {
      ...options,
      budget,
      remoteAddr: info?.remoteAddr as Deno.NetAddr | undefined,
      ...(raw === undefined ? {} : { socket: raw.socket, head: raw.head }),
    });
    if (raw !== undefined) raw.upgraded = true;
    core.admit(connection);
    return response;
  };
  if (signal) {
    if (signal.aborted) void core.close();
    else signal.addEventListener("abort", () => void core.close(), { once: true });
  }
  return {
    handle,
    get connections() {
      return core.connections;
    },
    broadcast: (data) => core.broadcast(data),
    to: (room) => core.to(room),
    close: () => core.close(),
    get finished() {
      return core.finished;
    },
    [Symbol.asyncIterator]: () => core[Symbol.asyncIterator](),
    [Symbol.asyncDispose]: () => core.close(),
  };
}
