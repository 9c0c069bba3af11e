/**
 * Driver for the C helper `enet_codec.c`: builds it with gcc against
 * libenet-dev into a temporary directory and runs batches of checksum and
 * range coder requests through it. Used by tests/enet_codec_test.ts and
 * bench/_enet_codec_bench.ts.
 *
 * @module
 */
import { run, tempDir } from "../_loopback.ts";

/** Operation numbers of the helper's stdin protocol. */
export const CodecOp = { CRC32: 1, COMPRESS: 2, DECOMPRESS: 3, BENCH: 4 } as const;

/** One request to the helper. */
export interface CodecRequest {
  op: number;
  inLimit: number;
  outLimit: number;
  buffers: Uint8Array[];
}

/** One reply: C's return value and output bytes. */
export interface CodecReply {
  result: number;
  output: Uint8Array;
}

/** Runs one batch of requests in a fresh helper process. */
export type CodecCall = (requests: CodecRequest[]) => Promise<CodecReply[]>;

/** Builds the helper, hands `body` a way to call it, removes the build on return. */
export async function withCodec(body: (call: CodecCall) => Promise<void>): Promise<void> {
  await using dir = tempDir("netkit-enet-codec-");
  const binary = `${dir.path}/enet_codec`;
  const source = new URL("./enet_codec.c", import.meta.url).pathname;
  await run("gcc", ["-O2", "-Wall", "-o", binary, source, "-lenet"]);
  await body((requests) => callCodec(binary, requests));
}

async function callCodec(binary: string, requests: CodecRequest[]): Promise<CodecReply[]> {
  const chunks: Uint8Array[] = [];
  const u32 = (value: number) => {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    chunks.push(bytes);
  };
  for (const request of requests) {
    u32(request.op);
    u32(request.inLimit);
    u32(request.outLimit);
    u32(request.buffers.length);
    for (const buffer of request.buffers) {
      u32(buffer.length);
      chunks.push(buffer);
    }
  }
  const child = new Deno.Command(binary, { stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  // Write and read concurrently: a big batch would otherwise fill both pipes.
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    for (const chunk of chunks) await writer.write(chunk);
    await writer.close();
  })();
  const [output] = await Promise.all([child.output(), writing]);
  if (output.code !== 0) {
    throw new Error(
      `enet_codec exited with ${output.code}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  const view = new DataView(output.stdout.buffer);
  const replies: CodecReply[] = [];
  let offset = 0;
  for (let i = 0; i < requests.length; i++) {
    const result = view.getUint32(offset, true);
    const length = view.getUint32(offset + 4, true);
    replies.push({ result, output: output.stdout.slice(offset + 8, offset + 8 + length) });
    offset += 8 + length;
  }
  if (offset !== output.stdout.length) throw new Error("enet_codec replied with trailing bytes");
  return replies;
}
