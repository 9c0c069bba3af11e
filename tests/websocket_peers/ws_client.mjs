// npm `ws` client for interop tests. Usage: node ws_client.mjs <url> '<json options>'
// Sends a scripted sequence, checks every echo byte for byte, pings, then closes
// with 4000. Prints one JSON result line.
import WebSocket from "ws";

const [url, rawOptions = "{}"] = process.argv.slice(2);
const options = JSON.parse(rawOptions);
const ws = new WebSocket(url, options.protocols ?? [], {
  perMessageDeflate: options.deflate ?? false,
  maxPayload: 64 * 1024 * 1024,
});
const result = { extensions: "", protocol: "", echoes: 0, pong: null, close: null, errors: [] };

function pattern(size, seed) {
  const out = Buffer.alloc(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const sizes = options.sizes ?? [0, 1, 125, 126, 65536, 1 << 20];
const messages = [
  ...sizes.map((size, i) => ({ data: pattern(size, i + 7), binary: true })),
  { data: "héllo ✓ ".repeat(1000), binary: false },
  { data: "compressible ".repeat(10000), binary: false },
];

function next(ws) {
  return new Promise((resolve, reject) => {
    ws.once("message", (data, isBinary) => resolve({ data, isBinary }));
    ws.once("close", () => reject(new Error("closed while waiting")));
  });
}

ws.on("error", (err) => result.errors.push(err.message));
ws.on("open", async () => {
  result.extensions = ws.extensions;
  result.protocol = ws.protocol;
  try {
    for (const message of messages) {
      const reply = next(ws);
      ws.send(message.data, { binary: message.binary });
      const { data, isBinary } = await reply;
      if (isBinary !== message.binary) throw new Error("Type mismatch");
      const expected = Buffer.from(message.data);
      if (!Buffer.from(data).equals(expected)) {
        throw new Error(`Echo mismatch at ${expected.length} bytes`);
      }
      result.echoes++;
    }
    const pong = new Promise((resolve) => ws.once("pong", (d) => resolve(d.toString())));
    ws.ping(Buffer.from("ws-ping"));
    result.pong = await pong;
  } catch (err) {
    result.errors.push(err.message);
  }
  ws.close(4000, "interop done");
});
ws.on("close", (code, reason) => {
  result.close = { code, reason: reason.toString() };
  console.log(JSON.stringify(result));
});
