/**
 * The UDP impairment proxy (tests/_tools/udp_impair.ts) that the ENet loss
 * tests rely on: its loss, duplication, delay, jitter, reordering and blackout
 * really happen, in both directions, at roughly the configured rates.
 */
import assert from "node:assert/strict";
import { UdpImpairProxy } from "./_tools/udp_impair.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

/** A UDP socket on 127.0.0.1 port 0 that closes itself on dispose. */
function bindUdp(): Deno.DatagramConn & Disposable {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK4, port: 0 });
  return Object.assign(conn, {
    [Symbol.dispose]() {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  });
}

interface Arrival {
  serial: number;
  latency: number;
}

/** Sends `count` numbered datagrams through the proxy and collects what the far side gets. */
async function measure(
  proxy: UdpImpairProxy,
  client: Deno.DatagramConn,
  server: Deno.DatagramConn,
  count: number,
  spacingMs: number,
): Promise<Arrival[]> {
  const arrivals: Arrival[] = [];
  let quietSince = performance.now();
  const receiving = (async () => {
    try {
      for (;;) {
        const [data] = await server.receive();
        const view = new DataView(data.buffer, data.byteOffset);
        arrivals.push({
          serial: view.getUint32(0),
          latency: performance.now() - view.getFloat64(4),
        });
        quietSince = performance.now();
      }
    } catch { /* socket closed */ }
  })();
  for (let serial = 0; serial < count; serial++) {
    const data = new Uint8Array(12);
    const view = new DataView(data.buffer);
    view.setUint32(0, serial);
    view.setFloat64(4, performance.now());
    await client.send(data, { transport: "udp", ...proxy.address });
    if (serial % 50 === 49) await new Promise((resolve) => setTimeout(resolve, spacingMs));
  }
  while (performance.now() - quietSince < 300) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  server.close();
  await receiving;
  return arrivals;
}

Deno.test("UdpImpairProxy loses, duplicates, delays and reorders at roughly the configured rates", async () => {
  const server = Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK4, port: 0 });
  using client = bindUdp();
  const port = (server.addr as Deno.NetAddr).port;
  await using proxy = await UdpImpairProxy.start({
    target: { hostname: LOOPBACK4, port },
    loss: 0.1,
    duplicate: 0.05,
    reorder: 0.1,
    delay: 20,
    jitter: 10,
    seed: 42,
  });
  const count = 4000;
  const arrivals = await deadline(measure(proxy, client, server, count, 5), 30_000, "arrivals");

  // Loopback itself may drop a few datagrams when this shared machine stalls the test
  // process (socket buffers overflow): rates are taken over what the proxy really read,
  // and the receiver's view may miss up to 2 % of what the proxy delivered.
  const stats = proxy.stats.toServer;
  assert.ok(stats.received >= count * 0.98, `proxy read ${stats.received} of ${count}`);
  const lossRate = stats.lost / stats.received;
  const duplicateRate = stats.duplicated / (stats.received - stats.lost);
  assert.ok(Math.abs(lossRate - 0.1) < 0.02, `loss rate ${lossRate}`);
  assert.ok(Math.abs(duplicateRate - 0.05) < 0.02, `duplicate rate ${duplicateRate}`);

  // What the receiver saw agrees with the proxy's own accounting.
  const delivered = stats.received - stats.lost + stats.duplicated;
  assert.equal(stats.delivered, delivered);
  assert.ok(
    arrivals.length <= delivered && arrivals.length >= delivered * 0.98,
    `${arrivals.length} arrivals of ${delivered} delivered`,
  );
  const distinct = new Set(arrivals.map((a) => a.serial));
  assert.ok(distinct.size <= stats.received - stats.lost);
  assert.ok(arrivals.length - distinct.size > 0, "duplicates arrived");
  let overtaken = 0, highest = -1;
  for (const { serial } of arrivals) {
    if (serial < highest) overtaken++;
    else highest = serial;
  }
  assert.ok(overtaken > count * 0.05, `observed reordering ${overtaken}`);

  // 20 ± 10 ms: nothing can arrive early; scheduling noise on a busy shared machine only
  // adds, so the upper bound is loose. Jitter shows as spread.
  const latencies = arrivals.map((a) => a.latency).sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.floor(latencies.length * q)];
  assert.ok(at(0) >= 9, `minimum latency ${at(0)}`);
  assert.ok(at(0.5) > 15 && at(0.5) < 100, `median latency ${at(0.5)}`);
  assert.ok(at(0.9) - at(0.1) >= 8, `latency spread ${at(0.9) - at(0.1)}`);
});

Deno.test("UdpImpairProxy forwards replies to each client through its own upstream socket, taps and injects", async () => {
  using server = bindUdp();
  using clientA = bindUdp();
  using clientB = bindUdp();
  const tapped: string[] = [];
  await using proxy = await UdpImpairProxy.start({
    target: { hostname: LOOPBACK4, port: (server.addr as Deno.NetAddr).port },
    delay: 5,
    tap: (direction, data) => tapped.push(`${direction}:${data[0]}`),
  });
  const to = { transport: "udp" as const, ...proxy.address };
  await clientA.send(new Uint8Array([1]), to);
  await clientB.send(new Uint8Array([2]), to);
  const sources = new Map<number, Deno.NetAddr>();
  for (let i = 0; i < 2; i++) {
    const [data, from] = await deadline(server.receive(), 2000, "datagram at the server");
    sources.set(data[0], from as Deno.NetAddr);
  }
  assert.notEqual(sources.get(1)!.port, sources.get(2)!.port);
  await server.send(new Uint8Array([11]), sources.get(1)!);
  await server.send(new Uint8Array([22]), sources.get(2)!);
  const [replyA] = await deadline(clientA.receive(), 2000, "reply at A");
  const [replyB] = await deadline(clientB.receive(), 2000, "reply at B");
  assert.deepEqual([replyA[0], replyB[0]], [11, 22]);
  assert.equal(proxy.stats.toClient.delivered, 2);
  assert.deepEqual(tapped.sort(), ["toClient:11", "toClient:22", "toServer:1", "toServer:2"]);

  // Injection uses the most recent client's path: the server sees B's upstream address.
  await proxy.injectToServer(new Uint8Array([77]));
  const [injected, injectedFrom] = await deadline(server.receive(), 2000, "injected datagram");
  assert.equal(injected[0], 77);
  assert.equal((injectedFrom as Deno.NetAddr).port, sources.get(2)!.port);
  await proxy.injectToClient(new Uint8Array([88]));
  const [toB] = await deadline(clientB.receive(), 2000, "datagram injected toward B");
  assert.equal(toB[0], 88);
});

Deno.test("UdpImpairProxy.blackout() drops everything for its duration and then forwards again", async () => {
  using server = bindUdp();
  using client = bindUdp();
  await using proxy = await UdpImpairProxy.start({
    target: { hostname: LOOPBACK4, port: (server.addr as Deno.NetAddr).port },
  });
  const to = { transport: "udp" as const, ...proxy.address };
  const outage = proxy.blackout(300);
  for (let i = 0; i < 10; i++) {
    await client.send(new Uint8Array([i]), to);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await outage;
  await client.send(new Uint8Array([99]), to);
  const [data] = await deadline(server.receive(), 2000, "datagram after the outage");
  assert.equal(data[0], 99, "nothing sent during the outage arrives");
  assert.equal(proxy.stats.toServer.blackholed, 10);
});
