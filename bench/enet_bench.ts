/**
 * ENet bench, side by side on loopback: one-way reliable throughput (64 B and
 * 1 KB messages) and ping-pong round trip, for ours↔ours, ours→C, C→ours, C→C
 * (C libenet 1.3.17 through tests/enet_peers/enet_peer.c) and npm `enet`↔npm
 * `enet` under Node. Every server is its own process; the receiver times the
 * run from the first message to the last and reports it back.
 *
 * Usage: `deno task bench enet` (or `deno run -A --unstable-net bench/enet_bench.ts [--count N]
 * [--only NAME] [--no-npm] [--no-extras]`).
 * Internal: `--serve [--checksum] [--range-coder]` runs our sink/echo server.
 *
 * @module
 */

import { createHost, type HostOptions, PacketFlag } from "../enet/mod.ts";
import { buildCPeer, LineProcess, npmPeerScript, startServer } from "../tests/enet_peers/peers.ts";
import { benchExtras } from "./_enet_extras_bench.ts";
import { figure, quick } from "./_report.ts";

const args = Deno.args;
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const LOOPBACK = "127.0.0.1";
const hostOptions = (): HostOptions => ({
  checksum: args.includes("--checksum"),
  compression: args.includes("--range-coder") ? "range-coder" : undefined,
  socket: args.includes("--node-socket")
    ? "node"
    : args.includes("--deno-socket")
    ? "deno"
    : "auto",
});

/** Our sink/echo server: channel 1 counts (index, total) messages, channel 0 echoes. */
async function serve(): Promise<void> {
  await using host = await createHost({
    address: { hostname: LOOPBACK, port: 0 },
    ...hostOptions(),
  });
  console.log(`PORT ${host.address.port}`);
  const stdinClosed = (async () => {
    for await (const _ of Deno.stdin.readable) { /* until EOF */ }
    await host.close();
  })();
  let start = 0;
  for await (const event of host) {
    if (event.type !== "receive") continue;
    if (event.channelID === 1 && event.data.length >= 8) {
      const view = new DataView(event.data.buffer, event.data.byteOffset);
      const index = view.getUint32(0), total = view.getUint32(4);
      if (index === 0) start = performance.now();
      if (index + 1 === total) {
        const us = Math.round((performance.now() - start) * 1000);
        event.peer.send(1, `DONE ${us}`, PacketFlag.RELIABLE);
      }
    } else if (event.peer.state === "connected") {
      event.peer.send(event.channelID, event.data, event.flags);
    }
  }
  await stdinClosed;
}

interface Result {
  throughput64: number;
  throughput1k: number;
  rttP50: number;
  rttP99: number;
}

/** Our client against a server on `port`. */
async function ourClient(port: number, count: number, pings: number): Promise<Result> {
  await using client = await createHost({
    address: { hostname: LOOPBACK, port: 0 },
    peerCount: 1,
    ...hostOptions(),
  });
  const peer = await client.connect({ hostname: LOOPBACK, port }, { channelCount: 2 });
  const events = client[Symbol.asyncIterator]();
  const throughput = async (size: number): Promise<number> => {
    // Paced by acknowledgements: every 2048th message is sent with
    // sendAcknowledged(), and at most two such batches are outstanding (no
    // timer: a setTimeout(0) yield would measure the 1 ms timer clamp). send()
    // copies the payload, so one buffer serves every message, as the C
    // sender's stack buffer does.
    const batches: Promise<void>[] = [];
    const payload = new Uint8Array(size);
    const view = new DataView(payload.buffer);
    for (let i = 0; i < count; i++) {
      view.setUint32(0, i);
      view.setUint32(4, count);
      if ((i & 2047) === 2047 || i === count - 1) {
        batches.push(peer.sendAcknowledged(1, payload));
        if (batches.length > 2) await batches.shift();
      } else peer.send(1, payload, PacketFlag.RELIABLE);
    }
    await Promise.all(batches);
    for (;;) {
      const { value } = await events.next();
      if (value?.type === "receive" && value.channelID === 1) {
        const us = Number(new TextDecoder().decode(value.data).split(" ")[1]);
        return count / (us / 1e6);
      }
    }
  };
  const throughput64 = await throughput(64);
  console.log(`  64 B: ${fmt(throughput64)} msg/s`);
  const throughput1k = await throughput(1024);
  console.log(`  1 KB: ${fmt(throughput1k)} msg/s`);
  const samples: number[] = [];
  const ping = new Uint8Array(64);
  for (let i = 0; i < pings; i++) {
    const t0 = performance.now();
    peer.send(0, ping, PacketFlag.RELIABLE);
    for (;;) {
      const { value } = await events.next();
      if (value?.type === "receive" && value.channelID === 0) break;
    }
    samples.push((performance.now() - t0) * 1000);
  }
  samples.sort((a, b) => a - b);
  peer.disconnectNow();
  return {
    throughput64,
    throughput1k,
    rttP50: samples[samples.length >> 1],
    rttP99: samples[Math.floor(samples.length * 0.99)],
  };
}

/** A foreign bench client (C helper or npm script). */
async function foreignClient(
  command: string,
  prefix: string[],
  port: number,
  count: number,
  pings: number,
  extra: string[],
): Promise<Result> {
  const runOne = async (mode: string, n: number, size: number): Promise<[number, number]> => {
    await using client = new LineProcess(command, [
      ...prefix,
      mode,
      "--connect",
      `${LOOPBACK}:${port}`,
      "--count",
      String(n),
      "--size",
      String(size),
      ...extra,
    ]);
    const [line] = await client.waitFor((l) => l.startsWith("RESULT "), 1, 120000);
    const [, a, b] = line.split(" ");
    return [Number(a), Number(b)];
  };
  const [us64] = await runOne("bench-throughput", count, 64);
  console.log(`  64 B: ${fmt(count / (us64 / 1e6))} msg/s`);
  const [us1k] = await runOne("bench-throughput", count, 1024);
  console.log(`  1 KB: ${fmt(count / (us1k / 1e6))} msg/s`);
  const [p50, p99] = await runOne("bench-rtt", pings, 64);
  return {
    throughput64: count / (us64 / 1e6),
    throughput1k: count / (us1k / 1e6),
    rttP50: p50,
    rttP99: p99,
  };
}

async function main(): Promise<void> {
  const count = Number(option("--count", quick ? "30000" : "200000"));
  const pings = Number(option("--pings", quick ? "500" : "2000"));
  const extra = [
    ...(args.includes("--checksum") ? ["--checksum"] : []),
    ...(args.includes("--range-coder") ? ["--range-coder"] : []),
  ];
  const buildDir = await Deno.makeTempDir({ prefix: "netkit-enet-bench-" });
  const binary = await buildCPeer(buildDir);
  const self = new URL(import.meta.url).pathname;
  const denoServer = [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-run",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    "--unstable-net",
    self,
    "--serve",
    ...extra,
  ];
  const rows: [string, Result][] = [];
  const scenario = async (
    name: string,
    server: [string, string[]],
    client: (port: number) => Promise<Result>,
  ) => {
    const only = option("--only", "");
    if (only && !name.includes(only)) return;
    console.log(`… ${name}`);
    const { process, port } = await startServer(server[0], server[1]);
    try {
      const result = await client(port);
      rows.push([name, result]);
      console.log(
        `  ${name}: 64 B ${fmt(result.throughput64)} msg/s, 1 KB ${
          fmt(result.throughput1k)
        } msg/s, RTT p50 ${result.rttP50.toFixed(0)} µs p99 ${result.rttP99.toFixed(0)} µs`,
      );
    } finally {
      await process[Symbol.asyncDispose]();
    }
  };
  try {
    await scenario(
      "ours ↔ ours",
      [Deno.execPath(), denoServer],
      (port) => ourClient(port, count, pings),
    );
    await scenario(
      "ours → C",
      [binary, ["server", "--sink", ...extra]],
      (port) => ourClient(port, count, pings),
    );
    await scenario(
      "C → ours",
      [Deno.execPath(), denoServer],
      (port) => foreignClient(binary, [], port, count, pings, extra),
    );
    await scenario(
      "C → C",
      [binary, ["server", "--sink", ...extra]],
      (port) => foreignClient(binary, [], port, count, pings, extra),
    );
    if (!args.includes("--checksum") && !args.includes("--no-npm")) {
      await scenario(
        "npm enet ↔ npm enet",
        ["node", ["--no-warnings", npmPeerScript, "server", "--sink", ...extra]],
        (port) =>
          foreignClient(
            "node",
            ["--no-warnings", npmPeerScript],
            port,
            count,
            Math.min(pings, 500),
            extra,
          ),
      );
    }
  } finally {
    await Deno.remove(buildDir, { recursive: true });
  }
  const ours = rows.find(([n]) => n === "ours ↔ ours")?.[1];
  const npm = rows.find(([n]) => n.startsWith("npm"))?.[1];
  const c = rows.find(([n]) => n === "C → C")?.[1];
  console.log(`\n| pair | 64 B msg/s | 1 KB msg/s | RTT p50 µs | RTT p99 µs |`);
  console.log(`| --- | ---: | ---: | ---: | ---: |`);
  for (const [name, r] of rows) {
    console.log(
      `| ${name} | ${fmt(r.throughput64)} | ${fmt(r.throughput1k)} | ${r.rttP50.toFixed(0)} | ${
        r.rttP99.toFixed(0)
      } |`,
    );
  }
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  if (ours && npm) {
    console.log(
      `\nours / npm enet: 64 B ${ratio(ours.throughput64, npm.throughput64)}, 1 KB ${
        ratio(ours.throughput1k, npm.throughput1k)
      }, RTT p50 ${ratio(npm.rttP50, ours.rttP50)} faster`,
    );
  }
  if (ours && c) {
    console.log(
      `ours / C: 64 B ${ratio(ours.throughput64, c.throughput64)}, 1 KB ${
        ratio(ours.throughput1k, c.throughput1k)
      }, RTT p50 ${ratio(c.rttP50, ours.rttP50)}`,
    );
  }
  for (
    const [scenario, unit, better, pick] of [
      ["reliable 64 B, one way", "msg/s", "higher", (r: Result) => r.throughput64],
      ["reliable 1 KB, one way", "msg/s", "higher", (r: Result) => r.throughput1k],
      ["RTT p50", "µs", "lower", (r: Result) => r.rttP50],
      ["RTT p99", "µs", "lower", (r: Result) => r.rttP99],
    ] as const
  ) {
    if (!ours) break;
    const peers = { "C libenet": c ? pick(c) : null, "npm enet (Node)": npm ? pick(npm) : null };
    figure({ scenario, unit, better, ours: pick(ours), peers });
  }
  // Mixed pairs against C → C: our client with a C server (the send
  // path) and a C client with our server (the game-server case).
  for (
    const [pair, side] of [["ours → C", "our client → C server"], [
      "C → ours",
      "C client → our server",
    ]]
  ) {
    const mixed = rows.find(([n]) => n === pair)?.[1];
    if (!mixed || !c) continue;
    for (
      const [size, pick] of [
        ["64 B", (r: Result) => r.throughput64],
        ["1 KB", (r: Result) => r.throughput1k],
      ] as const
    ) {
      figure({
        scenario: `reliable ${size}, ${side}`,
        unit: "msg/s",
        better: "higher",
        ours: pick(mixed),
        peers: { "C libenet": pick(c) },
      });
    }
  }
  // Checksum + range coder, ours vs C (bench/_enet_extras_bench.ts); skip with --no-extras.
  if (
    !args.includes("--checksum") && !args.includes("--range-coder") && !args.includes("--no-extras")
  ) {
    await benchExtras(Math.min(count, 50_000));
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

if (args.includes("--serve")) await serve();
else await main();
