// An independent peer for the framed/ interop test, written against the
// seed's wire format only (Ptolemy accessors `socket`, rawBytes = false):
// payload length < 255 -> one length byte; otherwise 0xFF and a 4-byte
// big-endian length. Shares no code with netkit.
//
//   node seed_peer.mjs server          prints {"port": N}, greets and echoes
//   node seed_peer.mjs client <port>   sends frames, checks the echoes, prints {"ok": true}
import net from "node:net";

function frame(payload) {
  const header = payload.length < 255 ? Buffer.from([payload.length]) : Buffer.alloc(5);
  if (payload.length >= 255) {
    header[0] = 0xff;
    header.writeInt32BE(payload.length, 1);
  }
  return Buffer.concat([header, payload]);
}

// Reassembles frames from arbitrary TCP chunks.
function deframer(onMessage) {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (pending.length < 1) return;
      let length = pending[0];
      let header = 1;
      if (length === 0xff) {
        if (pending.length < 5) return;
        length = pending.readInt32BE(1);
        header = 5;
      }
      if (pending.length < header + length) return;
      onMessage(pending.subarray(header, header + length));
      pending = pending.subarray(header + length);
    }
  };
}

function ints(...values) {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeInt32BE(v, i * 4));
  return b;
}

function doubles(...values) {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeDoubleBE(v, i * 8));
  return b;
}

function pattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Each greeting is a list of writes; each write holds one or more frames (or a piece of one).
async function greet(socket, kind) {
  if (kind === "int") {
    socket.write(Buffer.concat([frame(ints(1, -2)), frame(ints(7)), frame(ints())]));
  } else if (kind === "double") {
    socket.write(Buffer.concat([frame(doubles(0.5)), frame(doubles(1.5, -2))]));
  } else if (kind === "string") {
    const long = frame(Buffer.from("é".repeat(150), "utf8")); // 300 bytes: 5-byte header
    socket.write(
      Buffer.concat([
        frame(Buffer.from("héllo", "utf8")),
        frame(Buffer.alloc(0)),
        long.subarray(0, 3),
      ]),
    );
    await sleep(30);
    socket.write(long.subarray(3));
  } else if (kind === "bytes") {
    const big = frame(pattern(70000));
    socket.write(big.subarray(0, 2));
    await sleep(30);
    socket.write(big.subarray(2, 40000));
    await sleep(30);
    socket.write(big.subarray(40000));
  }
}

if (process.argv[2] === "server") {
  const server = net.createServer((socket) => {
    let greeted = false;
    socket.on(
      "data",
      deframer((message) => {
        if (!greeted) {
          greeted = true;
          greet(socket, message.toString("utf8"));
          return;
        }
        socket.write(frame(message)); // echo verbatim
      }),
    );
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1", () => {
    console.log(JSON.stringify({ port: server.address().port }));
  });
  process.stdin.on("data", () => {}); // exit when the test closes our stdin
  process.stdin.on("end", () => process.exit(0));
} else if (process.argv[2] === "client") {
  const sizes = [0, 1, 254, 255, 256, 65535, 65536, 300000];
  const payloads = sizes.map(pattern);
  const socket = net.connect(Number(process.argv[3]), "127.0.0.1");
  const received = [];
  socket.on("connect", () => socket.write(Buffer.concat(payloads.map(frame))));
  socket.on(
    "data",
    deframer((message) => {
      received.push(Buffer.from(message));
      if (received.length === payloads.length) {
        const bad = received.findIndex((m, i) => !m.equals(payloads[i]));
        console.log(
          JSON.stringify({ ok: bad === -1, bad, lengths: received.map((m) => m.length) }),
        );
        socket.end();
      }
    }),
  );
  socket.on("error", (error) => {
    console.log(JSON.stringify({ ok: false, error: String(error) }));
    process.exit(1);
  });
}
