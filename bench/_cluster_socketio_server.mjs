// The anchor of bench/cluster_bench.ts: a socket.io 4 server with @socket.io/redis-adapter,
// run under Node. Members connect with ?role=member and join the room "bench"; a control
// client (?role=control) asks for `publish` {n, size}: n emits of ~size bytes to the room.
// Prints {"port": …} once listening.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";

const url = process.argv[2];
const pub = new Redis(url);
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub), transports: ["websocket"] });
io.on("connection", (socket) => {
  if (socket.handshake.query.role === "control") {
    socket.on("publish", ({ n, size }, ack) => {
      const pad = "x".repeat(size);
      for (let i = 0; i < n; i++) io.to("bench").emit("m", `p:${i}${pad}`);
      ack();
    });
    socket.on("count", async (ack) => ack((await io.in("bench").fetchSockets()).length));
  } else {
    socket.join("bench");
    socket.emit("joined");
  }
});
http.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: http.address().port })));
