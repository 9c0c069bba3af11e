/**
 * Checksum and compression costs, ours vs C libenet 1.3.17, side by side:
 * the codec on its own (CRC-32 and range coder MB/s) and one-way reliable
 * 1 KB throughput with checksum + range coder on both ends (anchor: C → C
 * ≈ 25 k msgs/s on a quiet 2-core machine). Called from bench/enet_bench.ts;
 * also runnable alone: `deno run -A bench/_enet_extras_bench.ts [--count N]`.
 *
 * @module
 */
import { createHost, PacketFlag } from "../enet/mod.ts";
import { buildCPeer, LineProcess, startServer } from "../tests/enet_peers/peers.ts";
import { benchCodec, printCodecRows } from "./_enet_codec_bench.ts";

const LOOPBACK = "127.0.0.1";
const FLAGS = ["--checksum", "--range-coder"];

/** Our client streams `count` 1 KB messages to the sink on `port`; returns msgs/s as the sink timed it. */
async function ourThroughput(port: number, count: number, size: number): Promise<number> {
  await using client = await createHost({
    address: { hostname: LOOPBACK, port: 0 },
    peerCount: 1,
    checksum: true,
    compression: "range-coder",
  });
  const peer = await client.connect({ hostname: LOOPBACK, port }, { channelCount: 2 });
  const events = client[Symbol.asyncIterator]();
  // Paced like bench/enet_bench.ts: every 2048th message is sent with
  // sendAcknowledged(), at most two such batches outstanding.
  const batches: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    // Game-like bodies (compressible, not trivially): the first 8 bytes are (index, total).
    const payload = new Uint8Array(size);
    const view = new DataView(payload.buffer);
    for (let j = 8; j < size; j++) payload[j] = (j % 16 < 6 ? j : (i * 31 + j * 7)) & 0x3F;
    view.setUint32(0, i);
    view.setUint32(4, count);
    if ((i & 2047) === 2047 || i === count - 1) {
      batches.push(peer.sendAcknowledged(1, payload));
      if (batches.length > 2) await batches.shift();
    } else peer.send(1, payload, PacketFlag.RELIABLE);
  }
  await Promise.all(batches);
  for (;;) {
    const { value, done } = await events.next();
    if (done) throw new Error("Host closed before the sink answered");
    if (value.type === "receive" && value.channelID === 1) {
      const us = Number(new TextDecoder().decode(value.data).split(" ")[1]);
      peer.disconnectNow();
      return count / (us / 1e6);
    }
  }
}

/** Our in-process sink (same protocol as the C helper's `server --sink`). */
async function ourSink(): Promise<{ port: number; close: () => Promise<void> }> {
  const host = await createHost({
    address: { hostname: LOOPBACK, port: 0 },
    checksum: true,
    compression: "range-coder",
  });
  const loop = (async () => {
    let start = 0;
    for await (const event of host) {
      if (event.type !== "receive" || event.channelID !== 1) continue;
      const view = new DataView(event.data.buffer, event.data.byteOffset);
      const index = view.getUint32(0), total = view.getUint32(4);
      if (index === 0) start = performance.now();
      if (index + 1 === total) {
        event.peer.send(
          1,
          `DONE ${Math.round((performance.now() - start) * 1000)}`,
          PacketFlag.RELIABLE,
        );
      }
    }
  })();
  return {
    port: host.address.port,
    close: async () => {
      await host.close();
      await loop;
    },
  };
}

/** One row of the end-to-end table. */
export interface ThroughputRow {
  pair: string;
  messagesPerSecond: number;
}

/** Runs the checksum + range coder throughput rows. */
export async function benchChecksumCompression(
  { count = 50_000, size = 1024 }: { count?: number; size?: number } = {},
): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  const buildDir = await Deno.makeTempDir({ prefix: "netkit-enet-extras-bench-" });
  try {
    const binary = await buildCPeer(buildDir);
    console.log("… ours ↔ ours (checksum + range coder, one process)");
    const sink = await ourSink();
    try {
      rows.push({
        pair: "ours ↔ ours",
        messagesPerSecond: await ourThroughput(sink.port, count, size),
      });
    } finally {
      await sink.close();
    }
    for (const pair of ["ours → C", "C → C"]) {
      console.log(`… ${pair} (checksum + range coder)`);
      const { process, port } = await startServer(binary, ["server", "--sink", ...FLAGS]);
      try {
        let rate: number;
        if (pair === "ours → C") rate = await ourThroughput(port, count, size);
        else {
          await using client = new LineProcess(binary, [
            "bench-throughput",
            "--connect",
            `${LOOPBACK}:${port}`,
            "--count",
            String(count),
            "--size",
            String(size),
            ...FLAGS,
          ]);
          const [line] = await client.waitFor((l) => l.startsWith("RESULT "), 1, 120_000);
          rate = count / (Number(line.split(" ")[1]) / 1e6);
        }
        rows.push({ pair, messagesPerSecond: rate });
      } finally {
        await process[Symbol.asyncDispose]();
      }
    }
  } finally {
    await Deno.remove(buildDir, { recursive: true }).catch(() => {});
  }
  return rows;
}

/** Prints the end-to-end rows with their ratio to C → C. */
export function printThroughputRows(rows: ThroughputRow[], size = 1024): void {
  const c = rows.find((row) => row.pair === "C → C")?.messagesPerSecond ?? NaN;
  console.log(`| checksum + range coder, ${size} B reliable | msgs/s | vs C → C |`);
  console.log("|---|---:|---:|");
  for (const { pair, messagesPerSecond } of rows) {
    console.log(
      `| ${pair} | ${Math.round(messagesPerSecond).toLocaleString("en")} | ${
        (messagesPerSecond / c).toFixed(2)
      } |`,
    );
  }
}

/** Both parts, as bench/enet_bench.ts calls them. */
export async function benchExtras(count?: number): Promise<void> {
  console.log("\n## Checksum and range coder");
  printCodecRows(await benchCodec());
  console.log();
  printThroughputRows(await benchChecksumCompression({ count }));
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--count");
  await benchExtras(i >= 0 ? Number(Deno.args[i + 1]) : undefined);
}
