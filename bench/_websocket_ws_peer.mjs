// `ws` on Node for bench/websocket_bench.ts: an echo server and its clients in
// one Node process, measured by the shared _websocket_echo.mjs.
// Usage: node _websocket_ws_peer.mjs <size> <clients> <window> <throughputMs> <latencyMs>
// Prints one JSON line { throughput: { rate, p50, p99 }, latency: { rate, p50, p99 } }.
import { WebSocket, WebSocketServer } from "ws";
import { measureEcho } from "./_websocket_echo.mjs";

const [size, count, window, throughputMs, latencyMs] = process.argv.slice(2).map(Number);
const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
});
await new Promise((resolve) => server.on("listening", resolve));
const url = `ws://127.0.0.1:${server.address().port}/`;
const sockets = await Promise.all(
  Array.from({ length: count }, () =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on("open", () => resolve(ws));
      ws.on("error", reject);
    })),
);
const payload = Buffer.alloc(size, 7);
const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
// Warm-up, then the measured run.
const clients = sockets.map((ws) => ({
  send: (data) => ws.send(data, { binary: true }),
  onMessage: (callback) => {
    ws.removeAllListeners("message");
    ws.on("message", callback);
  },
}));
await measureEcho(clients, payload, window, 300, cpuMicros);
const throughput = await measureEcho(clients, payload, window, throughputMs, cpuMicros);
const latency = await measureEcho(clients, payload, 1, latencyMs, cpuMicros);
console.log(JSON.stringify({ throughput, latency }));
for (const ws of sockets) ws.terminate();
server.close();
process.exit(0);
