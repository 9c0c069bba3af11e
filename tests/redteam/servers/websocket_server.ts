/**
 * A websocket/ server for the red-team tests, in its own process.
 *
 * Usage: `deno run -A --unstable-net websocket_server.ts '<json config>'`,
 * where the config is `serve()`'s options plus `broadcast: { size, everyMs }`
 * (broadcast `size` bytes to every connection every `everyMs`).
 *
 * Paths: `/echo` echoes; `/slow` never reads (a stalled app); `/sink` reads
 * and drops. Prints `{ "port": n }` first, then one JSON line per connection
 * that closed with an error: `{ "path", "code", "error" }`.
 *
 * @module
 */

import { serve, type ServeOptions } from "../../../websocket/mod.ts";

const config = JSON.parse(Deno.args[0] ?? "{}") as ServeOptions & {
  broadcast?: { size: number; everyMs: number };
};
const { broadcast, ...options } = config;
const server = serve({ hostname: "127.0.0.1", port: 0, ...options });
console.log(JSON.stringify({ port: server.addr.port }));

(async () => {
  for await (const conn of server) {
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

if (broadcast) {
  const payload = new Uint8Array(broadcast.size).fill(7);
  (async () => {
    while (true) {
      await server.broadcast(payload);
      await new Promise((resolve) => setTimeout(resolve, broadcast.everyMs));
    }
  })();
}
