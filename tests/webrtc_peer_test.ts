import assert from "node:assert/strict";
import { RTCPeerConnection } from "node-datachannel/polyfill";
import { serveMaster, type ServeMasterOptions } from "../webrtc/mod.ts";
import { type ConnectSlaveOptions, connectSlave, type OfferEvent, type Slave } from "../webrtc/slave.ts";
import {
  connectMaster,
  type ConnectMasterOptions,
  type DataChannel,
  type MasterConnection,
  RejectedError,
  type RTCPeerConnectionConstructor,
  type SlaveConnection,
} from "../webrtc/client.ts";
import { MessageTooLargeError } from "../webrtc/errors.ts";
import { deadline } from "./_loopback.ts";
import { nextEvent, until } from "./_webrtc.ts";

const PC = RTCPeerConnection as unknown as RTCPeerConnectionConstructor;
/** Bind the Deno client (node-datachannel polyfill) to loopback too: no traffic leaves 127.0.0.1. */
const LOOPBACK = { bindAddress: "127.0.0.1" };

/** Echoes every message on every channel of every client. */
function echo(slave: Slave): void {
  (async () => {
    for await (const client of slave) {
      client.addEventListener("datachannel", (e) => {
        const channel = (e as CustomEvent<DataChannel>).detail;
        channel.addEventListener("message", (m) => {
          try {
            channel.send((m as MessageEvent).data);
          } catch { /* closed meanwhile */ }
        });
      });
    }
  })();
}

async function fixture(
  options: { master?: ServeMasterOptions; slave?: ConnectSlaveOptions; client?: ConnectMasterOptions } = {},
) {
  const master = serveMaster({ hostname: "127.0.0.1", port: 0, ...options.master });
  const url = `ws://127.0.0.1:${master.addr.port}`;
  const slave = await connectSlave(url, {
    userData: { name: "eu-1" },
    bindAddress: "127.0.0.1",
    ...options.slave,
  });
  echo(slave);
  const client = await connectMaster(url, { RTCPeerConnection: PC, rtcConfiguration: LOOPBACK, ...options.client });
  await until(() => client.slaves.length === 1, 5000, "slave list");
  return {
    master,
    url,
    slave,
    client,
    async [Symbol.asyncDispose]() {
      client.close();
      await slave.close();
      await master.close();
      // Let libdatachannel finish closing its threads' callbacks.
      await new Promise((r) => setTimeout(r, 50));
    },
  };
}

function nextMessage(channel: DataChannel): Promise<string | Uint8Array> {
  return deadline(
    new Promise((resolve) =>
      channel.addEventListener("message", (e) => resolve((e as MessageEvent).data), { once: true })
    ),
    5000,
    "message",
  );
}

Deno.test("client opens a reliable and an unreliable channel on one negotiated peer connection", async () => {
  await using f = await fixture();
  let offers = 0;
  f.slave.addEventListener("offer", () => offers++);
  const slave = f.client.slaves[0];
  assert.deepEqual(slave.userData, { name: "eu-1" });
  const reliable = await slave.createDataChannel("chat");
  const fast = await slave.createDataChannel("state", { ordered: false, maxRetransmits: 0 });
  const third = await slave.createDataChannel("chat"); // duplicate labels are separate channels
  assert.equal(offers, 1);
  assert.equal(f.slave.connections.size, 1);
  assert.equal(fast.ordered, false);
  assert.equal(fast.maxRetransmits, 0);
  const text = nextMessage(reliable);
  reliable.send("hello");
  assert.equal(await text, "hello");
  const binary = nextMessage(fast);
  fast.send(new Uint8Array([1, 2, 3, 255]));
  assert.deepEqual(await binary, new Uint8Array([1, 2, 3, 255]));
  const other = nextMessage(third);
  third.send("third");
  assert.equal(await other, "third");
  assert.equal(slave.dataChannels.length, 3);
});

Deno.test("slave's offer hook sees the client's identity and can reject: client gets rejected", async () => {
  await using f = await fixture({
    master: { authorizeClient: () => ({ user: "ann", banned: true }) },
  });
  let seen: unknown;
  f.slave.addEventListener("offer", (e) => {
    const offer = e as OfferEvent;
    seen = offer.identity;
    if (offer.identity?.banned) offer.reject("Banned");
  });
  const slave = f.client.slaves[0];
  const rejected = nextEvent<CustomEvent<string>>(slave, "rejected");
  await assert.rejects(slave.createDataChannel("chat"), (error: unknown) => {
    assert.ok(error instanceof RejectedError);
    assert.equal(error.code, "ERR_REJECTED");
    assert.equal(error.reason, "Banned");
    return true;
  });
  assert.equal((await rejected).detail, "Banned");
  assert.deepEqual(seen, { user: "ann", banned: true });
  assert.equal(f.slave.connections.size, 0);
  // preventDefault() works the same way.
  f.slave.addEventListener("offer", (e) => e.preventDefault());
  await assert.rejects(slave.connect(), RejectedError);
});

Deno.test("a full slave rejects further clients with reason \"Slave is full\"", async () => {
  await using f = await fixture({ slave: { maxConnections: 1 } });
  await f.client.slaves[0].connect();
  const second = await connectMaster(f.url, { RTCPeerConnection: PC, rtcConfiguration: LOOPBACK });
  try {
    await assert.rejects(second.slaves[0].connect(), /Slave is full/);
  } finally {
    second.close();
  }
});

Deno.test("setting slave.userData pushes the update to every client", async () => {
  await using f = await fixture();
  const updated = nextEvent<CustomEvent<SlaveConnection>>(f.client, "slaveupdated");
  f.slave.userData = { name: "eu-1", players: 12 };
  assert.deepEqual((await updated).detail.userData, { name: "eu-1", players: 12 });
  assert.throws(() => {
    f.slave.userData = "x".repeat(70000);
  }, MessageTooLargeError);
});

Deno.test("a slave that stops disappears from every client within 1 s and its connections close", async () => {
  await using f = await fixture();
  const second = await connectMaster(f.url, { RTCPeerConnection: PC, rtcConfiguration: LOOPBACK });
  try {
    const slave = f.client.slaves[0];
    const channel = await slave.createDataChannel("chat");
    const closed = nextEvent(slave, "close");
    const started = performance.now();
    const removed = [nextEvent(f.client, "slaveremoved"), nextEvent(second, "slaveremoved")];
    await f.slave.close();
    await Promise.all(removed);
    assert.ok(performance.now() - started < 1000, "slaveremoved within 1 s");
    await closed;
    assert.equal(channel.readyState, "closed");
    assert.equal(f.client.slaves.length, 0);
    assert.equal(f.slave.connections.size, 0);
  } finally {
    second.close();
  }
});

Deno.test("closing on either side frees the slave's connection and carries the close reason", async () => {
  await using f = await fixture();
  const slave = f.client.slaves[0];
  await slave.createDataChannel("chat");
  assert.equal(f.slave.connections.size, 1);
  const [conn] = f.slave.connections;
  const remote = conn.closed;
  slave.close(4001, "bye");
  assert.deepEqual(await deadline(remote, 5000, "slave-side close"), { code: 4001, reason: "bye" });
  assert.equal(f.slave.connections.size, 0);
  // Reopen, then the slave closes with a reason.
  await slave.connect();
  await until(() => f.slave.connections.size === 1);
  const closed = nextEvent<CustomEvent<{ code: number; reason: string }>>(slave, "close");
  [...f.slave.connections][0].close(4002, "kicked");
  assert.deepEqual((await closed).detail, { code: 4002, reason: "kicked" });
  assert.equal(slave.state, "new");
  assert.equal(f.slave.connections.size, 0);
});

Deno.test("a client that leaves the master without closing still frees the slave's connection", async () => {
  await using f = await fixture();
  await f.client.slaves[0].createDataChannel("chat");
  assert.equal(f.slave.connections.size, 1);
  f.client.close();
  await until(() => f.slave.connections.size === 0, 5000, "slave connections to drain");
});

Deno.test("DataChannel streams: readable yields messages, writable waits on bufferedAmount", async () => {
  await using f = await fixture({ slave: { channelOptions: { highWaterMark: 64 * 1024 } } });
  const channel = await f.client.slaves[0].createDataChannel("bulk", {
    highWaterMark: 64 * 1024,
    lowWaterMark: 16 * 1024,
  });
  const chunk = new Uint8Array(16 * 1024).fill(7);
  const count = 256; // 4 MiB through a 64 KiB window
  const reader = channel.readable.getReader();
  const writer = channel.writable.getWriter();
  let maxBuffered = 0;
  const writing = (async () => {
    for (let i = 0; i < count; i++) {
      await writer.write(chunk);
      maxBuffered = Math.max(maxBuffered, channel.bufferedAmount);
    }
  })();
  let received = 0;
  while (received < count * chunk.length) {
    const { value, done } = await deadline(reader.read(), 10000, "echoed chunk");
    assert.ok(!done);
    received += (value as Uint8Array).byteLength;
  }
  await writing;
  assert.equal(received, count * chunk.length);
  // Without backpressure all 4 MiB would sit in the buffer; the polyfill's bufferedAmount lags
  // a little, so allow a few chunks over the high-water mark.
  assert.ok(maxBuffered <= 64 * 1024 + 4 * chunk.length, `buffered ${maxBuffered}`);
  reader.releaseLock();
  writer.releaseLock();
  assert.throws(() => channel.send(new Uint8Array(channel.maxMessageSize + 1)), MessageTooLargeError);
});

Deno.test("slaves and clients reconnect after a master restart; open channels keep working", async () => {
  const first = serveMaster({ hostname: "127.0.0.1", port: 0 });
  const port = first.addr.port;
  const url = `ws://127.0.0.1:${port}`;
  const slave = await connectSlave(url, {
    userData: { name: "eu-1" },
    bindAddress: "127.0.0.1",
    reconnect: { initialDelay: 50, maxDelay: 400 },
  });
  echo(slave);
  let client: MasterConnection | undefined;
  let second: ReturnType<typeof serveMaster> | undefined;
  try {
    client = await connectMaster(url, {
      RTCPeerConnection: PC, rtcConfiguration: LOOPBACK,
      reconnect: { initialDelay: 50, maxDelay: 400 },
    });
    await until(() => client!.slaves.length === 1);
    const channel = await client.slaves[0].createDataChannel("chat");
    const slaveDown = nextEvent(slave, "disconnect");
    const clientDown = nextEvent(client, "disconnect");
    await first.close();
    await Promise.all([slaveDown, clientDown]);
    // The data channel does not depend on the master.
    const during = nextMessage(channel);
    channel.send("still here");
    assert.equal(await during, "still here");
    const slaveUp = nextEvent(slave, "reconnect", 10000);
    const clientUp = nextEvent(client, "reconnect", 10000);
    second = serveMaster({ hostname: "127.0.0.1", port });
    await Promise.all([slaveUp, clientUp]);
    await until(() => client!.slaves.length === 1, 5000, "relisted slave");
    const fresh = await client.slaves[0].createDataChannel("again");
    const echoed = nextMessage(fresh);
    fresh.send("after restart");
    assert.equal(await echoed, "after restart");
    assert.equal(slave.connections.size, 2);
  } finally {
    client?.close();
    await slave.close();
    await first.close();
    await second?.close();
    await new Promise((r) => setTimeout(r, 50));
  }
});

Deno.test("connectSlave() rejects when authorizeSlave refuses", async () => {
  await using master = serveMaster({
    hostname: "127.0.0.1",
    port: 0,
    authorizeSlave: (authData) => authData.token === "ok" || "Bad token",
  });
  const url = `ws://127.0.0.1:${master.addr.port}`;
  await assert.rejects(connectSlave(url, { authData: { token: "no" } }), /refused/);
  const slave = await connectSlave(url, { authData: { token: "ok" } });
  assert.equal(master.slaves.size, 1);
  await slave.close();
});
