// npm `ws` echo server for interop tests. Usage: node ws_echo_server.mjs '<json options>'
// Prints {"port": n} on the first stdout line; exits when stdin closes.
// Reports each connection's negotiated extensions and close code on stdout.
import { WebSocketServer } from "ws";

const options = JSON.parse(process.argv[2] ?? "{}");
const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  maxPayload: 64 * 1024 * 1024,
  perMessageDeflate: options.deflate ?? false,
});
server.on("connection", (ws, req) => {
  console.log(JSON.stringify({ event: "connection", extensions: ws.extensions, path: req.url }));
  ws.on("message", (data, isBinary) => {
    if (!isBinary && data.toString() === "ping-me") {
      ws.ping(Buffer.from("from-ws"));
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on("pong", (data) => ws.send(`pong:${data.toString()}`));
  ws.on("close", (code, reason) => {
    console.log(JSON.stringify({ event: "close", code, reason: reason.toString() }));
  });
  ws.on("error", (err) => console.log(JSON.stringify({ event: "error", message: err.message })));
});
server.on("listening", () => console.log(JSON.stringify({ port: server.address().port })));
process.stdin.on("end", () => {
  // Let close events of connections that just ended print first; no
  // process.exit() so piped stdout is flushed.
  setTimeout(() => {
    for (const client of server.clients) client.terminate();
    server.close();
  }, 100);
});
process.stdin.resume();
