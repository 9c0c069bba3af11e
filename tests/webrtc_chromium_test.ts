/**
 * End-to-end in a real headless Chromium: the page imports /netkit/client.js from the master,
 * talks WebRTC to node-datachannel slaves, and reports back over a WebSocket. The test drives
 * the page phase by phase with JSON commands on that socket.
 */
import assert from "node:assert/strict";
import { serveMaster } from "../webrtc/mod.ts";
import { connectSlave, type Slave } from "../webrtc/slave.ts";
import type { DataChannel } from "../webrtc/client.ts";
import { deadline, tempDir } from "./_loopback.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

const PAGE = (masterPort: number) => `<!doctype html>
<meta charset="utf-8"><title>netkit webrtc e2e</title>
<script type="module">
const report = new WebSocket("ws://" + location.host + "/report");
const reply = (o) => report.send(JSON.stringify(o));
const wait = (t, type, ms = 8000) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("timeout waiting for " + type)), ms);
  t.addEventListener(type, (e) => { clearTimeout(timer); resolve(e); }, { once: true });
});
let master, channels = {};
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
  async restart() {
    // The master goes away: the page sees "disconnect", then "reconnect" and the slave again.
    await wait(master, "disconnect", 10000);
    const ping = new Promise((r) => channels.reliable.addEventListener("message", (e) => r(e.data), { once: true }));
    channels.reliable.send("during restart");
    const during = await ping;
    await wait(master, "reconnect", 15000);
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
    const reply = queued ? Promise.resolve(queued) : new Promise<{ cmd: string; ok: boolean; result?: unknown; error?: string }>((r) => this.#replies.push(r));
    return deadline(reply, 30000, `page reply to "${cmd}"`).then((r) => {
      if (!r.ok) throw new Error(`Page failed "${cmd}": ${r.error}`);
      // deno-lint-ignore no-explicit-any
      return r.result as any;
    });
  }
}

function echoAll(slave: Slave): void {
  (async () => {
    for await (const client of slave) {
      client.addEventListener("datachannel", (e) => {
        const channel = (e as CustomEvent<DataChannel>).detail;
        channel.addEventListener("message", (m) => {
          try {
            channel.send((m as MessageEvent).data);
          } catch { /* closed */ }
        });
      });
    }
  })();
}

Deno.test({
  name: "Chromium loads /netkit/client.js, echoes over reliable and unreliable channels, is rejected by a full slave, survives a master restart and sees slaveremoved",
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
    const slaveOptions = { bindAddress: "127.0.0.1", reconnect: { initialDelay: 100, maxDelay: 500 } };
    const eu = await connectSlave(url, { ...slaveOptions, userData: { name: "eu-1" } });
    echoAll(eu);
    const full = await connectSlave(url, { ...slaveOptions, userData: { name: "full" }, maxConnections: 0 });
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
      await t.step("reliable channel echoes 1 000 messages in order; unreliable carries binary", async () => {
        const r = await link.start("echo", { count: 1000 });
        assert.equal(r.received, 1000);
        assert.ok(r.inOrder);
        assert.ok(r.unreliable > 0, "some unreliable messages arrive");
        assert.ok(r.binaryOk);
        assert.equal(r.ordered, false);
        assert.equal(r.maxRetransmits, 0);
        assert.equal(r.channels, 2);
        assert.equal(eu.connections.size, 1, "both channels share one peer connection");
      });
      await t.step("a full slave rejects the page: rejected event and RejectedError", async () => {
        const r = await link.start("full");
        assert.deepEqual(r, { rejected: true, code: "ERR_REJECTED", reason: "Slave is full" });
      });
      await t.step("master restart: page and slave reconnect, the open channel keeps working", async () => {
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
      });
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
