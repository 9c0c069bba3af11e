// A `ws` (npm) client for the interop tests, run under Node.
// Usage: node ws_interop_client.mjs <url> [--deflate]
// Offers subprotocol "chat", sends text and binary messages of several sizes,
// checks every echo byte for byte, pings, closes with 4000 and prints one JSON result line.
import WebSocket from "ws";

const url = process.argv[2];
const deflate = process.argv.includes("--deflate");
const ws = new WebSocket(url, ["chat"], {
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  headers: { "x-peer": "ws" },
  maxPayload: 64 * 1024 * 1024,
});
const result = {
  opened: false,
  protocol: "",
  extensions: "",
  echoes: 0,
  mismatches: 0,
  pong: false,
};
const pending = [];
const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20, 4 << 20];

function payload(size, seed) {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * seed + 3) & 0xff;
  return bytes;
}

ws.on("open", () => {
  result.opened = true;
  result.protocol = ws.protocol;
  result.extensions = ws.extensions;
  for (const size of sizes) {
    const bytes = payload(size, 17);
    pending.push({ binary: true, data: bytes });
    ws.send(bytes, { binary: true });
    const text = "ü".repeat(size >> 1);
    pending.push({ binary: false, data: text });
    ws.send(text);
  }
  ws.ping(Buffer.from("are you there"));
});
ws.on("pong", (data) => {
  result.pong = data.toString() === "are you there";
});
ws.on("message", (data, isBinary) => {
  const expected = pending.shift();
  const same = expected && expected.binary === isBinary &&
    (isBinary ? Buffer.compare(data, expected.data) === 0 : data.toString() === expected.data);
  if (same) result.echoes++;
  else result.mismatches++;
  if (pending.length === 0) ws.close(4000, "done");
});
ws.on("close", (code, reason) => {
  result.closeCode = code;
  result.closeReason = reason.toString();
  console.log(JSON.stringify(result));
  process.exit(0);
});
ws.on("unexpected-response", (_request, response) => {
  result.status = response.statusCode;
  console.log(JSON.stringify(result));
  process.exit(0);
});
ws.on("error", (error) => {
  result.error = String(error.message);
});
setTimeout(() => {
  result.error = "timeout";
  console.log(JSON.stringify(result));
  process.exit(1);
}, 20_000).unref();
