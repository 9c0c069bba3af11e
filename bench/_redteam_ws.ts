/**
 * npm `ws` on Node's `http` server, as the peer system of `bench/redteam.ts`:
 * the same paths as tests/redteam/servers/websocket_server.ts (`/echo`
 * echoes, `/slow` pauses the socket: a stalled app, `/sink` drops) and
 * comparable limits (`maxPayload` 16 MiB like our `maxMessageSize`;
 * everything else `ws`'s and Node's defaults, e.g. the HTTP server's 60 s
 * `headersTimeout`). Part of bench/redteam.ts, not a bench of its own.
 *
 * @module
 */

import { rssOf, type ServerProcess } from "../tests/redteam/_harness.ts";

const WS_SERVER = `
import http from "node:http";
import { WebSocketServer } from "ws";
const config = JSON.parse(process.argv[1] ?? "{}");
const server = http.createServer((req, res) => res.end("hi"));
const wss = new WebSocketServer({
  server,
  maxPayload: 16 * 1024 * 1024,
  perMessageDeflate: config.deflate ? {} : false,
});
wss.on("connection", (ws, req) => {
  ws.on("error", () => {});
  if (req.url === "/slow") ws.pause();
  else if (req.url === "/echo") ws.on("message", (data, binary) => ws.send(data, { binary }));
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
  if (config.broadcast) {
    const payload = Buffer.alloc(config.broadcast.size, 7);
    setInterval(() => { for (const client of wss.clients) client.send(payload); }, config.broadcast.everyMs);
  }
});
`;

/**
 * Starts the `ws` server under Node with `config` (`deflate`, `broadcast:
 * { size, everyMs }`), in the same shape as the harness's `startServer()`.
 */
export async function startWs(config: Record<string, unknown>): Promise<ServerProcess> {
  const child = new Deno.Command("node", {
    args: ["--input-type=module", "-e", WS_SERVER, JSON.stringify(config)],
    // Node resolves "ws" from the repository's node_modules.
    cwd: new URL("..", import.meta.url).pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      throw new Error("the ws server exited before listening");
    }
    text += value;
  }
  const draining = (async () => {
    while (!(await reader.read()).done) { /* keep stdout flowing */ }
  })();
  let running = true;
  const status = child.status.then((s) => {
    running = false;
    return s;
  });
  let maxRss = 0;
  const sampler = setInterval(() => maxRss = Math.max(maxRss, rssOf(child.pid)), 100);
  return {
    pid: child.pid,
    info: JSON.parse(text.slice(0, text.indexOf("\n"))),
    lines: [],
    rss: () => rssOf(child.pid),
    get maxRss() {
      return Math.max(maxRss, rssOf(child.pid));
    },
    status,
    alive: () => running,
    [Symbol.asyncDispose]: async () => {
      clearInterval(sampler);
      if (running) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await status;
      await draining.catch(() => {});
    },
  };
}
