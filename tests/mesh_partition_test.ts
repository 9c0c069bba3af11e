import assert from "node:assert/strict";
import { joinMesh, type Mesh } from "../mesh/mod.ts";
import { deadline } from "./_loopback.ts";

/**
 * A TCP proxy in front of one member. It reads the dialler's HELLO to learn
 * its name, and while the partition is on it silently drops every byte
 * between the two groups (a black hole, not a reset: only heartbeats can
 * notice it).
 */
class PartitionProxy {
  readonly listener: Deno.TcpListener;
  readonly port: number;
  #target: number;
  #targetGroup: string;
  #partition: { on: boolean };
  #conns = new Set<Deno.Conn>();
  #tasks = new Set<Promise<void>>();
  #accepting: Promise<void>;

  constructor(target: number, targetGroup: string, partition: { on: boolean }) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = this.listener.addr.port;
    this.#target = target;
    this.#targetGroup = targetGroup;
    this.#partition = partition;
    this.#accepting = this.#accept();
  }

  async #accept(): Promise<void> {
    for await (const conn of this.listener) {
      const task = this.#serve(conn).catch(() => {});
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #serve(client: Deno.Conn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      // First frame = HELLO: framed length header, kind byte 1, JSON with the name.
      let head = new Uint8Array(0);
      const chunk = new Uint8Array(65536);
      let total = -1;
      while (total < 0 || head.length < total) {
        const n = await client.read(chunk);
        if (n === null) return;
        head = new Uint8Array([...head, ...chunk.subarray(0, n)]);
        if (total < 0 && head.length >= 1) {
          if (head[0] < 255) total = 1 + head[0];
          else if (head.length >= 5) total = 5 + new DataView(head.buffer).getUint32(1);
        }
      }
      const offset = head[0] < 255 ? 1 : 5;
      const hello = JSON.parse(new TextDecoder().decode(head.subarray(offset + 1, total)));
      const cross = () => this.#partition.on && groupOf(hello.name) !== this.#targetGroup;
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
      this.#conns.add(upstream);
      if (!cross()) await upstream.write(head);
      await Promise.all([pump(client, upstream, cross), pump(upstream, client, cross)]);
    } finally {
      for (const c of [client, upstream]) {
        if (!c) continue;
        this.#conns.delete(c);
        try {
          c.close();
        } catch { /* closed */ }
      }
    }
  }

  async close(): Promise<void> {
    this.listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await this.#accepting.catch(() => {});
    await Promise.allSettled([...this.#tasks]);
  }
}

async function pump(from: Deno.Conn, to: Deno.Conn, drop: () => boolean): Promise<void> {
  const buffer = new Uint8Array(65536);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      if (drop()) continue;
      let written = 0;
      while (written < n) written += await to.write(buffer.subarray(written, n));
    }
  } catch { /* either side closed */ }
  try {
    to.close();
  } catch { /* closed */ }
  try {
    from.close();
  } catch { /* closed */ }
}

function groupOf(name: string): string {
  return name.split("-")[0];
}

const TIMING = {
  heartbeatInterval: 100,
  suspectTimeout: 300,
  deadTimeout: 600,
  reconnectInterval: 300,
  handshakeTimeout: 500,
};

function waitForPeers(mesh: Mesh, names: string[], ms: number): Promise<void> {
  const want = [...names].filter((n) => n !== mesh.name).sort().join(",");
  const now = () => [...mesh.peers.values()].map((p) => p.name).sort().join(",");
  return deadline(
    (async () => {
      while (now() !== want) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    ms,
    `${mesh.name} to see exactly ${want} (sees ${now()})`,
  );
}

Deno.test("a 2+3 partition splits the mesh by heartbeat timeouts and heals into one mesh", async (t) => {
  const names = ["left-a", "left-b", "right-a", "right-b", "right-c"];
  const partition = { on: false };
  // Bind the real listeners first, then put a proxy in front of each and
  // make each member advertise its proxy, so every connection crosses one.
  const proxies: PartitionProxy[] = [];
  const members: Mesh[] = [];
  try {
    for (const name of names) {
      const seeds = proxies.length ? [{ hostname: "127.0.0.1", port: proxies[0].port }] : [];
      const port = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const realPort = port.addr.port;
      port.close();
      const proxy = new PartitionProxy(realPort, groupOf(name), partition);
      proxies.push(proxy);
      members.push(
        await joinMesh({
          name,
          port: realPort,
          advertise: { port: proxy.port },
          seeds,
          ...TIMING,
        }),
      );
    }
    await Promise.all(members.map((m) => waitForPeers(m, names, 5000)));

    const left = members.filter((m) => groupOf(m.name) === "left");
    const right = members.filter((m) => groupOf(m.name) === "right");
    const reasons: string[] = [];
    for (const m of members) {
      m.addEventListener("peerleave", (e) => reasons.push(e.detail.reason!));
    }

    await t.step(
      "while traffic between the groups is dropped, each side sees only its own members",
      async () => {
        partition.on = true;
        await Promise.all([
          ...left.map((m) => waitForPeers(m, left.map((x) => x.name), 5000)),
          ...right.map((m) => waitForPeers(m, right.map((x) => x.name), 5000)),
        ]);
        assert.equal(reasons.length, 2 * 3 * 2);
        assert.ok(reasons.every((r) => r === "timeout"), reasons.join());
        // Each side keeps working on its own.
        const got = new Promise<unknown>((resolve) =>
          right[2].addEventListener("message", (e) => resolve(e.detail.content), { once: true })
        );
        await right[0].broadcast("during", "split");
        assert.equal(await deadline(got, 2000, "message inside the right group"), "split");
      },
    );

    await t.step("when traffic flows again, the groups reconnect into one full mesh", async () => {
      partition.on = false;
      await Promise.all(members.map((m) => waitForPeers(m, names, 10_000)));
      const got = new Promise<unknown>((resolve) =>
        left[0].addEventListener("message", (e) => resolve(e.detail.content), { once: true })
      );
      await right[2].broadcast("after", "healed");
      assert.equal(await deadline(got, 2000, "message across the healed partition"), "healed");
    });
  } finally {
    await Promise.all(members.map((m) => m.leave()));
    await Promise.all(proxies.map((p) => p.close()));
  }
});
