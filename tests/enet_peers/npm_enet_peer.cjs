// npm `enet` 0.2.9 (emscripten ENet 1.3.5) peer under Node, same modes and
// line protocol as enet_peer.c:
//   node npm_enet_peer.cjs server [--sink] [--range-coder]
//   node npm_enet_peer.cjs client --connect HOST:PORT [--channels 4] [--data N] [--range-coder]
//   node npm_enet_peer.cjs bench-throughput|bench-rtt --connect HOST:PORT --count N --size S
"use strict";
const path = require("node:path");
const enet = require(path.join(__dirname, "../../node_modules/enet"));

const argv = process.argv.slice(2);
const mode = argv[0];
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const flag = (name) => argv.includes(name);
const sink = flag("--sink");
const rangeCoder = flag("--range-coder");
const FLAGS = enet.PACKET_FLAG.RELIABLE | enet.PACKET_FLAG.UNSEQUENCED |
  enet.PACKET_FLAG.UNRELIABLE_FRAGMENT;
// 1 ms polling: the library has no wait-on-socket service; its default is 10 ms.
const POLL_MS = Number(option("--poll", "1"));

function fnv1a(data) {
  let h = 2166136261;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i];
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

function pattern(length, seed, withIndex) {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = (seed * 7 + i * 31) & 255;
  if (withIndex && length >= 4) data.writeUInt32BE(seed >>> 0, 0);
  return data;
}

const out = [];
function print(line) {
  out.push(line);
  if (out.length > 256) flush();
}
function flush() {
  if (out.length) process.stdout.write(out.join("\n") + "\n");
  out.length = 0;
}
setInterval(flush, 5).unref();

function printReceive(packet, channel) {
  const data = packet.data();
  print(
    `RECV ${channel} ${packet.flags() & FLAGS} ${data.length} ${fnv1a(data)} ${
      data.length >= 4 ? data.readUInt32BE(0) : 0
    }`,
  );
}

function parseTarget() {
  const target = option("--connect");
  const colon = target.lastIndexOf(":");
  return new enet.Address(target.slice(0, colon), Number(target.slice(colon + 1)));
}

function onStdinLines(handler) {
  let rest = "";
  process.stdin.on("data", (chunk) => {
    rest += chunk.toString();
    const lines = rest.split("\n");
    rest = lines.pop();
    for (const line of lines) handler(line);
  });
  process.stdin.on("end", () => {
    flush();
    process.exit(0);
  });
}

if (mode === "server") {
  enet.createServer({
    address: { address: option("--host", "127.0.0.1"), port: Number(option("--port", "0")) },
    peers: 32,
    channels: 255,
  }, (err, host) => {
    if (err) throw err;
    if (rangeCoder) host.enableCompression();
    let sinkStart = 0;
    host.on("connect", (peer, data) => {
      if (!sink) print(`CONNECT ${data >>> 0}`);
      peer.on("disconnect", (data) => {
        if (!sink) print(`DISCONNECT ${data >>> 0}`);
      });
    });
    host.on("message", (peer, packet, channel) => {
      const data = packet.data();
      if (sink && channel === 1 && data.length >= 8) {
        const index = data.readUInt32BE(0), total = data.readUInt32BE(4);
        if (index === 0) sinkStart = process.hrtime.bigint();
        if (index + 1 === total) {
          const us = (process.hrtime.bigint() - sinkStart) / 1000n;
          peer.send(1, new enet.Packet(Buffer.from(`DONE ${us}`), enet.PACKET_FLAG.RELIABLE));
        }
        return;
      }
      if (data.length > 11 && data.subarray(0, 11).toString() === "disconnect:") {
        peer.disconnect(Number(data.subarray(11).toString()));
        return;
      }
      if (!sink) printReceive(packet, channel);
      peer.send(channel, new enet.Packet(data, packet.flags() & FLAGS));
    });
    host.start(POLL_MS);
    const bound = host.address();
    print(`PORT ${typeof bound.port === "function" ? bound.port() : bound.port}`);
    flush();
    onStdinLines(() => {});
  });
} else if (mode === "client") {
  enet.createClient({ peers: 1, channels: 255 }, (err, host) => {
    if (err) throw err;
    if (rangeCoder) host.enableCompression();
    const channels = Number(option("--channels", "4"));
    const peer = host.connect(parseTarget(), channels, Number(option("--data", "0")), (err) => {
      if (err) {
        console.error("connect failed", err);
        process.exit(3);
      }
      print("CONNECT 0");
      flush();
    });
    host.start(POLL_MS);
    peer.on("message", (packet, channel) => printReceive(packet, channel));
    peer.on("disconnect", (data) => print(`DISCONNECT ${data >>> 0}`));
    onStdinLines((line) => {
      const [command, ...args] = line.trim().split(/\s+/);
      const n = args.map(Number);
      if (command === "burst") {
        for (let k = 0; k < n[0]; k++) {
          peer.send(k % n[1], new enet.Packet(pattern(n[3], k, true), n[2]));
        }
        host.flush();
      } else if (command === "send") {
        peer.send(n[0], new enet.Packet(pattern(n[2], n[3], false), n[1]));
        host.flush();
      } else if (command === "disconnect") peer.disconnect(n[0]);
      else if (command === "disconnect_now") peer.disconnectNow(n[0]);
      else if (command === "disconnect_later") peer.disconnectLater(n[0]);
      else if (command === "quit") {
        flush();
        process.exit(0);
      }
    });
  });
} else if (mode === "bench-throughput" || mode === "bench-rtt") {
  const count = Number(option("--count", "1000"));
  const size = Number(option("--size", "64"));
  enet.createClient({ peers: 1, channels: 2 }, (err, host) => {
    if (err) throw err;
    const peer = host.connect(parseTarget(), 2, 0, (err) => {
      if (err) {
        console.error("connect failed", err);
        process.exit(3);
      }
      if (mode === "bench-throughput") throughput(host, peer, count, size);
      else rtt(host, peer, count, size);
    });
    host.start(POLL_MS);
  });
}

function throughput(host, peer, count, size) {
  const start = process.hrtime.bigint();
  let sent = 0;
  peer.on("message", (packet, channel) => {
    if (channel !== 1) return;
    const receiverUs = Number(packet.data().toString().split(" ")[1]);
    const senderUs = Number((process.hrtime.bigint() - start) / 1000n);
    print(`RESULT ${receiverUs} ${senderUs}`);
    flush();
    process.exit(0);
  });
  // The emscripten heap grows with the queue: send in slices between polls.
  const pump = () => {
    const buffer = Buffer.alloc(Math.max(size, 8));
    for (let i = 0; i < 2000 && sent < count; i++, sent++) {
      buffer.writeUInt32BE(sent, 0);
      buffer.writeUInt32BE(count, 4);
      peer.send(1, new enet.Packet(buffer.subarray(0, size), enet.PACKET_FLAG.RELIABLE));
    }
    host.flush();
    if (sent < count) setTimeout(pump, 1);
  };
  pump();
}

function rtt(host, peer, count, size) {
  const samples = [];
  let start = 0n;
  const ping = () => {
    start = process.hrtime.bigint();
    peer.send(0, new enet.Packet(Buffer.alloc(size), enet.PACKET_FLAG.RELIABLE));
    host.flush();
  };
  peer.on("message", () => {
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
    if (samples.length === count) {
      samples.sort((a, b) => a - b);
      print(
        `RESULT ${Math.round(samples[count >> 1])} ${
          Math.round(samples[Math.floor(count * 0.99)])
        }`,
      );
      flush();
      process.exit(0);
    }
    ping();
  });
  ping();
}
