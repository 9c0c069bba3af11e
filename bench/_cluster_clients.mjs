// Room members of bench/cluster_bench.ts, under Node: `kind` is "netkit" (plain WebSocket, npm
// ws) or "socketio" (socket.io-client over websocket). Connects `count` members spread over the
// given ports, prints "ready" once every one has joined, then for each line "expect N" on stdin
// prints "done" once every member has received N more messages.
import WebSocket from "ws";
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [kind, portList, countArg] = process.argv.slice(2);
const ports = portList.split(",").map(Number);
const count = Number(countArg);
const received = new Array(count).fill(0);
let target = Infinity;
let pending = 0;
/** Characters received: each member touches its message as an app would. */
let characters = 0;

function onMessage(i, message) {
  characters += message.length;
  if (++received[i] === target) {
    if (--pending === 0) console.log("done");
  }
}

const joined = [];
for (let i = 0; i < count; i++) {
  const port = ports[i % ports.length];
  joined.push(
    new Promise((resolve, reject) => {
      if (kind === "netkit") {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/member?room=bench`);
        let first = true;
        // Text as a string, as socket.io-client hands it over (npm ws gives a Buffer).
        ws.on("message", (data, isBinary) => {
          if (first) {
            first = false;
            resolve();
          } else onMessage(i, isBinary ? data : data.toString());
        });
        ws.on("error", reject);
        ws.on("close", (code) => console.error(`member ${i} closed with ${code}`));
      } else {
        const socket = io(`http://127.0.0.1:${port}`, {
          transports: ["websocket"],
          query: { role: "member" },
        });
        socket.on("joined", resolve);
        socket.on("m", (message) => onMessage(i, message));
        socket.on("connect_error", reject);
        socket.on("disconnect", (reason) => console.error(`member ${i} disconnected: ${reason}`));
      }
    }),
  );
}
await Promise.all(joined);
console.log("ready");
createInterface({ input: process.stdin }).on("line", (line) => {
  const [word, n] = line.split(" ");
  if (word === "expect") {
    target = Number(n);
    received.fill(0);
    pending = count;
  } else if (word === "exit") process.exit(0);
});
