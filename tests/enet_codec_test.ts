/**
 * Bit-exactness of our CRC-32 and range coder against C libenet, through
 * tests/enet_peers/enet_codec.c (built here with gcc against libenet-dev).
 */
import assert from "node:assert/strict";
import { enetCrc32, verifyEnetChecksum, writeEnetChecksum } from "../enet/_crc32.ts";
import { EnetRangeCoder } from "../enet/_range_coder.ts";
import { RangeCoder } from "../enet/mod.ts";
import { CodecOp, type CodecRequest, withCodec } from "./enet_peers/enet_codec.ts";
import { prng } from "./_tools/prng.ts";

const OP_CRC32 = CodecOp.CRC32;
const OP_COMPRESS = CodecOp.COMPRESS;
const OP_DECOMPRESS = CodecOp.DECOMPRESS;
type Request = CodecRequest;

function randomBytes(random: () => number, length: number, alphabet = 256): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * alphabet);
  return bytes;
}

function concat(buffers: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(buffers.reduce((sum, buffer) => sum + buffer.length, 0));
  let offset = 0;
  for (const buffer of buffers) {
    out.set(buffer, offset);
    offset += buffer.length;
  }
  return out;
}

/** Splits `bytes` into `count` consecutive non-empty pieces (fewer if too short). */
function split(bytes: Uint8Array, count: number, random: () => number): Uint8Array[] {
  const cuts = new Set<number>();
  while (cuts.size < Math.min(count - 1, bytes.length - 1)) {
    cuts.add(1 + Math.floor(random() * (bytes.length - 1)));
  }
  const sorted = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
  return sorted.slice(1).map((end, i) => bytes.subarray(sorted[i], end));
}

const encoder = new TextEncoder();

/** Named inputs: text, random bytes, zeros, short and long, in one and several buffers. */
function corpus(): { name: string; buffers: Uint8Array[] }[] {
  const random = prng(0xE7E7);
  const text = encoder.encode(
    "ENet evolved specifically as a UDP networking layer for the multiplayer first person " +
      "shooter Cube. Cube necessitated low latency communication with data sent out very " +
      "frequently, so TCP was an unsuitable choice due to its high latency and stream " +
      "orientation. ".repeat(20),
  );
  const cases: { name: string; buffers: Uint8Array[] }[] = [
    { name: "text", buffers: [text] },
    { name: "text in 7 buffers", buffers: split(text, 7, random) },
    { name: "zeros 1400", buffers: [new Uint8Array(1400)] },
    { name: "zeros 64 KiB", buffers: [new Uint8Array(65536)] },
    { name: "one byte", buffers: [new Uint8Array([0x42])] },
    { name: "one zero byte", buffers: [new Uint8Array([0])] },
    { name: "two bytes", buffers: [new Uint8Array([0xFF, 0x00])] },
    { name: "random 1400", buffers: [randomBytes(random, 1400)] },
    { name: "random 100 KiB (forces model resets)", buffers: [randomBytes(random, 100_000)] },
    { name: "skewed 300 KiB", buffers: [randomBytes(random, 300_000, 9)] },
    { name: "random in 40 buffers", buffers: split(randomBytes(random, 4000), 40, random) },
  ];
  for (let length = 1; length <= 4096; length = Math.ceil(length * 1.7)) {
    cases.push({ name: `random ${length}`, buffers: [randomBytes(random, length)] });
    cases.push({ name: `low-entropy ${length}`, buffers: [randomBytes(random, length, 4)] });
    cases.push({
      name: `ENet-like commands ${length} in 3 buffers`,
      buffers: split(randomBytes(random, length, 3).map((b, i) => (i % 12 < 4 ? b : 0)), 3, random),
    });
  }
  return cases;
}

Deno.test("enetCrc32 produces the bytes C enet_crc32 stores, for one and several buffers", async () => {
  await withCodec(async (call) => {
    const random = prng(32);
    const inputs: Uint8Array[][] = [
      [encoder.encode("123456789")],
      [new Uint8Array(0)],
      [],
      [new Uint8Array(1400)],
      [encoder.encode("1234"), new Uint8Array(0), encoder.encode("56789")],
      ...Array.from(
        { length: 40 },
        (_, i) => split(randomBytes(random, 1 + i * 97), 1 + (i % 5), random),
      ),
    ];
    const replies = await call(
      inputs.map((buffers) => ({ op: OP_CRC32, inLimit: 0, outLimit: 0, buffers })),
    );
    for (const [i, buffers] of inputs.entries()) {
      const wire = new Uint8Array(4);
      new DataView(wire.buffer).setUint32(0, enetCrc32(buffers), false);
      assert.deepEqual(wire, replies[i].output, `input ${i}`);
    }
    assert.equal(enetCrc32([encoder.encode("123456789")]), 0xCBF43926);
  });
});

Deno.test("writeEnetChecksum seeds the field with connectID and verifyEnetChecksum accepts only intact datagrams", () => {
  const datagram = new Uint8Array([
    0x80,
    0x01,
    0x12,
    0x34,
    0,
    0,
    0,
    0,
    0x86,
    0,
    0,
    1,
    0,
    2,
    0xAA,
    0xBB,
  ]);
  const connectID = new Uint8Array([0xDE, 0xAD, 0xBE, 0xEF]);
  const crc = writeEnetChecksum(datagram, 4, connectID);
  const expected = concat([datagram.subarray(0, 4), connectID, datagram.subarray(8)]);
  assert.equal(crc, enetCrc32(expected));
  assert.deepEqual(
    [...datagram.subarray(4, 8)],
    [crc >>> 24, (crc >>> 16) & 0xFF, (crc >>> 8) & 0xFF, crc & 0xFF],
  );
  assert.equal(verifyEnetChecksum(datagram, 4, connectID), true);
  assert.equal(verifyEnetChecksum(datagram, 4, null), false, "wrong connectID");
  const field = datagram.slice(4, 8);
  datagram[15] ^= 1;
  assert.equal(verifyEnetChecksum(datagram, 4, connectID), false, "flipped payload bit");
  assert.deepEqual(datagram.subarray(4, 8), field, "verification restores the field");
});

Deno.test("range coder compresses byte-exactly like C enet_range_coder_compress and both decompress each other", async () => {
  await withCodec(async (call) => {
    const cases = corpus();
    const coder = new EnetRangeCoder();
    const outLimit = 400_000;
    const cReplies = await call(cases.map(({ buffers }) => ({
      op: OP_COMPRESS,
      inLimit: concat(buffers).length,
      outLimit,
      buffers,
    })));
    const ours: Uint8Array[] = [];
    const out = new Uint8Array(outLimit);
    for (const [i, { name, buffers }] of cases.entries()) {
      const length = coder.compress(buffers, concat(buffers).length, out, outLimit);
      assert.equal(length, cReplies[i].result, `${name}: compressed length`);
      assert.deepEqual(out.slice(0, length), cReplies[i].output, `${name}: compressed bytes`);
      ours.push(out.slice(0, length));
    }

    // ours → C decompress, and C → ours (the C bytes are the same as ours, checked above,
    // so decompressing them here is the C-compress → our-decompress direction).
    const dReplies = await call(cases.map((_, i) => ({
      op: OP_DECOMPRESS,
      inLimit: ours[i].length,
      outLimit,
      buffers: [ours[i]],
    })));
    const restored = new Uint8Array(outLimit);
    for (const [i, { name, buffers }] of cases.entries()) {
      const original = concat(buffers);
      assert.deepEqual(dReplies[i].output, original, `${name}: C decompresses ours`);
      const length = coder.decompress(cReplies[i].output, cReplies[i].output.length, restored);
      assert.deepEqual(restored.slice(0, length), original, `${name}: we decompress C's`);
    }
  });
});

Deno.test("range coder output limits fail exactly where C's do, in both directions", async () => {
  await withCodec(async (call) => {
    const random = prng(7);
    const inputs = [
      encoder.encode("limit edge ".repeat(30)),
      randomBytes(random, 600),
      new Uint8Array(2000),
      randomBytes(random, 1392, 5),
      new Uint8Array([1]),
    ];
    const coder = new EnetRangeCoder();
    const requests: Request[] = [];
    const expected: { what: string; result: number; output: Uint8Array }[] = [];
    const out = new Uint8Array(8192);
    for (const [n, input] of inputs.entries()) {
      const full = coder.compress([input], input.length, out, out.length);
      const compressed = out.slice(0, full);
      assert.ok(full > 0);
      const compressLimits = [0, 1, full - 2, full - 1, full, full + 1, input.length];
      for (const limit of compressLimits.filter((l) => l >= 0)) {
        const length = coder.compress([input], input.length, out, limit);
        requests.push({
          op: OP_COMPRESS,
          inLimit: input.length,
          outLimit: limit,
          buffers: [input],
        });
        expected.push({
          what: `input ${n} compress limit ${limit}`,
          result: length,
          output: out.slice(0, length),
        });
      }
      // inLimit 0 means "nothing to compress" in C even with data present.
      requests.push({ op: OP_COMPRESS, inLimit: 0, outLimit: 8192, buffers: [input] });
      expected.push({
        what: `input ${n} inLimit 0`,
        result: coder.compress([input], 0, out),
        output: new Uint8Array(0),
      });
      const decompressLimits = [0, 1, input.length - 1, input.length, input.length + 1];
      for (const limit of decompressLimits.filter((l) => l >= 0)) {
        const length = coder.decompress(compressed, compressed.length, out, limit);
        requests.push({
          op: OP_DECOMPRESS,
          inLimit: compressed.length,
          outLimit: limit,
          buffers: [compressed],
        });
        expected.push({
          what: `input ${n} decompress limit ${limit}`,
          result: length,
          output: out.slice(0, length),
        });
      }
      // A truncated stream decodes to whatever C decodes it to.
      for (const cut of [1, 2, Math.floor(full / 2), full - 1].filter((c) => c > 0 && c < full)) {
        const length = coder.decompress(compressed, cut, out, 8192);
        requests.push({ op: OP_DECOMPRESS, inLimit: cut, outLimit: 8192, buffers: [compressed] });
        expected.push({
          what: `input ${n} truncated to ${cut}`,
          result: length,
          output: out.slice(0, length),
        });
      }
    }
    const replies = await call(requests);
    for (const [i, { what, result, output }] of expected.entries()) {
      assert.equal(result, replies[i].result, `${what}: result`);
      assert.deepEqual(output, replies[i].output, `${what}: bytes`);
    }
    assert.ok(expected.some((e) => e.result === 0), "some limits must fail");
  });
});

Deno.test("range coder decodes arbitrary bytes exactly as C does, without throwing", async () => {
  await withCodec(async (call) => {
    const random = prng(99);
    const coder = new EnetRangeCoder();
    const out = new Uint8Array(4096);
    const inputs = Array.from({ length: 300 }, (_, i) => randomBytes(random, 1 + (i * 13) % 700));
    const replies = await call(inputs.map((input) => ({
      op: OP_DECOMPRESS,
      inLimit: input.length,
      outLimit: 4096,
      buffers: [input],
    })));
    let decodedSomething = 0;
    for (const [i, input] of inputs.entries()) {
      const length = coder.decompress(input, input.length, out, 4096);
      assert.equal(length, replies[i].result, `garbage ${i}: result`);
      assert.deepEqual(out.slice(0, length), replies[i].output, `garbage ${i}: bytes`);
      if (length > 0) decodedSomething++;
    }
    assert.ok(decodedSomething > 0);
  });
});

Deno.test("RangeCoder implements Compressor: null beyond the limit, byte-exact round trips", () => {
  const coder = new RangeCoder();
  const random = prng(5);
  for (
    const input of [
      encoder.encode("abcabcabc".repeat(100)),
      new Uint8Array(1300),
      randomBytes(random, 1300),
    ]
  ) {
    const chunks = split(input, 4, random);
    const packed = coder.compress(chunks, 65536);
    assert.ok(packed);
    assert.deepEqual(coder.decompress(packed, input.length), input);
    assert.equal(coder.decompress(packed, input.length - 1), null);
    assert.equal(coder.compress(chunks, packed.length - 1), null);
    assert.deepEqual(coder.compress(chunks, packed.length), packed);
  }
  assert.equal(coder.compress([], 100), null);
  assert.equal(coder.compress([new Uint8Array(0)], 100), null);
  assert.equal(coder.decompress(new Uint8Array(0), 100), null);
  // Empty chunks in the middle are skipped rather than read past (C reads one byte past them).
  const text = encoder.encode("hello hello hello");
  assert.deepEqual(
    coder.compress([text.subarray(0, 5), new Uint8Array(0), text.subarray(5)], 100),
    coder.compress([text], 100),
  );
});

Deno.test("range coder decodes garbage and damaged streams to exactly what C decodes them to", async () => {
  // A host receiving a datagram with the compressed flag set decodes whatever follows the
  // header; fuzzed or spoofed datagrams must turn into the same commands (or the same failure)
  // as in C libenet, or our hosts would react to them where C's do not.
  await withCodec(async (call) => {
    const random = prng(0xBAD);
    const coder = new EnetRangeCoder();
    const inputs: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) inputs.push(randomBytes(random, 1 + Math.floor(random() * 1400)));
    for (let i = 0; i < 100; i++) {
      // Valid streams with one byte flipped or a random tail.
      const plain = randomBytes(random, 20 + Math.floor(random() * 600), 6);
      const out = new Uint8Array(4096);
      const length = coder.compress([plain], plain.length, out, out.length);
      const damaged = out.slice(0, length);
      damaged[Math.floor(random() * length)] ^= 1 << Math.floor(random() * 8);
      inputs.push(damaged);
    }
    const outLimit = 4096 - 4; // ENET_PROTOCOL_MAXIMUM_MTU minus the header, as a host uses it
    const replies = await call(inputs.map((input) => ({
      op: OP_DECOMPRESS,
      inLimit: input.length,
      outLimit,
      buffers: [input],
    })));
    const out = new Uint8Array(outLimit);
    let decoded = 0;
    for (const [i, input] of inputs.entries()) {
      const length = coder.decompress(input, input.length, out, outLimit);
      assert.equal(length, replies[i].result, `input ${i}: result`);
      assert.deepEqual(out.slice(0, length), replies[i].output, `input ${i}: bytes`);
      if (length > 0) decoded++;
    }
    assert.ok(decoded > 0, "some garbage decodes to something, as in C");
  });
});
