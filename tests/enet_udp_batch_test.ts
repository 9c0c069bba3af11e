/**
 * The batched UDP layer under an ENet host (`enet/_udp_batch.ts`): on Linux
 * with FFI granted (as this suite runs), the Deno socket sends every datagram
 * of a microtask pass in one `sendmmsg` and drains bursts with `recvmmsg`.
 * Real sockets over loopback, with plain `Deno.listenDatagram` sockets as the
 * other end; the interop suites run the whole engine over this layer against
 * C libenet and npm `enet`.
 */
import assert from "node:assert/strict";
import { createHost, EnetTypeError } from "../enet/mod.ts";
import {
  type DatagramSocket,
  openDatagramSocket,
  type OpenDatagramSocketOptions,
  SendChunk,
} from "../enet/_socket.ts";
import { ipBytes, ipText } from "../enet/_ip.ts";
import { SOURCE_CACHE_SIZE, SourceNames } from "../enet/_udp_batch.ts";
import { deadline, hasIPv6, LOOPBACK4, LOOPBACK6 } from "./_loopback.ts";
import { until } from "./_tools/until.ts";

interface Received {
  data: Uint8Array;
  hostname: string;
  port: number;
}

/** A socket of the engine's kind, recording what it receives and how many bursts ended. */
async function recordingSocket(
  hostname: string,
  implementation: OpenDatagramSocketOptions["implementation"] = "auto",
): Promise<
  { socket: DatagramSocket; received: Received[]; bursts: () => number } & AsyncDisposable
> {
  const received: Received[] = [];
  let bursts = 0;
  const socket = await openDatagramSocket({
    address: { hostname, port: 0 },
    implementation,
    onDatagram: (data, from, port) => received.push({ data: data.slice(), hostname: from, port }),
    onBurstEnd: () => bursts++,
  });
  return {
    socket,
    received,
    bursts: () => bursts,
    [Symbol.asyncDispose]: () => socket.close(),
  };
}

/** Datagram `i` of a test burst: its index, then a length (up to 8 + `spread`) and filling that vary with it. */
function datagram(i: number, spread = 1200): Uint8Array {
  const bytes = new Uint8Array(8 + (i * 37) % spread);
  new DataView(bytes.buffer).setUint32(0, i);
  bytes.fill(i & 0xFF, 4);
  return bytes;
}

/** A plain `Deno.listenDatagram` socket, closed on dispose. */
function plainSocket(hostname: string): { conn: Deno.DatagramConn; port: number } & Disposable {
  const conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  return {
    conn,
    port: (conn.addr as Deno.NetAddr).port,
    [Symbol.dispose]: () => conn.close(),
  };
}

/** Receives `count` datagrams on a plain Deno socket. */
async function receivePlain(conn: Deno.DatagramConn, count: number): Promise<Received[]> {
  const out: Received[] = [];
  while (out.length < count) {
    const [data, from] = await conn.receive();
    const address = from as Deno.NetAddr;
    out.push({ data, hostname: address.hostname, port: address.port });
  }
  return out;
}

const loopbackV6 = hasIPv6();

Deno.test("ipBytes() reads every spelling of an IP literal and refuses names and scope IDs", () => {
  assert.deepEqual(ipBytes("127.0.0.1"), new Uint8Array([127, 0, 0, 1]));
  assert.deepEqual(ipBytes("::1"), new Uint8Array([...new Array(15).fill(0), 1]));
  assert.deepEqual(ipBytes("[::1]"), ipBytes("0:0:0:0:0:0:0:1"));
  assert.deepEqual(
    ipBytes("::ffff:10.1.2.3"),
    new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 1, 2, 3]),
  );
  assert.deepEqual(
    ipBytes("2001:DB8::8:800:200C:417A"),
    new Uint8Array([0x20, 1, 0x0D, 0xB8, 0, 0, 0, 0, 0, 8, 8, 0, 0x20, 0x0C, 0x41, 0x7A]),
  );
  for (
    const bad of [
      "localhost",
      "256.0.0.1",
      "1.2.3",
      "fe80::1%eth0",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
    ]
  ) {
    assert.equal(ipBytes(bad), null, bad);
  }
});

Deno.test("ipText() writes sources in the runtime's spelling: dotted IPv4, RFC 5952 IPv6, IPv4-mapped as IPv4", () => {
  assert.equal(ipText(new Uint8Array([10, 0, 0, 255])), "10.0.0.255");
  for (
    const [text, expected] of [
      ["::1", "::1"],
      ["::", "::"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["fe80::abcd:0:0:1", "fe80::abcd:0:0:1"],
      ["::ffff:192.0.2.7", "192.0.2.7"],
      ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ]
  ) {
    assert.equal(ipText(ipBytes(text)!), expected, text);
    // the runtime's own spelling, through the URL parser, agrees
    if (!expected.includes(".")) {
      assert.equal(new URL(`http://[${text}]/`).hostname.slice(1, -1), expected);
    }
  }
});

Deno.test('openDatagramSocket() batches on Linux with FFI granted, and not with "deno"', async () => {
  const linux = Deno.build.os === "linux" &&
    (Deno.build.arch === "x86_64" || Deno.build.arch === "aarch64");
  await using batched = await recordingSocket(LOOPBACK4);
  assert.equal(batched.socket.kind, linux ? "deno-batched" : "deno");
  await using plain = await recordingSocket(LOOPBACK4, "deno");
  assert.equal(plain.socket.kind, "deno");
});

for (const hostname of [LOOPBACK4, LOOPBACK6]) {
  Deno.test({
    name:
      `300 datagrams sent in passes of 50 leave in order and byte-exact, from chunks and from copies (${hostname})`,
    ignore: hostname === LOOPBACK6 && !loopbackV6,
    fn: async () => {
      await using sender = await recordingSocket(hostname);
      using receiver = plainSocket(hostname);
      const to = { hostname, port: receiver.port };
      // Passes of 50 stay within the receiver's kernel buffer; each pass is
      // one microtask run, so one sendmmsg (and one more when 64 fill up).
      for (let pass = 0; pass < 6; pass++) {
        const arrived = receivePlain(receiver.conn, 50);
        const chunk = new SendChunk();
        let used = 0;
        for (let i = pass * 50; i < pass * 50 + 50; i++) {
          const bytes = datagram(i);
          if (i % 3 === 0) {
            sender.socket.send(bytes, to, null); // given up by the caller: the layer copies it
            bytes.fill(0xEE); // ... so changing it afterwards changes nothing
          } else {
            chunk.bytes.set(bytes, used);
            sender.socket.send(chunk.bytes.subarray(used, used + bytes.length), to, chunk);
            used += bytes.length;
          }
        }
        assert.ok(chunk.pending > 0, "chunk sends wait for the flush at the end of the pass");
        const got = await deadline(arrived, 5000, `pass ${pass}`);
        assert.equal(chunk.pending, 0, "every chunk send completed");
        got.forEach((entry, j) => {
          const i = pass * 50 + j;
          assert.deepEqual(entry.data, datagram(i), `datagram ${i}`);
          assert.equal(entry.port, sender.socket.address.port);
        });
      }
    },
  });
}

Deno.test("a burst queued in the kernel is drained in a few wake-ups, in order, with each source as the runtime reports it", async (t) => {
  await using receiver = await recordingSocket(LOOPBACK4);
  const port = receiver.socket.address.port;
  await t.step("IPv4 sources", async () => {
    // Sent in one pass of the batched socket, so all are in the kernel's
    // queue, in order, when the receiver wakes (small ones, so 200 fit in
    // its buffer). Concurrent runtime sends would not keep their order.
    await using sender = await recordingSocket(LOOPBACK4);
    const bursts = receiver.bursts();
    for (let i = 0; i < 200; i++) {
      sender.socket.send(datagram(i, 120), { hostname: LOOPBACK4, port }, null);
    }
    await until(() => receiver.received.length >= 200, 5000, "200 datagrams");
    receiver.received.forEach((entry, i) => {
      assert.deepEqual(entry.data, datagram(i, 120), `datagram ${i}`);
      assert.equal(entry.hostname, LOOPBACK4);
      assert.equal(entry.port, sender.socket.address.port);
    });
    const wakeUps = receiver.bursts() - bursts;
    assert.ok(wakeUps <= 20, `200 queued datagrams took ${wakeUps} bursts`);
  });
  await t.step("a datagram longer than ENet's largest is dropped, the next arrives", async () => {
    using sender = plainSocket(LOOPBACK4);
    const before = receiver.received.length;
    const bursts = receiver.bursts();
    // Two wake-ups' worth: the oversized one may come first in a drained batch too.
    for (const size of [5000, 16, 5000, 17]) {
      await sender.conn.send(new Uint8Array(size).fill(7), {
        transport: "udp",
        hostname: LOOPBACK4,
        port,
      });
    }
    await until(() => receiver.received.length >= before + 2, 5000, "the short datagrams");
    await new Promise((r) => setTimeout(r, 50));
    const lengths = receiver.received.slice(before).map((entry) => entry.data.length);
    // The runtime's receive op (first of a wake-up) truncates at 4096 as before;
    // the batched drain drops what does not fit.
    assert.ok(lengths.includes(16) && lengths.includes(17), `got ${lengths}`);
    assert.ok(lengths.every((length) => length <= 4096), `got ${lengths}`);
    assert.ok(receiver.bursts() > bursts);
  });
});

Deno.test({
  name: "a dual-stack socket bound to :: reports an IPv4 source as IPv4 and answers it",
  ignore: !loopbackV6,
  fn: async () => {
    await using receiver = await recordingSocket("::");
    using sender = plainSocket(LOOPBACK4);
    const senderPort = sender.port;
    await sender.conn.send(datagram(1), {
      transport: "udp",
      hostname: LOOPBACK4,
      port: receiver.socket.address.port,
    });
    await until(() => receiver.received.length >= 1, 5000, "the datagram");
    assert.equal(receiver.received[0].hostname, LOOPBACK4);
    const answered = receivePlain(sender.conn, 1);
    receiver.socket.send(datagram(2), { hostname: LOOPBACK4, port: senderPort }, null);
    const [answer] = await deadline(answered, 5000, "the answer");
    assert.deepEqual(answer.data, datagram(2));
  },
});

Deno.test("close() sends what is queued, then the socket ignores sends", async () => {
  const socket = await openDatagramSocket({
    address: { hostname: LOOPBACK4, port: 0 },
    implementation: "auto",
    onDatagram: () => {},
    onBurstEnd: () => {},
  });
  using receiver = plainSocket(LOOPBACK4);
  const to = { hostname: LOOPBACK4, port: receiver.port };
  socket.send(datagram(0), to, null);
  await socket.close();
  socket.send(datagram(1), to, null); // after close: dropped, no crash
  const [first] = await deadline(receivePlain(receiver.conn, 1), 5000, "the queued datagram");
  assert.deepEqual(first.data, datagram(0));
});

Deno.test("createHost() refuses an unknown socket option with ERR_INVALID_OPTION", async () => {
  await assert.rejects(
    // @ts-expect-error: not a socket kind
    createHost({ address: { hostname: LOOPBACK4, port: 0 }, socket: "ffi" }),
    (error) => error instanceof EnetTypeError && error.code === "ERR_INVALID_OPTION",
  );
});

Deno.test("a datagram longer than ENet's largest still leaves, through the runtime's op", async () => {
  await using sender = await recordingSocket(LOOPBACK4);
  using receiver = plainSocket(LOOPBACK4);
  const arrived = receivePlain(receiver.conn, 2);
  const long = new Uint8Array(5000).fill(3);
  sender.socket.send(datagram(7), { hostname: LOOPBACK4, port: receiver.port }, null);
  sender.socket.send(long, { hostname: LOOPBACK4, port: receiver.port }, null);
  const got = await deadline(arrived, 5000, "both datagrams");
  assert.deepEqual(
    got.map((entry) => entry.data.length).sort((a, b) => a - b),
    [datagram(7).length, 5000],
  );
});

Deno.test("SourceNames reads sockaddr sources and stays bounded under a flood of spoofed ones", () => {
  const names = new SourceNames();
  const bytes = new Uint8Array(28);
  const view = new DataView(bytes.buffer);
  const v4 = (a: number, b: number, c: number, d: number) => {
    bytes.fill(0);
    view.setUint16(0, 2, true); // AF_INET
    bytes.set([a, b, c, d], 4);
    return names.text(bytes, view, 0);
  };
  const v6 = (text: string) => {
    bytes.fill(0);
    view.setUint16(0, 10, true); // AF_INET6
    bytes.set(ipBytes(text)!, 8);
    return names.text(bytes, view, 0);
  };
  assert.equal(v4(127, 0, 0, 1), "127.0.0.1");
  assert.equal(v6("::1"), "::1");
  assert.equal(v6("::ffff:10.0.0.7"), "10.0.0.7");
  assert.equal(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  view.setUint16(0, 1, true); // AF_UNIX: not a source ENet answers
  assert.equal(names.text(bytes, view, 0), null);
  for (let i = 0; i < 3 * SOURCE_CACHE_SIZE; i++) {
    const text = v4(10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF);
    assert.equal(text, `10.${(i >> 16) & 0xFF}.${(i >> 8) & 0xFF}.${i & 0xFF}`);
    assert.ok(names.size <= SOURCE_CACHE_SIZE, `cache grew to ${names.size}`);
  }
});
