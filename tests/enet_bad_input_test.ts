/**
 * Hostile and broken input against our ENet host: a hand-written raw ENet
 * peer (a bare UDP socket speaking the wire format directly) sends
 * truncated datagrams, unknown commands, bad channels, wrong session bits,
 * inconsistent and oversized fragments and forged CONNECTs. Each must be
 * dropped or refused without an exception, and a legitimate peer connected
 * alongside must keep working.
 */
import assert from "node:assert/strict";
import { createHost, type Host, type HostOptions, PacketFlag, type Peer } from "../enet/mod.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

const HEADER_FLAG_SENT_TIME = 0x8000;
const NO_PEER = 0xFFF;

/** A bare UDP socket that speaks ENet by hand. */
class RawPeer implements AsyncDisposable {
  readonly conn: Deno.DatagramConn;
  readonly received: Uint8Array[] = [];
  readonly #loop: Promise<void>;
  serverPeerID = NO_PEER;
  session = 0;
  connectID = 0x12345678;
  #changed = Promise.withResolvers<void>();

  constructor(readonly server: { hostname: string; port: number }) {
    const conn = Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK4, port: 0 });
    this.conn = conn;
    this.#loop = (async () => {
      try {
        for (;;) {
          const [data] = await conn.receive();
          this.received.push(data.slice());
          this.#changed.resolve();
          this.#changed = Promise.withResolvers();
        }
      } catch { /* closed */ }
    })();
  }

  /** Sends raw bytes as one datagram. */
  async raw(bytes: Uint8Array): Promise<void> {
    await this.conn.send(bytes, { transport: "udp", ...this.server });
  }

  /** Sends commands with a header carrying our peer ID, session and a sent time. */
  async send(commands: Uint8Array[], session = this.session): Promise<void> {
    const length = commands.reduce((n, c) => n + c.length, 4);
    const datagram = new Uint8Array(length);
    const view = new DataView(datagram.buffer);
    view.setUint16(0, this.serverPeerID | (session << 12) | HEADER_FLAG_SENT_TIME);
    view.setUint16(2, Date.now() & 0xFFFF);
    let offset = 4;
    for (const command of commands) {
      datagram.set(command, offset);
      offset += command.length;
    }
    await this.raw(datagram);
  }

  /** Waits for a datagram matching `predicate` among those received after `from`. */
  async waitFor(predicate: (d: Uint8Array) => boolean, ms = 3000, from = 0): Promise<Uint8Array> {
    const end = Date.now() + ms;
    for (;;) {
      const found = this.received.slice(from).find(predicate);
      if (found) return found;
      const remaining = end - Date.now();
      if (remaining <= 0) throw new DOMException("No matching datagram", "TimeoutError");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#changed.promise,
        new Promise((r) => timer = setTimeout(r, remaining)),
      ]);
      clearTimeout(timer);
    }
  }

  /** Whether an ACK for (channel, sequence) arrived since index `from`. */
  acked(channelID: number, sequence: number, from = 0): boolean {
    return this.received.slice(from).some((d) => findAck(d, channelID, sequence));
  }

  /** CONNECT, VERIFY_CONNECT, ACK: a real connection from this socket. */
  async handshake(channelCount = 2): Promise<void> {
    await this.raw(connectDatagram(this.connectID, channelCount));
    const verify = await this.waitFor((d) => commandAt(d, 4) === 0x83);
    const view = new DataView(verify.buffer);
    this.serverPeerID = view.getUint16(8);
    this.session = verify[11]; // VERIFY's outgoingSessionID is what we put in our headers
    const sentTime = view.getUint16(2);
    await this.send([ack(0xFF, view.getUint16(6), sentTime)]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.conn.close();
    await this.#loop;
  }
}

function commandAt(datagram: Uint8Array, offset: number): number {
  return datagram.length > offset ? datagram[offset] : -1;
}

/** Finds an ACKNOWLEDGE of (channel, sequence) in a datagram from the server. */
function findAck(datagram: Uint8Array, channelID: number, sequence: number): boolean {
  const view = new DataView(datagram.buffer, datagram.byteOffset);
  let offset = view.getUint16(0) & HEADER_FLAG_SENT_TIME ? 4 : 2;
  while (offset + 4 <= datagram.length) {
    const command = datagram[offset] & 0x0F;
    if (command !== 1) return false; // acks come first in ENet datagrams
    if (datagram[offset + 1] === channelID && view.getUint16(offset + 4) === sequence) return true;
    offset += 8;
  }
  return false;
}

function connectDatagram(connectID: number, channelCount: number): Uint8Array {
  const d = new Uint8Array(4 + 48);
  const v = new DataView(d.buffer);
  v.setUint16(0, NO_PEER | HEADER_FLAG_SENT_TIME);
  v.setUint16(2, Date.now() & 0xFFFF);
  d[4] = 0x82;
  d[5] = 0xFF;
  v.setUint16(6, 1);
  v.setUint16(8, 0); // our peer ID
  d[10] = 0xFF;
  d[11] = 0xFF;
  v.setUint32(12, 1392);
  v.setUint32(16, 65536);
  v.setUint32(20, channelCount);
  v.setUint32(32, 5000);
  v.setUint32(36, 2);
  v.setUint32(40, 2);
  v.setUint32(44, connectID);
  return d;
}

function ack(channelID: number, sequence: number, sentTime: number): Uint8Array {
  const c = new Uint8Array(8);
  const v = new DataView(c.buffer);
  c[0] = 0x01;
  c[1] = channelID;
  v.setUint16(2, sequence);
  v.setUint16(4, sequence);
  v.setUint16(6, sentTime);
  return c;
}

function reliable(channelID: number, sequence: number, payload: Uint8Array): Uint8Array {
  const c = new Uint8Array(6 + payload.length);
  const v = new DataView(c.buffer);
  c[0] = 0x86;
  c[1] = channelID;
  v.setUint16(2, sequence);
  v.setUint16(4, payload.length);
  c.set(payload, 6);
  return c;
}

function fragment(
  channelID: number,
  sequence: number,
  f: { start: number; count: number; number: number; total: number; offset: number },
  payload: Uint8Array,
): Uint8Array {
  const c = new Uint8Array(24 + payload.length);
  const v = new DataView(c.buffer);
  c[0] = 0x88;
  c[1] = channelID;
  v.setUint16(2, sequence);
  v.setUint16(4, f.start);
  v.setUint16(6, payload.length);
  v.setUint32(8, f.count);
  v.setUint32(12, f.number);
  v.setUint32(16, f.total);
  v.setUint32(20, f.offset);
  c.set(payload, 24);
  return c;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** A server, a legitimate client, and a raw peer; collects the server's receive events. */
async function setup(options: HostOptions = {}) {
  const server = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, ...options });
  const received: { peer: Peer; channelID: number; data: Uint8Array }[] = [];
  let changed = Promise.withResolvers<void>();
  const loop = (async () => {
    for await (const event of server) {
      if (event.type === "receive") {
        received.push(event);
        changed.resolve();
        changed = Promise.withResolvers();
      }
    }
  })();
  const client = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 1 });
  const legit = await client.connect(server.address, { channelCount: 2 });
  const raw = new RawPeer(server.address);
  const waitReceived = async (predicate: (e: { peer: Peer; data: Uint8Array }) => boolean) => {
    await deadline(
      (async () => {
        while (!received.some(predicate)) await changed.promise;
      })(),
      5000,
      "server receive",
    );
  };
  /** The legitimate peer still gets a message through. */
  const legitimateStillWorks = async (tag: string) => {
    legit.send(1, bytes(`legit ${tag}`), PacketFlag.RELIABLE);
    await waitReceived((e) => e.peer !== undefined && text(e.data) === `legit ${tag}`);
  };
  return {
    server,
    client,
    raw,
    received,
    waitReceived,
    legitimateStillWorks,
    async [Symbol.asyncDispose]() {
      await raw[Symbol.asyncDispose]();
      await client.close();
      await server.close();
      await loop;
    },
  };
}

Deno.test("truncated datagrams, unknown commands and garbage are dropped; legitimate peers keep working", async () => {
  await using s = await setup();
  await s.raw.handshake();
  const garbage = [
    new Uint8Array([0x00]),
    new Uint8Array([0x0F, 0xFF]),
    new Uint8Array([0x80, 0x00, 0x12]), // SENT_TIME flag but no time
    new Uint8Array([0x8F, 0xFF, 0, 0, 0x86]), // CONNECT slot, truncated command
    new Uint8Array([0x0F, 0xFF, 0x0D, 0xFF, 0, 1, 0, 0]), // unknown command 13
  ];
  for (const datagram of garbage) await s.raw.raw(datagram);
  const seeded = new Uint8Array(512);
  let x = 12345;
  for (let i = 0; i < 300; i++) {
    for (let j = 0; j < seeded.length; j++) seeded[j] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    await s.raw.raw(seeded.subarray(0, 1 + (x % 512)));
  }
  // Unknown command numbers 13..15 from the connected raw peer, and a send
  // whose dataLength runs past the datagram.
  for (const command of [0x0D, 0x0E, 0x8F]) {
    await s.raw.send([new Uint8Array([command, 0, 0, 1, 0, 0, 0, 0])]);
  }
  const overrun = reliable(0, 1, bytes("short"));
  new DataView(overrun.buffer).setUint16(4, 4000);
  await s.raw.send([overrun]);
  await s.legitimateStillWorks("after garbage");
  await s.raw.send([reliable(0, 1, bytes("raw ok"))]);
  await s.waitReceived((e) => text(e.data) === "raw ok");
});

Deno.test("a command on an out-of-range channel is refused and ends its datagram; later datagrams work", async () => {
  await using s = await setup();
  await s.raw.handshake(2);
  const mark = s.raw.received.length;
  await s.raw.send([
    reliable(200, 1, bytes("bad channel")),
    reliable(0, 1, bytes("same datagram")),
  ]);
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(!s.raw.acked(200, 1, mark));
  assert.ok(!s.received.some((e) => text(e.data) === "same datagram"));
  await s.raw.send([reliable(0, 1, bytes("next datagram"))]);
  await s.waitReceived((e) => text(e.data) === "next datagram");
  await s.legitimateStillWorks("after bad channel");
});

Deno.test("datagrams with wrong session bits are dropped", async () => {
  await using s = await setup();
  await s.raw.handshake();
  await s.raw.send([reliable(0, 1, bytes("wrong session"))], (s.raw.session + 1) & 3);
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(!s.received.some((e) => text(e.data) === "wrong session"));
  await s.raw.send([reliable(0, 1, bytes("right session"))]);
  await s.waitReceived((e) => text(e.data) === "right session");
});

Deno.test("fragments whose count, offset or length disagree are refused; a consistent packet still reassembles", async () => {
  await using s = await setup();
  await s.raw.handshake();
  const part = new Uint8Array(1000).fill(7);
  const mark = s.raw.received.length;
  await s.raw.send([
    fragment(0, 1, { start: 1, count: 3, number: 0, total: 3000, offset: 0 }, part),
  ]);
  await s.raw.waitFor((d) => findAck(d, 0, 1), 3000, mark);
  const bad = [
    { start: 1, count: 4, number: 1, total: 3000, offset: 1000 }, // count disagrees
    { start: 1, count: 3, number: 1, total: 4000, offset: 1000 }, // total disagrees
    { start: 1, count: 3, number: 3, total: 3000, offset: 1000 }, // number >= count
    { start: 1, count: 3, number: 1, total: 3000, offset: 3000 }, // offset >= total
    { start: 1, count: 3, number: 1, total: 3000, offset: 2500 }, // length > total - offset
  ];
  for (const [i, f] of bad.entries()) {
    const before = s.raw.received.length;
    await s.raw.send([fragment(0, 2 + i, f, part)]);
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(!s.raw.acked(0, 2 + i, before), `bad fragment ${i} was acknowledged`);
  }
  await s.raw.send([
    fragment(0, 2, { start: 1, count: 3, number: 1, total: 3000, offset: 1000 }, part.fill(8)),
    fragment(
      0,
      3,
      { start: 1, count: 3, number: 2, total: 3000, offset: 2000 },
      new Uint8Array(1000).fill(9),
    ),
  ]);
  await s.waitReceived((e) => e.data.length === 3000);
  const packet = s.received.find((e) => e.data.length === 3000)!.data;
  assert.deepEqual([packet[0], packet[1500], packet[2999]], [7, 8, 9]);
  await s.legitimateStillWorks("after fragments");
});

Deno.test("a fragment claiming a 32 MiB total is bounded by maximumWaitingData", async () => {
  await using s = await setup({ maximumWaitingData: 1024 * 1024 });
  await s.raw.handshake();
  const mark = s.raw.received.length;
  const claim = { start: 1, count: 24_000, number: 0, total: 32 * 1024 * 1024, offset: 0 };
  await s.raw.send([fragment(0, 1, claim, new Uint8Array(1000))]);
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(!s.raw.acked(0, 1, mark), "the 32 MiB claim was accepted");
  // A claim within the limit is accepted.
  await s.raw.send([fragment(0, 1, { ...claim, count: 2, total: 2000 }, new Uint8Array(1000))]);
  await s.raw.waitFor((d) => findAck(d, 0, 1), 3000, mark);
  await s.legitimateStillWorks("after 32 MiB claim");
});

Deno.test("incomplete fragmented packets per peer are bounded by maximumIncompletePackets", async () => {
  await using s = await setup({ maximumIncompletePackets: 4 });
  await s.raw.handshake();
  const mark = s.raw.received.length;
  // Five packets, each 2 fragments of which only the first is sent; each
  // starts a new reliable sequence range (fragments consume sequence numbers).
  for (let i = 0; i < 5; i++) {
    const start = 1 + 2 * i;
    await s.raw.send([
      fragment(
        1,
        start,
        { start, count: 2, number: 0, total: 200, offset: 0 },
        new Uint8Array(100),
      ),
    ]);
  }
  await s.raw.waitFor((d) => findAck(d, 1, 7), 3000, mark);
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(!s.raw.acked(1, 9, mark), "a fifth incomplete packet was accepted");
  await s.legitimateStillWorks("after incomplete packets");
});

Deno.test("forged CONNECTs filling the peer table are refused and connected peers keep working", async () => {
  await using s = await setup({ peerCount: 4 });
  const flood = new RawPeer(s.server.address);
  try {
    for (let i = 0; i < 200; i++) await flood.raw(connectDatagram(0x1000 + i, 2));
    await new Promise((r) => setTimeout(r, 200));
    // Three free slots (one is the legitimate client): at most three VERIFY_CONNECTs.
    const verifies = new Set(
      flood.received.filter((d) => commandAt(d, 4) === 0x83).map((d) =>
        new DataView(d.buffer).getUint16(8)
      ),
    );
    assert.ok(verifies.size <= 3, `${verifies.size} slots handed out`);
    await s.legitimateStillWorks("during flood");
    // A CONNECT with an invalid channel count is ignored outright: no VERIFY_CONNECT
    // echoes its connectID (replies to the flood above may still be arriving).
    const zeroChannels = connectDatagram(0x9999, 0);
    await flood.raw(zeroChannels);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      !flood.received.some((d) =>
        commandAt(d, 4) === 0x83 && new DataView(d.buffer).getUint32(44) === 0x9999
      ),
      "the CONNECT with zero channels was answered",
    );
  } finally {
    await flood[Symbol.asyncDispose]();
  }
});

Deno.test("a datagram for a peer ID beyond the table or from a stranger's address is ignored", async () => {
  await using s = await setup();
  await s.raw.handshake();
  const stranger = new RawPeer(s.server.address);
  try {
    stranger.serverPeerID = s.raw.serverPeerID;
    stranger.session = s.raw.session;
    await stranger.send([reliable(0, 1, bytes("spoofed"))]);
    stranger.serverPeerID = 0xFFE;
    await stranger.send([reliable(0, 1, bytes("beyond table"))]);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!s.received.some((e) => ["spoofed", "beyond table"].includes(text(e.data))));
    await s.legitimateStillWorks("after spoofing");
  } finally {
    await stranger[Symbol.asyncDispose]();
  }
});

export type { Host };
