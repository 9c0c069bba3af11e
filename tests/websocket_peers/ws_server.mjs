// A `ws` (npm) echo server for the interop tests and the bench, run under Node.
// Usage: node ws_server.mjs [--deflate] — prints {"port": n} on the first line.
// Text "headers?" answers with the request headers as JSON, "extensions?" with the
// negotiated extensions, "close:<code>" closes with that code; everything else is echoed.
import { WebSocketServer } from "ws";

const deflate = process.argv.includes("--deflate");
const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (offered) => {
    for (const name of offered) if (name === "chat" || name === "superchat") return name;
    return false;
  },
});
wss.on("connection", (socket, request) => {
  socket.on("message", (data, isBinary) => {
    if (!isBinary) {
      const text = data.toString();
      if (text === "headers?") return socket.send(JSON.stringify(request.headers));
      if (text === "extensions?") return socket.send(socket.extensions);
      if (text.startsWith("close:")) return socket.close(Number(text.slice(6)), "bye from ws");
    }
    socket.send(data, { binary: isBinary });
  });
  socket.on("error", () => {});
});
wss.on("listening", () => console.log(JSON.stringify({ port: wss.address().port })));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
