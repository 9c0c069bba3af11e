/**
 * WebSocket echo benchmark, side by side in one run: netkit `websocket/`
 * (each engine), Deno's raw built-in WebSocket, and npm `ws` on Node.
 *
 * Each system runs its own echo server and its clients in one process over
 * loopback. Throughput keeps a window of 64 messages in flight per client;
 * latency is the round trip with one message in flight. Scenarios: 64 B and
 * 16 KiB binary messages, 1 and 50 clients.
 *
 * `deno task bench websocket`
 *
 * @module
 */

import { connect, serve, type WebSocketConnection } from "../websocket/mod.ts";
import process from "node:process";
import { measureEcho } from "./_websocket_echo.mjs";
import { figure, quick } from "./_report.ts";

const THROUGHPUT_MS = quick ? 200 : 600;
const LATENCY_MS = quick ? 100 : 250;
const ROUNDS = 4;
const WARMUP_MS = quick ? 100 : 300;
const WINDOW = 64;

interface Result {
  rate: number;
  p50: number;
  p99: number;
  /** Process CPU µs (user + system) per echo, client and server together. */
  cpu: number;
}
interface Measured {
  throughput: Result;
  latency: Result;
}
interface Client {
  send(data: Uint8Array): void;
  onMessage(callback: () => void): void;
}
type System = (size: number, clients: number) => Promise<Measured | null>;

const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

async function measureAll(clients: Client[], size: number): Promise<Measured> {
  const payload = new Uint8Array(size).fill(7);
  await measureEcho(clients, payload, WINDOW, WARMUP_MS, cpuMicros);
  const throughput = await measureEcho(clients, payload, WINDOW, THROUGHPUT_MS, cpuMicros);
  const latency = await measureEcho(clients, payload, 1, LATENCY_MS, cpuMicros);
  return { throughput, latency };
}

/** Deno's built-in WebSocket with nothing on top. */
const raw: System = async (size, count) => {
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  const sockets = await Promise.all(Array.from({ length: count }, () => {
    const ws = new WebSocket(`ws://127.0.0.1:${http.addr.port}/`);
    ws.binaryType = "arraybuffer";
    return new Promise<WebSocket>((resolve, reject) => {
      ws.onopen = () => resolve(ws);
      ws.onerror = reject;
    });
  }));
  const clients = sockets.map((ws): Client => ({
    send: (data) => ws.send(data),
    onMessage: (callback) => ws.onmessage = callback,
  }));
  const result = await measureAll(clients, size);
  await Promise.all(sockets.map((ws) =>
    new Promise((resolve) => {
      ws.onclose = resolve;
      ws.close();
    })
  ));
  await http.shutdown();
  return result;
};

/** netkit's websocket/ with one engine. */
function ours(engine: "native" | "rfc6455"): System {
  return async (size, count) => {
    let server;
    try {
      server = serve({ hostname: "127.0.0.1", port: 0, engine, heartbeat: false });
    } catch {
      return null; // engine not available in this build
    }
    (async () => {
      for await (const conn of server) {
        (async () => {
          for await (const message of conn.readable) await conn.send(message).catch(() => {});
        })();
      }
    })();
    const connections = await Promise.all(
      Array.from(
        { length: count },
        () => connect(`ws://127.0.0.1:${server.addr.port}/`, { engine }),
      ),
    );
    const clients = connections.map((conn: WebSocketConnection): Client => {
      let callback = () => {};
      (async () => {
        for await (const _ of conn.readable) callback();
      })();
      return {
        send: (data) => void conn.send(data).catch(() => {}),
        onMessage: (next) => callback = next,
      };
    });
    const result = await measureAll(clients, size);
    await Promise.all(connections.map((conn) => conn.close()));
    await server.close();
    return result;
  };
}

/** npm `ws` on Node: server and clients in one Node process. */
const wsOnNode: System = async (size, count) => {
  const peer = new URL("./_websocket_ws_peer.mjs", import.meta.url).pathname;
  const output = await new Deno.Command("node", {
    args: [
      peer,
      String(size),
      String(count),
      String(WINDOW),
      String(THROUGHPUT_MS),
      String(LATENCY_MS),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) return null;
  return JSON.parse(new TextDecoder().decode(output.stdout));
};

const systems: [string, System][] = [
  ["raw Deno", raw],
  ["ours native", ours("native")],
  ["ours rfc6455", ours("rfc6455")],
  ["ws (Node)", wsOnNode],
];
const scenarios: [number, number][] = [[64, 1], [64, 50], [16384, 1], [16384, 50]];

function best(a: Measured | null, b: Measured | null): Measured | null {
  if (!a || !b) return a ?? b;
  return {
    throughput: {
      ...(a.throughput.rate >= b.throughput.rate ? a.throughput : b.throughput),
      cpu: Math.min(a.throughput.cpu, b.throughput.cpu),
    },
    latency: a.latency.p50 <= b.latency.p50 ? a.latency : b.latency,
  };
}

const kilo = (n: number) => `${(n / 1000).toFixed(1)} k`;
const rows: string[] = [];
const startedAt = performance.now();
console.log(
  `echo, window ${WINDOW}, ${THROUGHPUT_MS} ms per throughput run, ${LATENCY_MS} ms per latency run`,
);
for (const [size, count] of scenarios) {
  const label = `${size === 64 ? "64 B" : "16 KiB"} × ${count} client${count > 1 ? "s" : ""}`;
  // Two rounds in opposite order, best of each: the machine is shared, so noise only ever slows.
  const results: (Measured | null)[] = systems.map(() => null);
  for (const round of [0, 1]) {
    const order = round === 0
      ? systems.map((_, i) => i)
      : systems.map((_, i) => systems.length - 1 - i);
    for (const index of order) {
      const [name, system] = systems[index];
      const elapsed = ((performance.now() - startedAt) / 1000).toFixed(0);
      const result = await system(size, count);
      results[index] = best(results[index], result);
      console.log(
        `  [${elapsed.padStart(3)} s] round ${round + 1} ${label.padEnd(19)} ${name.padEnd(13)} ` +
          (result
            ? `${kilo(result.throughput.rate).padStart(9)} msgs/s  ${
              result.throughput.cpu.toFixed(1).padStart(6)
            } µs CPU/echo   rtt p50 ${result.latency.p50.toFixed(3)} ms  p99 ${
              result.latency.p99.toFixed(3)
            } ms`
            : "not available"),
      );
    }
  }
  const [rawResult, native, rfc, ws] = results;
  for (
    const [what, unit, better, pick] of [
      ["echoes/s", "msg/s", "higher", (m: Measured) => m.throughput.rate],
      ["CPU per echo", "µs", "lower", (m: Measured) => m.throughput.cpu],
      ["RTT p50", "ms", "lower", (m: Measured) => m.latency.p50],
    ] as const
  ) {
    const v = (m: Measured | null) => m ? pick(m) : null;
    figure({
      scenario: `${label}: ${what}`,
      unit,
      better,
      ours: { "native engine": v(native), "rfc6455 engine": v(rfc) },
      peers: { "Deno built-in": v(rawResult), "npm ws (Node)": v(ws) },
    });
  }
  // Ratios: throughput (higher is better) and CPU per echo of the reference over ours
  // (higher is better too: 1.10× means ours spends 10 % less CPU per echo).
  const ratio = (a: Measured | null, b: Measured | null) =>
    a && b
      ? `${(a.throughput.rate / b.throughput.rate).toFixed(2)}× / ${
        (b.throughput.cpu / a.throughput.cpu).toFixed(2)
      }×`
      : "n/a";
  rows.push(
    `| ${label} | ${
      results.map((r) =>
        r
          ? `${kilo(r.throughput.rate)}, ${r.throughput.cpu.toFixed(1)} µs, ${
            r.latency.p50.toFixed(2)
          } ms`
          : "n/a"
      ).join(" | ")
    } | ${ratio(native, rawResult)} | ${ratio(rfc, ws)} |`,
  );
}
console.log(
  `\nper system: echoes/s (best of ${ROUNDS}), CPU µs per echo (lowest), rtt p50 with 1 in flight;\n` +
    `ratios: throughput ours/reference and CPU-per-echo reference/ours (both: higher is better)\n` +
    `| scenario | ${systems.map(([n]) => n).join(" | ")} | native / raw | rfc6455 / ws |`,
);
console.log(`|---|${systems.map(() => "---").join("|")}|---|---|`);
for (const row of rows) console.log(row);
// The native-engine overhead on its own: raw built-in vs ours, alternating five times, lowest CPU
// per echo of each (the least disturbed run), because the comparison is a few percent at most.
console.log("\nnative engine vs raw built-in, lowest CPU µs per echo of 5 alternations:");
for (const [size, count] of scenarios) {
  let rawBest = Infinity;
  let nativeBest = Infinity;
  for (let round = 0; round < (quick ? 2 : 5); round++) {
    rawBest = Math.min(rawBest, (await raw(size, count))!.throughput.cpu);
    nativeBest = Math.min(nativeBest, (await ours("native")(size, count))!.throughput.cpu);
  }
  const overhead = (nativeBest / rawBest - 1) * 100;
  const label = `${size === 64 ? "64 B" : "16 KiB"} × ${count}`;
  const line = `${label}: raw ${rawBest.toFixed(1)} µs, native ${nativeBest.toFixed(1)} µs, ` +
    `native costs ${overhead >= 0 ? "+" : ""}${overhead.toFixed(1)} %`;
  const elapsed = ((performance.now() - startedAt) / 1000).toFixed(0);
  console.log(`  [${elapsed.padStart(3)} s] ${line}`);
}
console.log(`\ntotal ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
