/**
 * End-to-end tests with real WebRTC peers: node-datachannel slaves, the client through
 * node-datachannel's polyfill, and a real headless Chromium.
 *
 * Every test that loads node-datachannel lives in this one file on purpose: `deno test` runs
 * each file in its own isolate inside one process, and a native addon loaded by a second isolate
 * makes Deno 2.9 panic ("attempt to access Handle hosted by disposed Isolate"). Loading it in the
 * whole-suite process after ~100 other test files panicked the same way (Deno 2.9.6, two runs of
 * two), though never with this file alone (18 runs) or beside a few others, so `deno task test`
 * runs this file in a `deno test` process of its own, after the rest.
 */
import assert from "node:assert/strict";
import ndc from "node-datachannel";
import { RTCPeerConnection } from "node-datachannel/polyfill";
import { serveMaster, type ServeMasterOptions } from "../webrtc/mod.ts";
import {
  connectSlave,
  type ConnectSlaveOptions,
  type OfferEvent,
  type Slave,
} from "../webrtc/slave.ts";
import {
  connectMaster,
  type ConnectMasterOptions,
  type DataChannel,
  type MasterConnection,
  type RTCPeerConnectionConstructor,
  type SlaveConnection,
  WebRtcError,
} from "../webrtc/client.ts";
import { WebRtcRangeError, WebRtcTypeError } from "../webrtc/errors.ts";
import { deadline, tempDir } from "./_loopback.ts";
import { isRefusal, nextEvent, RawPeer, until } from "./_webrtc.ts";
import { decodePacket, encodeUserData, PacketType } from "../webrtc/_protocol.ts";

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
  options: {
    master?: ServeMasterOptions;
    slave?: ConnectSlaveOptions;
    client?: ConnectMasterOptions;
  } = {},
) {
  const master = serveMaster({ hostname: "127.0.0.1", port: 0, ...options.master });
  const url = `ws://127.0.0.1:${master.addr.port}`;
  const slave = await connectSlave(url, {
    userData: { name: "eu-1" },
    bindAddress: "127.0.0.1",
    ...options.slave,
  });
  echo(slave);
  const client = await connectMaster(url, {
    RTCPeerConnection: PC,
    rtcConfiguration: LOOPBACK,
    ...options.client,
  });
  await until(() => client.slaves.length === 1, 5000, "slave list");
  return {
    master,
    url,
    slave,
    client,
    async [Symbol.asyncDispose]() {
      await client[Symbol.asyncDispose]();
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
  // One offer, or up to three when libdatachannel aborted a set-up under the
  // client and it retried (each retry closes the aborted connection first).
  const setUpOffers = offers;
  assert.ok(setUpOffers >= 1 && setUpOffers <= 3, `${setUpOffers} offers for one set-up`);
  const fast = await slave.createDataChannel("state", { ordered: false, maxRetransmits: 0 });
  const third = await slave.createDataChannel("chat"); // duplicate labels are separate channels
  assert.equal(offers, setUpOffers, "further channels open without another offer");
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

Deno.test("DataChannel.send() sends any ArrayBufferView or ArrayBuffer byte-exact and throws ERR_INVALID_DATA for the rest", async () => {
  await using f = await fixture();
  const channel = await f.client.slaves[0].createDataChannel("bytes");
  const floats = new Float32Array([1, 2]);
  const expected = new Uint8Array(floats.buffer);
  for (const data of [floats, floats.buffer, new DataView(floats.buffer)]) {
    const echoed = nextMessage(channel);
    channel.send(data);
    assert.deepEqual(await echoed, expected);
  }
  const writer = channel.writable.getWriter();
  const echoed = nextMessage(channel);
  await writer.write(new Uint16Array([0x0102]) as unknown as Uint8Array);
  assert.deepEqual(await echoed, new Uint8Array(new Uint16Array([0x0102]).buffer));
  writer.releaseLock();
  for (const bad of [42, null, { length: 2 }, [1, 2]]) {
    assert.throws(
      () => channel.send(bad as unknown as string),
      (error: unknown) => error instanceof WebRtcTypeError && error.code === "ERR_INVALID_DATA",
    );
  }
  assert.equal(channel.readyState, "open");
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
    assert.ok(error instanceof WebRtcError);
    assert.equal(error.code, "ERR_REJECTED");
    assert.equal(error.reason, "Banned");
    return true;
  });
  assert.equal((await rejected).detail, "Banned");
  assert.deepEqual(seen, { user: "ann", banned: true });
  assert.equal(f.slave.connections.size, 0);
  // preventDefault() works the same way.
  f.slave.addEventListener("offer", (e) => e.preventDefault());
  await assert.rejects(slave.connect(), { name: "WebRtcError", code: "ERR_REJECTED" });
});

Deno.test('a full slave rejects further clients with reason "Slave is full"', async () => {
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
  }, { name: "WebRtcRangeError", code: "ERR_MESSAGE_TOO_LARGE", limit: 65535 });
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
  assert.throws(
    () => channel.send(new Uint8Array(channel.maxMessageSize + 1)),
    (error: unknown) =>
      error instanceof WebRtcRangeError && error.code === "ERR_MESSAGE_TOO_LARGE" &&
      error.size === channel.maxMessageSize + 1 && error.limit === channel.maxMessageSize,
  );
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
      RTCPeerConnection: PC,
      rtcConfiguration: LOOPBACK,
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

Deno.test("enableIceUdpMux with a one-port portRange serves several clients on one UDP port", async () => {
  // Find a free UDP port on loopback, then let the slave multiplex every peer onto it.
  const probe = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await using f = await fixture({
    slave: { enableIceUdpMux: true, portRange: { min: port, max: port } },
  });
  const second = await connectMaster(f.url, { RTCPeerConnection: PC, rtcConfiguration: LOOPBACK });
  try {
    const a = await f.client.slaves[0].createDataChannel("a");
    const b = await second.slaves[0].createDataChannel("b");
    const echoA = nextMessage(a);
    const echoB = nextMessage(b);
    a.send("one");
    b.send("two");
    assert.deepEqual([await echoA, await echoB], ["one", "two"]);
    assert.equal(f.slave.connections.size, 2);
  } finally {
    second.close();
  }
});

Deno.test("connectSlave() rejects with status 401 and the reason when authorizeSlave refuses", async () => {
  await using master = serveMaster({
    hostname: "127.0.0.1",
    port: 0,
    authorizeSlave: (authData) => authData.token === "ok" || "Bad token",
  });
  const url = `ws://127.0.0.1:${master.addr.port}`;
  await assert.rejects(
    connectSlave(url, { authData: { token: "no" } }),
    (error) => isRefusal(error, 401, "Bad token"),
  );
  const slave = await connectSlave(url, { authData: { token: "ok" } });
  assert.equal(master.slaves.size, 1);
  await slave.close();
});

Deno.test("a master lost while a client is connecting rejects only what the caller awaits: no unhandled rejection", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    unhandled.push(e.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    const master = serveMaster({ hostname: "127.0.0.1", port: 0 });
    const url = `ws://127.0.0.1:${master.addr.port}`;
    // A slave that registers and never answers: every set-up stays in "connecting".
    await using raw = new RawPeer(`${url}/netkit/slaves`);
    await raw.opened;
    raw.send(encodeUserData(PacketType.REGISTER, '{"name":"mute"}'));
    await using client = await connectMaster(url, {
      RTCPeerConnection: PC,
      rtcConfiguration: LOOPBACK,
      reconnect: false,
    });
    await until(() => client.slaves.length === 1, 5000, "slave list");
    const slave = client.slaves[0];
    // The caller listens at once (as `await` would); the library's own promises are its business.
    const awaited = assert.rejects(slave.createDataChannel("chat"), {
      name: "WebRtcError",
      code: "ERR_CONNECTION_CLOSED",
    });
    const second = assert.rejects(slave.createDataChannel("state"), {
      name: "WebRtcError",
      code: "ERR_CONNECTION_CLOSED",
    });
    let packet = decodePacket(await raw.next("offer"));
    while (packet.type !== PacketType.OFFER_FROM_CLIENT) {
      packet = decodePacket(await raw.next("offer"));
    }
    // The master goes away mid-connect: the library must not leave its own promises unhandled.
    await master.close();
    await awaited;
    await second;
    assert.equal(slave.state, "closed");
    // Unhandled rejections surface after a macrotask turn.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(unhandled, []);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
});

// ---- Chromium ----

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

const PAGE = (masterPort: number) =>
  `<!doctype html>
<meta charset="utf-8"><title>netkit webrtc e2e</title>
<script type="module">
const report = new WebSocket("ws://" + location.host + "/report");
const reply = (o) => report.send(JSON.stringify(o));
const wait = (t, type, ms = 8000) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("timeout waiting for " + type)), ms);
  t.addEventListener(type, (e) => { clearTimeout(timer); resolve(e); }, { once: true });
});
let master, channels = {}, restartEvents;
const byName = (name) => master.slaves.find((s) => s.userData.name === name);
async function untilSlave(name, ms = 10000) {
  const end = Date.now() + ms;
  while (!byName(name)) {
    if (Date.now() > end) throw new Error("slave " + name + " never listed");
    await new Promise((r) => setTimeout(r, 20));
  }
  return byName(name);
}
const commands = {
  async load() {
    const started = performance.now();
    const mod = await import("http://127.0.0.1:${masterPort}/netkit/client.js");
    master = await mod.connectMaster("ws://127.0.0.1:${masterPort}", {
      reconnect: { initialDelay: 100, maxDelay: 500 },
    });
    await untilSlave("eu-1");
    return { names: master.slaves.map((s) => s.userData.name).sort(), ms: performance.now() - started };
  },
  async echo({ count }) {
    const slave = byName("eu-1");
    const t0 = performance.now();
    const reliable = await slave.createDataChannel("chat");
    const opened = performance.now() - t0;
    const fast = await slave.createDataChannel("state", { ordered: false, maxRetransmits: 0 });
    channels.reliable = reliable;
    // 1000 text messages, echoed in order.
    const got = [];
    const done = new Promise((resolve) => reliable.addEventListener("message", (e) => {
      got.push(e.data);
      if (got.length === count) resolve();
    }));
    for (let i = 0; i < count; i++) reliable.send("m" + i);
    await done;
    const inOrder = got.every((m, i) => m === "m" + i);
    // Binary on the unreliable channel.
    const unreliable = [];
    fast.addEventListener("message", (e) => unreliable.push(e.data));
    for (let i = 0; i < 200; i++) fast.send(new Uint8Array([i, 1, 2, 3]));
    const end = Date.now() + 2000;
    while (unreliable.length < 200 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const binaryOk = unreliable.length > 0 && unreliable.every((m) => m instanceof Uint8Array && m.length === 4);
    return { opened, inOrder, received: got.length, unreliable: unreliable.length, binaryOk,
      ordered: fast.ordered, maxRetransmits: fast.maxRetransmits, channels: slave.dataChannels.length };
  },
  async refused({ port }) {
    const mod = await import("http://127.0.0.1:${masterPort}/netkit/client.js");
    try {
      (await mod.connectMaster("ws://127.0.0.1:" + port, { reconnect: false })).close();
      return { refused: false };
    } catch (error) {
      const { name, code, status, message } = error;
      return { refused: true, name, code, status, message };
    }
  },
  async offerRaw() {
    // Never answered: the test only watches what reaches the slave, then closes.
    (await untilSlave("raw")).connect().catch(() => {});
    return true;
  },
  async closeRaw() {
    byName("raw").close();
    return true;
  },
  async full() {
    const slave = byName("full");
    const rejected = wait(slave, "rejected");
    try {
      await slave.createDataChannel("chat");
      return { rejected: false };
    } catch (error) {
      return { rejected: true, code: error.code, reason: (await rejected).detail };
    }
  },
  armRestart() {
    // Listening before the test closes the master: a "disconnect" that came before the
    // "restart" command reached the page would otherwise be missed.
    restartEvents = { disconnect: wait(master, "disconnect", 15000), reconnect: wait(master, "reconnect", 25000) };
    restartEvents.disconnect.catch(() => {});
    restartEvents.reconnect.catch(() => {});
    return true;
  },
  async restart() {
    // The master goes away: the page sees "disconnect", then "reconnect" and the slave again.
    await restartEvents.disconnect;
    const ping = new Promise((r) => channels.reliable.addEventListener("message", (e) => r(e.data), { once: true }));
    channels.reliable.send("during restart");
    const during = await ping;
    await restartEvents.reconnect;
    const slave = await untilSlave("eu-1");
    const fresh = await slave.createDataChannel("after");
    const echoed = new Promise((r) => fresh.addEventListener("message", (e) => r(e.data), { once: true }));
    fresh.send("after restart");
    return { during, after: await echoed };
  },
  async removed() {
    const slave = byName("eu-1");
    const t0 = performance.now();
    const ev = await wait(master, "slaveremoved", 5000);
    const closed = slave.state;
    return { name: ev.detail.userData.name, ms: performance.now() - t0, state: closed };
  },
};
report.onmessage = async (e) => {
  const { cmd, ...args } = JSON.parse(e.data);
  try {
    reply({ cmd, ok: true, result: await commands[cmd](args) });
  } catch (error) {
    reply({ cmd, ok: false, error: String(error && error.stack || error) });
  }
};
report.onopen = () => reply({ cmd: "hello", ok: true });
</script>`;

class PageLink {
  #socket?: WebSocket;
  #replies: Array<(v: { cmd: string; ok: boolean; result?: unknown; error?: string }) => void> = [];
  #queue: Array<{ cmd: string; ok: boolean; result?: unknown; error?: string }> = [];
  readonly connected = Promise.withResolvers<void>();

  attach(socket: WebSocket): void {
    this.#socket = socket;
    socket.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.cmd === "hello") return this.connected.resolve();
      const waiter = this.#replies.shift();
      if (waiter) waiter(msg);
      else this.#queue.push(msg);
    };
  }

  /** Sends a command without waiting (for phases that wait on an outside event). */
  start(cmd: string, args: Record<string, unknown> = {}) {
    this.#socket!.send(JSON.stringify({ cmd, ...args }));
    const queued = this.#queue.shift();
    const reply = queued
      ? Promise.resolve(queued)
      : new Promise<{ cmd: string; ok: boolean; result?: unknown; error?: string }>((r) =>
        this.#replies.push(r)
      );
    return deadline(reply, 30000, `page reply to "${cmd}"`).then((r) => {
      if (!r.ok) throw new Error(`Page failed "${cmd}": ${r.error}`);
      // deno-lint-ignore no-explicit-any
      return r.result as any;
    });
  }
}

Deno.test({
  name:
    "Chromium loads /netkit/client.js, echoes over reliable and unreliable channels, is rejected by a full slave, survives a master restart and sees slaveremoved",
  ignore: !haveChromium,
  async fn(t) {
    await using profile = tempDir("netkit-chromium-");
    const link = new PageLink();
    // The page and its report socket live on their own server, so the master can restart.
    let masterPort = 0;
    const pages = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/report") {
        const { socket, response } = Deno.upgradeWebSocket(request);
        link.attach(socket);
        return response;
      }
      return new Response(PAGE(masterPort), { headers: { "content-type": "text/html" } });
    });
    const pageOrigin = `http://127.0.0.1:${pages.addr.port}`;
    let master = serveMaster({ hostname: "127.0.0.1", port: 0, allowedOrigins: [pageOrigin] });
    masterPort = master.addr.port;
    const url = `ws://127.0.0.1:${masterPort}`;
    const slaveOptions = {
      bindAddress: "127.0.0.1",
      reconnect: { initialDelay: 100, maxDelay: 500 },
    };
    const eu = await connectSlave(url, { ...slaveOptions, userData: { name: "eu-1" } });
    echo(eu);
    const full = await connectSlave(url, {
      ...slaveOptions,
      userData: { name: "full" },
      maxConnections: 0,
    });
    const chromium = new Deno.Command(CHROMIUM, {
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        `--user-data-dir=${profile.path}`,
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--allow-loopback-in-peer-connection",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        `${pageOrigin}/`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await deadline(link.connected.promise, 20000, "Chromium page");
      await t.step("page loads client.js from the master and sees the slave list", async () => {
        const { names } = await link.start("load");
        assert.deepEqual(names, ["eu-1", "full"]);
      });
      await t.step(
        'a master that does not list the page\'s origin: connectMaster() says "refused the connection (403: origin not allowed)"',
        async () => {
          await using strict = serveMaster({ hostname: "127.0.0.1", port: 0 });
          const r = await link.start("refused", { port: strict.addr.port });
          assert.equal(r.refused, true);
          assert.equal(r.name, "WebRtcError");
          assert.equal(r.code, "ERR_CONNECTION_CLOSED");
          assert.equal(r.status, 403);
          assert.match(r.message, /refused the connection \(403: origin not allowed\)/);
        },
      );
      await t.step(
        "the page sends its offer at once and trickles its candidates after it",
        async () => {
          // Waiting for Chromium's ICE gathering to complete held the offer back ~120 ms.
          await using raw = new RawPeer(`${url}/netkit/slaves`);
          await raw.opened;
          raw.send(encodeUserData(PacketType.REGISTER, '{"name":"raw"}'));
          await link.start("offerRaw");
          let packet = decodePacket(await raw.next("offer"));
          while (packet.type === PacketType.CLIENT_IDENTITY) {
            packet = decodePacket(await raw.next("offer"));
          }
          assert.equal(packet.type, PacketType.OFFER_FROM_CLIENT);
          assert.ok(
            "sdp" in packet && !packet.sdp.includes("a=candidate"),
            "offer before gathering",
          );
          const next = decodePacket(await raw.next("trickled candidate"));
          assert.equal(next.type, PacketType.ICE_CANDIDATE_FROM_CLIENT);
          await link.start("closeRaw");
        },
      );
      await t.step(
        "reliable channel echoes 1 000 messages in order; unreliable carries binary",
        async () => {
          const r = await link.start("echo", { count: 1000 });
          console.log(
            `Chromium: reliable channel open ${r.opened.toFixed(1)} ms after createDataChannel()`,
          );
          assert.equal(r.received, 1000);
          assert.ok(r.inOrder);
          assert.ok(r.unreliable > 0, "some unreliable messages arrive");
          assert.ok(r.binaryOk);
          assert.equal(r.ordered, false);
          assert.equal(r.maxRetransmits, 0);
          assert.equal(r.channels, 2);
          assert.equal(eu.connections.size, 1, "both channels share one peer connection");
        },
      );
      await t.step("a full slave rejects the page: rejected event and ERR_REJECTED", async () => {
        const r = await link.start("full");
        assert.deepEqual(r, { rejected: true, code: "ERR_REJECTED", reason: "Slave is full" });
      });
      await t.step(
        "master restart: page and slave reconnect, the open channel keeps working",
        async () => {
          await link.start("armRestart");
          const phase = link.start("restart");
          await master.close();
          await new Promise((r) => setTimeout(r, 300));
          master = serveMaster({
            hostname: "127.0.0.1",
            port: masterPort,
            allowedOrigins: [pageOrigin],
          });
          const r = await phase;
          assert.equal(r.during, "during restart");
          assert.equal(r.after, "after restart");
        },
      );
      await t.step("a slave that stops is removed from the page within 1 s", async () => {
        const phase = link.start("removed");
        await new Promise((r) => setTimeout(r, 100));
        await eu.close();
        const r = await phase;
        assert.equal(r.name, "eu-1");
        assert.ok(r.ms < 1000 + 100, `slaveremoved after ${r.ms} ms`);
        assert.equal(r.state, "closed");
      });
    } finally {
      chromium.kill("SIGTERM");
      await chromium.status;
      await eu.close();
      await full.close();
      await master.close();
      await pages.shutdown();
    }
  },
});

// ---- memory ----

const CYCLES = 200;

Deno.test(`${CYCLES} connect/close cycles grow resident memory by less than 20 MB and leave no connection behind`, async () => {
  await using master = serveMaster({ hostname: "127.0.0.1", port: 0, maxOffersPerSecond: 1000 });
  const url = `ws://127.0.0.1:${master.addr.port}`;
  await using slave = await connectSlave(url, {
    userData: { name: "cycles" },
    bindAddress: "127.0.0.1",
  });
  (async () => {
    for await (const client of slave) {
      client.addEventListener("datachannel", (e) => {
        const channel = (e as CustomEvent<DataChannel>).detail;
        channel.addEventListener("message", (m) => channel.send((m as MessageEvent).data));
      });
    }
  })();
  const client = await connectMaster(url, {
    RTCPeerConnection: RTCPeerConnection as unknown as RTCPeerConnectionConstructor,
    rtcConfiguration: { bindAddress: "127.0.0.1" },
  });
  try {
    await until(() => client.slaves.length === 1);
    const target = client.slaves[0];
    const cycle = async () => {
      const channel = await target.createDataChannel("c");
      const echoed = new Promise((r) => channel.addEventListener("message", r, { once: true }));
      channel.send("x");
      await echoed;
      target.close();
      await until(() => slave.connections.size === 0, 5000, "slave-side close");
    };
    // Warm up allocators and libdatachannel's thread pools, then sample resident memory every
    // 25 cycles: the growth is the last sample over the lowest one (RSS also shrinks when V8
    // returns pages, so a single before/after pair could hide growth).
    for (let i = 0; i < 20; i++) await cycle();
    const samples: number[] = [Deno.memoryUsage().rss];
    for (let i = 1; i <= CYCLES; i++) {
      await cycle();
      if (i % 25 === 0) samples.push(Deno.memoryUsage().rss);
    }
    const grown = (samples.at(-1)! - Math.min(...samples)) / 2 ** 20;
    assert.equal(slave.connections.size, 0);
    assert.ok(grown < 20, `RSS grew by ${grown.toFixed(1)} MB over ${CYCLES} cycles`);
    console.log(
      `RSS growth over ${CYCLES} cycles: ${grown.toFixed(1)} MB (samples ${
        samples.map((b) => (b / 2 ** 20).toFixed(0)).join(", ")
      } MB)`,
    );
  } finally {
    client.close();
    await new Promise((r) => setTimeout(r, 600));
  }
});

// A set-up that libdatachannel aborted (and the client retried) can leave a native callback of
// node-datachannel registered; release every native handle while the isolate is still alive.
Deno.test("node-datachannel releases its native threads after the last test", async () => {
  await new Promise((resolve) => setTimeout(resolve, 200));
  ndc.cleanup();
});
