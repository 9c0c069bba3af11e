/**
 * A websocket/ server for the red-team tests, in its own process.
 *
 * Usage: `deno run -A --unstable-net websocket_server.ts '<json config>'`,
 * where the config is `serve()`'s options plus `broadcast: { size, everyMs }`
 * (broadcast `size` bytes to every connection every `everyMs`).
 *
 * `tls: true` serves `wss:` with a fresh test CA (its PEM is `caCert` in the
 * first line).
 *
 * `front: "serveHttp"` serves through our head-limited HTTP front and
 * `handleUpgrade()` instead of `serve()` (the way the webrtc master could).
 *
 * Paths: `/echo` echoes; `/slow` never reads (a stalled app); `/sink` reads
 * and drops. Prints `{ "port": n }` first, then one JSON line per connection
 * that closed with an error: `{ "path", "code", "error" }`.
 *
 * @module
 */

import {
  handleUpgrade,
  serve,
  type ServeOptions,
  type WebSocketConnection,
  type WebSocketServer,
} from "../../../websocket/mod.ts";
import { serveHttp } from "../../../websocket/mod.ts";
import { makeServerCertificates } from "../../_certs.ts";

const config = JSON.parse(Deno.args[0] ?? "{}") as ServeOptions & {
  broadcast?: { size: number; everyMs: number };
  tls?: boolean;
  /** `"serveHttp"`: our head-limited HTTP front + `handleUpgrade()`, as the webrtc master could use. */
  front?: "serveHttp";
};
const { broadcast, front, tls, ...plain } = config;
let caCert: string | undefined;
let options: ServeOptions = plain;
if (tls) {
  const pki = await makeServerCertificates();
  caCert = pki.caCert;
  options = { ...plain, cert: pki.cert, key: pki.key };
}
let server: WebSocketServer | undefined;

/** The connections, from `serve()` or from `handleUpgrade()` inside `serveHttp()`. */
async function* connections(): AsyncGenerator<WebSocketConnection> {
  if (front !== "serveHttp") {
    server = serve({ hostname: "127.0.0.1", port: 0, ...options });
    console.log(JSON.stringify({ port: server.addr.port, caCert }));
    yield* server;
    return;
  }
  const queue: WebSocketConnection[] = [];
  let wake: (() => void) | undefined;
  const http = serveHttp({ hostname: "127.0.0.1", port: 0, ...options }, (request, info) => {
    if (request.headers.get("upgrade") !== "websocket") return new Response("hi");
    const { response, connection } = handleUpgrade(request, { remoteAddr: info.remoteAddr });
    queue.push(connection);
    wake?.();
    return response;
  });
  console.log(JSON.stringify({ port: http.addr.port }));
  while (true) {
    const next = queue.shift();
    if (next) yield next;
    else await new Promise<void>((resolve) => wake = resolve);
  }
}

(async () => {
  for await (const conn of connections()) {
    const path = conn.path;
    conn.closed.then(({ code, error }) => {
      if (error) console.log(JSON.stringify({ path, code, error: error.code }));
    });
    if (path === "/slow") continue;
    (async () => {
      for await (const message of conn.readable) {
        if (path === "/echo") await conn.send(message).catch(() => {});
      }
    })().catch(() => {});
  }
})();

if (broadcast && front !== "serveHttp") {
  const payload = new Uint8Array(broadcast.size).fill(7);
  (async () => {
    while (true) {
      await server?.broadcast(payload);
      await new Promise((resolve) => setTimeout(resolve, broadcast.everyMs));
    }
  })();
}
