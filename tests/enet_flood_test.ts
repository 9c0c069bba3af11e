/**
 * Connect-flood protection (upstream lsalzman/enet#278): forged CONNECTs that
 * never complete the handshake must not lock real clients out, stock clients
 * (C libenet) included, and the optional per-source rate limit caps how many
 * handshakes one address can start.
 */
import assert from "node:assert/strict";
import { createHost, EnetTypeError, type HostEvent, PacketFlag } from "../enet/mod.ts";
import { LOOPBACK4 } from "./_loopback.ts";
import { EventPump } from "./_tools/enet_events.ts";
import { CONNECT_GUARD_MAXIMUM_SOURCES, ConnectGuard } from "../enet/_connect_guard.ts";
import { buildCPeer, LineProcess } from "./enet_peers/peers.ts";
import { prng } from "./_tools/prng.ts";
import { forgedConnect } from "./redteam/attacks/enet.ts";

const buildDir = Deno.makeTempDirSync({ prefix: "netkit-enet-flood-" });
const cBinary = await buildCPeer(buildDir);
addEventListener("unload", () => {
  try {
    Deno.removeSync(buildDir, { recursive: true });
  } catch { /* gone */ }
});

/** UDP sockets that send forged CONNECTs and count the VERIFY_CONNECTs they get back. */
class Flood implements AsyncDisposable {
  readonly sockets: Deno.DatagramConn[] = [];
  readonly verified = new Set<number>();
  sent = 0;
  #running = true;
  #loops: Promise<void>[] = [];

  constructor(
    target: { hostname: string; port: number },
    sockets: number,
    perSecond: number,
    seed: number,
  ) {
    const random = prng(seed);
    for (let i = 0; i < sockets; i++) {
      const socket = Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK4, port: 0 });
      this.sockets.push(socket);
      this.#loops.push(this.#listen(socket));
    }
    const to = { transport: "udp" as const, ...target };
    this.#loops.push((async () => {
      const started = performance.now();
      while (this.#running) {
        const due = Math.floor((performance.now() - started) * perSecond / 1000);
        while (this.sent < due && this.#running) {
          await this.sockets[this.sent % sockets].send(forgedConnect(random), to);
          this.sent++;
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })());
  }

  async #listen(socket: Deno.DatagramConn): Promise<void> {
    try {
      for (;;) {
        const [data] = await socket.receive();
        // A lone VERIFY_CONNECT right after a 4-byte header; connectID at +40.
        if (data.length >= 48 && (data[4] & 0x0F) === 3) {
          this.verified.add(new DataView(data.buffer, data.byteOffset).getUint32(44));
        }
      }
    } catch { /* closed */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#running = false;
    await this.#loops[this.#loops.length - 1];
    for (const socket of this.sockets) socket.close();
    await Promise.all(this.#loops);
  }
}

Deno.test("real clients, ours and C libenet's, connect while forged CONNECTs flood a full peer table, and connected peers are untouched", async () => {
  await using server = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 64,
  });
  const serverEvents: HostEvent[] = [];
  const serverPump = new EventPump(server, (event) => {
    if (event.type === "receive") event.peer.send(event.channelID, event.data, event.flags);
    serverEvents.push(event);
  });
  // One peer connected before the flood.
  await using veteranHost = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
  });
  let veteranEchoes = 0;
  const veteranPump = new EventPump(veteranHost, (event) => {
    if (event.type === "receive") veteranEchoes++;
  });
  const veteran = await veteranHost.connect(server.address, { channelCount: 1 });

  // 400 forged CONNECTs/s against 63 free slots: a half-open slot lives ~150 ms, longer
  // than a real client's handshake even on a loaded machine (the flood, the server and
  // our clients share one process here), far shorter than C ENet's ~30 s.
  const flood = new Flood(server.address, 8, 400, 278);
  const newcomers: Awaited<ReturnType<typeof createHost>>[] = [];
  const pumps: EventPump[] = [];
  try {
    // Let the flood fill every free slot with half-open peers first.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.ok(flood.verified.size >= 63, `the flood got ${flood.verified.size} handshakes started`);

    for (let i = 0; i < 5; i++) {
      const host = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 1 });
      newcomers.push(host);
      pumps.push(new EventPump(host, () => {}));
      // A real client retries like any ENet application; on a loaded machine a handshake
      // can outlast a half-open slot, and then the server tells the client at once.
      let attempts = 0;
      for (;;) {
        attempts++;
        try {
          const peer = await host.connect(server.address, {
            channelCount: 1,
            signal: AbortSignal.timeout(5000),
          });
          await new Promise((resolve) => setTimeout(resolve, 200));
          if (peer.state === "connected") break;
        } catch (error) {
          if (attempts >= 5) throw error;
        }
        assert.ok(attempts < 5, "connected within 5 attempts");
      }
    }
    // Every client that believes it is connected is connected on the server too.
    await serverPump.until(
      () => server.peers.length === 6,
      5000,
      "6 connected peers on the server",
    );

    // A stock C libenet client, retrying the same way.
    const connectsBefore = serverEvents.filter((e) => e.type === "connect").length;
    for (let attempt = 1;; attempt++) {
      const cClient = new LineProcess(cBinary, [
        "client",
        "--connect",
        `${server.address.hostname}:${server.address.port}`,
        "--channels",
        "1",
      ]);
      try {
        await cClient.waitFor((line) => line.startsWith("CONNECT"), 1, 10_000);
        await new Promise((resolve) => setTimeout(resolve, 300));
        if (!cClient.lines.some((line) => line.startsWith("DISCONNECT"))) {
          await serverPump.until(
            () => serverEvents.filter((e) => e.type === "connect").length > connectsBefore,
            5000,
            "the C client connected on the server",
          );
          await cClient.send("quit");
          break;
        }
      } catch (error) {
        if (attempt >= 5) throw error;
      } finally {
        await cClient[Symbol.asyncDispose]();
      }
      assert.ok(attempt < 5, "C client connected within 5 attempts");
    }

    veteran.send(0, new Uint8Array([1, 2, 3]), PacketFlag.RELIABLE);
    await veteranPump.until(() => veteranEchoes === 1, 5000, "veteran echo during the flood");
    assert.equal(veteran.state, "connected");
    assert.ok(flood.sent > 400, `flood sent ${flood.sent} CONNECTs`);
  } finally {
    await flood[Symbol.asyncDispose]();
    for (const host of newcomers) await host.close();
    await Promise.all(pumps.map((pump) => pump.done));
    await veteranHost.close();
    await veteranPump.done;
    await server.close();
    await serverPump.done;
  }
  // Only real clients ever became connected peers: the forged ones never completed.
  const connects = serverEvents.filter((e) => e.type === "connect").length;
  assert.ok(connects >= 7 && connects <= 7 + 4 * 5, `${connects} connect events`);
});

Deno.test("connectRateLimit caps the handshakes one source address can start", async () => {
  await using server = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 64,
    connectRateLimit: { perSecond: 2, burst: 3 },
  });
  const pump = new EventPump(server, () => {});
  const flood = new Flood(server.address, 4, 200, 7);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } finally {
    await flood[Symbol.asyncDispose]();
    await server.close();
    await pump.done;
  }
  // 3 at once, then 2 per second: 5 in one second, 6 with timer slack.
  assert.ok(flood.sent >= 150, `sent ${flood.sent}`);
  assert.ok(
    flood.verified.size >= 3 && flood.verified.size <= 6,
    `${flood.verified.size} handshakes started`,
  );
});

Deno.test("createHost() rejects an invalid maximumHalfOpenPeers or connectRateLimit with ERR_INVALID_OPTION", async () => {
  const invalidOption = (error: unknown) =>
    error instanceof EnetTypeError && error.code === "ERR_INVALID_OPTION";
  await assert.rejects(
    createHost({ address: { hostname: LOOPBACK4, port: 0 }, maximumHalfOpenPeers: 0 }),
    invalidOption,
  );
  await assert.rejects(
    createHost({ address: { hostname: LOOPBACK4, port: 0 }, connectRateLimit: { perSecond: 0 } }),
    invalidOption,
  );
});

Deno.test("the per-source rate limiter remembers a bounded number of addresses, forgetting the least recently seen", () => {
  const guard = new ConnectGuard({
    maximumHalfOpen: 16,
    maximumHalfOpenPerAddress: 16,
    maximumConnectRate: 1000,
    rate: { perSecond: 1, burst: 1 },
  });
  assert.equal(guard.admit("10.0.0.1", 0), true);
  assert.equal(guard.admit("10.0.0.1", 0), false, "bucket empty");
  for (let i = 0; i < CONNECT_GUARD_MAXIMUM_SOURCES; i++) {
    assert.equal(guard.admit(`10.1.${i >> 8}.${i & 255}`, 0), true);
  }
  // 10.0.0.1 was pushed out by 4096 newer sources: it starts over with a full bucket.
  assert.equal(guard.admit("10.0.0.1", 0), true);
  // Refill: one token per second.
  assert.equal(guard.admit("10.0.0.1", 500), false);
  assert.equal(guard.admit("10.0.0.1", 1000), true);
});
