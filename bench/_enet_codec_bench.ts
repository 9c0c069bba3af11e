/**
 * Checksum and range coder throughput, ours vs C libenet, on datagram-sized
 * inputs. Part of `deno task bench enet` (called from bench/enet_bench.ts);
 * also runnable alone: `deno run -A bench/_enet_codec_bench.ts`.
 *
 * @module
 */
import { enetCrc32 } from "../enet/_crc32.ts";
import { EnetRangeCoder } from "../enet/_range_coder.ts";
import { CodecOp, withCodec } from "../tests/enet_peers/enet_codec.ts";

/** One measured row: MB/s of input processed by each side. */
export interface CodecRow {
  name: string;
  ours: number;
  c: number;
}

/** A 1 KB datagram body that looks like game state: small integers, repeated tags, some noise. */
function datagramLike(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 16;
  for (let i = 0; i < length; i++) {
    const slot = i % 16;
    out[i] = slot < 4 ? [0x86, 0x00, 0x00, 0x01][slot] : slot < 10 ? next() % 8 : next() & 0xFF;
  }
  return out;
}

function timeOurs(iterations: number, body: () => void): number {
  for (let i = 0; i < Math.min(200, iterations); i++) body(); // warm up
  const start = performance.now();
  for (let i = 0; i < iterations; i++) body();
  return (performance.now() - start) * 1000; // µs
}

/** Runs the codec rows and returns them (MB/s of uncompressed bytes). */
export async function benchCodec(
  { iterations = 20_000, size = 1024 }: { iterations?: number; size?: number } = {},
): Promise<CodecRow[]> {
  const rows: CodecRow[] = [];
  const input = datagramLike(size, 7);
  const coder = new EnetRangeCoder();
  const out = new Uint8Array(65536);
  const compressedLength = coder.compress([input], input.length, out);
  const compressed = out.slice(0, compressedLength);
  const megabytes = (input.length * iterations) / 1e6;
  await withCodec(async (call) => {
    const [cCrc, cCompress, cDecompress] = await call([
      { op: CodecOp.BENCH, inLimit: iterations, outLimit: CodecOp.CRC32, buffers: [input] },
      { op: CodecOp.BENCH, inLimit: iterations, outLimit: CodecOp.COMPRESS, buffers: [input] },
      {
        op: CodecOp.BENCH,
        inLimit: iterations,
        outLimit: CodecOp.DECOMPRESS,
        buffers: [compressed],
      },
    ]);
    let sink = 0;
    const oursCrc = timeOurs(iterations, () => {
      sink ^= enetCrc32(input);
    });
    const oursCompress = timeOurs(iterations, () => {
      sink ^= coder.compress([input], input.length, out);
    });
    const oursDecompress = timeOurs(iterations, () => {
      sink ^= coder.decompress(compressed, compressed.length, out);
    });
    if (sink === 0.5) console.log(sink);
    rows.push(
      {
        name: `crc32 ${size} B`,
        ours: megabytes / (oursCrc / 1e6),
        c: megabytes / (cCrc.result / 1e6),
      },
      {
        name: `range coder compress ${size} B → ${compressedLength} B`,
        ours: megabytes / (oursCompress / 1e6),
        c: megabytes / (cCompress.result / 1e6),
      },
      {
        name: `range coder decompress ${compressedLength} B → ${size} B`,
        ours: megabytes / (oursDecompress / 1e6),
        c: megabytes / (cDecompress.result / 1e6),
      },
    );
  });
  return rows;
}

/** Prints codec rows as a ratio table. */
export function printCodecRows(rows: CodecRow[]): void {
  console.log("| codec (MB/s of plain bytes) | ours | C libenet | ours / C |");
  console.log("|---|---:|---:|---:|");
  for (const { name, ours, c } of rows) {
    console.log(`| ${name} | ${ours.toFixed(0)} | ${c.toFixed(0)} | ${(ours / c).toFixed(2)} |`);
  }
}

if (import.meta.main) printCodecRows(await benchCodec());
