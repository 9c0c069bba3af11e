/**
 * Several webrtc masters sharing one slave list over a cluster: two master processes on a real
 * nats-server (JetStream) or redis-server, one slave registered at master A, and a client on
 * master B (a Deno process with node-datachannel's polyfill; headless Chromium too when
 * installed) that sees the slave, echoes 100 messages over a data channel that goes straight to
 * the slave, and — after kill -9 of master A — sees it come back through master B; a client that
 * started on master A fails over to B along its URL list and echoes again.
 *
 * node-datachannel runs only in the child processes (never in this test's isolate; see
 * webrtc_e2e_test.ts on why).
 */

import assert from "node:assert/strict";
import {
  type EngineKind,
  hasEngine,
  startDirectoryEngine,
} from "./cluster_peers/directory_engines.ts";
import { deadline, tempDir } from "./_loopback.ts";

const peers = new URL("./cluster_peers/", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** A child process whose stdout is read as JSON lines. */
class Child implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  #lines: Record<string, unknown>[] = [];
  #wake: (() => void) | undefined;

  constructor(script: string, args: string[]) {
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", peers + script, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.process = process;
    (async () => {
      let text = "";
      for await (const chunk of process.stdout.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        let at: number;
        while ((at = text.indexOf("\n")) >= 0) {
          const line = text.slice(0, at);
          text = text.slice(at + 1);
          try {
            this.#lines.push(JSON.parse(line));
          } catch { /* not ours */ }
          this.#wake?.();
        }
      }
    })();
  }

  /** The first line (not yet taken) that has `key`. */
  async line(key: string, ms = 20_000): Promise<Record<string, unknown>> {
    const end = Date.now() + ms;
    while (true) {
      const index = this.#lines.findIndex((line) => key in line);
      if (index >= 0) return this.#lines.splice(index, 1)[0];
      if (Date.now() > end) throw new Error(`No "${key}" line within ${ms} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, 100);
      });
      clearTimeout(timer);
    }
  }

  kill(): void {
    try {
      this.process.kill("SIGKILL");
    } catch { /* gone */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill();
    await this.process.status;
  }
}

const PAGE = (masterB: number) =>
  `<!doctype html><meta charset="utf-8"><script type="module">
const report = (o) => fetch("/report", { method: "POST", body: JSON.stringify(o) });
try {
  const mod = await import("http://127.0.0.1:${masterB}/netkit/client.js");
  const master = await mod.connectMaster("ws://127.0.0.1:${masterB}", { reconnect: { initialDelay: 100, maxDelay: 300 } });
  const find = async (skip) => {
    const end = Date.now() + 15000;
    while (Date.now() < end) {
      const s = master.slaves.find((s) => s.userData.name === "eu-1" && s !== skip);
      if (s) return s;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error("eu-1 never listed");
  };
  const echo = async (slave, label) => {
    const channel = await slave.createDataChannel(label);
    let got = 0;
    const done = new Promise((resolve) => channel.addEventListener("message", (e) => {
      if (e.data === "m" + got) got++;
      if (got === 100) resolve();
    }));
    for (let i = 0; i < 100; i++) channel.send("m" + i);
    await Promise.race([done, new Promise((r) => setTimeout(r, 10000))]);
    return got;
  };
  const first = await find();
  await report({ echoed: await echo(first, "first") });
  while (master.slaves.includes(first)) await new Promise((r) => setTimeout(r, 20));
  await report({ stage: "removed" });
  const second = await find(first);
  await report({ stage: "found", id: second.id, first: first.id });
  await report({ again: await echo(second, "second") });
} catch (error) {
  await report({ error: String(error && error.stack || error) });
}
</script>`;

for (const kind of ["nats", "redis"] as EngineKind[]) {
  Deno.test({
    name:
      `two masters on ${kind}: a client of master B echoes through a slave of master A, and sees it again through B after kill -9 of A`,
    ignore: !hasEngine(kind),
    async fn(t) {
      await using engine = await startDirectoryEngine(kind);
      await using masterA = new Child("rtc_master.ts", [engine.url]);
      await using masterB = new Child("rtc_master.ts", [engine.url]);
      const urlA = `ws://127.0.0.1:${(await masterA.line("port")).port}`;
      const portB = (await masterB.line("port")).port as number;
      const urlB = `ws://127.0.0.1:${portB}`;
      await using slave = new Child("rtc_slave.ts", ["eu-1", urlA, urlB]);
      await slave.line("ready");
      await using client = new Child("rtc_client.ts", ["eu-1", "100", urlB, urlA]);
      // A second client starts on master A: when A dies it fails over to B along its URL list.
      await using roamer = new Child("rtc_client.ts", ["eu-1", "100", urlA, urlB]);

      // Chromium on master B as well (nats run only: one browser per suite is enough).
      const browser = kind === "nats" && haveChromium;
      const reports: Record<string, unknown>[] = [];
      await using profile = tempDir("netkit-mm-chromium-");
      const pages = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
        if (new URL(req.url).pathname === "/report") {
          reports.push(await req.json());
          console.log("page:", JSON.stringify(reports.at(-1)));
          return new Response("ok");
        }
        return new Response(PAGE(portB), { headers: { "content-type": "text/html" } });
      });
      const chromium = browser
        ? new Deno.Command(CHROMIUM, {
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
            "--disable-extensions",
            `http://127.0.0.1:${pages.addr.port}/`,
          ],
          stdout: "null",
          stderr: "null",
        }).spawn()
        : undefined;
      const report = async (key: string) => {
        await deadline(
          (async () => {
            while (!reports.some((r) => key in r || "error" in r)) {
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          })(),
          30_000,
          `Chromium "${key}"`,
        );
        const found = reports.find((r) => key in r || "error" in r)!;
        assert.equal(found.error, undefined, String(found.error));
        return found[key];
      };
      try {
        await t.step(
          "the Deno client on master B echoes 100 messages with master A's slave",
          async () => {
            const result = await client.line("echoed", 30_000);
            console.log(
              `  listed after ${(result.listedMs as number).toFixed(0)} ms; echo done after ${
                (result.ms as number).toFixed(0)
              } ms`,
            );
            assert.equal(result.echoed, 100);
          },
        );
        if (browser) {
          await t.step("headless Chromium on master B does the same", async () => {
            assert.equal(await report("echoed"), 100);
          });
        }
        await t.step(
          "kill -9 master A: the slave comes back through master B and echoes again",
          async () => {
            masterA.kill();
            await masterA.process.status;
            await slave.line("reconnected", 10_000);
            const again = await client.line("again", 30_000);
            assert.equal(again.again, 100);
            assert.equal(again.removed, true, "master A's slave left master B's list");
            assert.equal((await roamer.line("echoed", 30_000)).echoed, 100);
            const roamed = await roamer.line("again", 30_000);
            assert.equal(roamed.again, 100, "the client of master A reconnected to B and echoed");
            if (browser) assert.equal(await report("again"), 100);
          },
        );
      } finally {
        chromium?.kill("SIGTERM");
        await chromium?.status;
        await pages.shutdown();
      }
    },
  });
}
