import assert from "node:assert/strict";
import { FramedTypeError, type MessageType, supportedSendTypes } from "../framed/mod.ts";
import { concat, pair, pattern, rawClient, readExactly, take } from "./_framed.ts";
import { LOOPBACK4 } from "./_loopback.ts";
import { listen } from "../framed/mod.ts";
import { accept } from "./_framed.ts";

Deno.test("every payload type survives a round trip", async (t) => {
  const cases: [MessageType, unknown[], unknown[]][] = [
    ["bytes", [new Uint8Array([0, 255, 7]), new Uint8Array()], [
      new Uint8Array([0, 255, 7]),
      new Uint8Array(),
    ]],
    ["image", [pattern(3000)], [pattern(3000)]],
    ["string", ["", "plain", "ünïcødé ✓ 🎉", ["con", "cat"]], [
      "",
      "plain",
      "ünïcødé ✓ 🎉",
      "concat",
    ]],
    ["json", [null, 0, "s", [1, { a: 2 }], { deep: { x: [true, false] } }], [
      null,
      0,
      "s",
      [1, { a: 2 }],
      { deep: { x: [true, false] } },
    ]],
    ["byte", [-128, 127, [1, -1, 0], 300, -129.9], [-128, 127, [1, -1, 0], 44, 127]],
    ["unsignedbyte", [0, 255, [1, 2], 256, -1], [0, 255, [1, 2], 0, 255]],
    ["short", [-32768, 32767, [1, -2], 40000], [-32768, 32767, [1, -2], -25536]],
    ["unsignedshort", [0, 65535, [7, 8, 9], -1], [0, 65535, [7, 8, 9], 65535]],
    ["int", [-(2 ** 31), 2 ** 31 - 1, [1, 2, 3], 1.9, -1.9, NaN, 1e12, -1e12], [
      -(2 ** 31),
      2 ** 31 - 1,
      [1, 2, 3],
      1,
      -1,
      0,
      2 ** 31 - 1,
      -(2 ** 31),
    ]],
    ["float", [0.5, [1.5, -2.25], 0.1], [0.5, [1.5, -2.25], Math.fround(0.1)]],
    ["double", [0.1, [Math.PI, -Infinity], NaN], [0.1, [Math.PI, -Infinity], NaN]],
    ["number", [1e300, new Float64Array([1, 2])], [1e300, [1, 2]]],
  ];
  assert.deepEqual(
    new Set(cases.map(([type]) => type)),
    new Set(supportedSendTypes()),
    "every supported type is covered",
  );
  for (const [type, sent, expected] of cases) {
    await t.step(type, async () => {
      await using p = await pair({ sendType: type });
      for (const value of sent) await p.client.send(value as never);
      assert.deepEqual(await take(p.peer, expected.length), expected);
      for (const value of sent) await p.peer.send(value as never);
      assert.deepEqual(await take(p.client, expected.length), expected);
    });
  }
});

Deno.test("a numeric message of one element arrives as a number, of several or none as an array", async () => {
  await using p = await pair({ sendType: "short" });
  await p.client.send([5]);
  await p.client.send([5, 6]);
  await p.client.send([]);
  assert.deepEqual(await take(p.peer, 3), [5, [5, 6], []]);
});

Deno.test("numeric payloads are big-endian on the wire", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, sendType: "int" });
  const accepted = accept(server);
  using raw = await rawClient(server.addr.port);
  await using peer = await accepted;
  await peer.send([1, -2]);
  assert.deepEqual(
    await readExactly(raw, 9),
    new Uint8Array([8, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe]),
  );
});

Deno.test("messages of boundary sizes arrive intact", async (t) => {
  await using p = await pair({ sendType: "bytes" });
  for (const size of [0, 1, 254, 255, 256, 65535, 65536, 1 << 20]) {
    await t.step(`${size} bytes`, async () => {
      const payload = pattern(size, size + 1);
      const sent = p.client.send(payload);
      const [received] = await take(p.peer);
      await sent;
      assert.equal(received.length, size);
      assert.deepEqual(received, payload);
    });
  }
});

Deno.test("several large messages sent at once arrive intact and in order", async () => {
  await using p = await pair({ sendType: "bytes" });
  const payloads = [300_000, 10, 70_000, 2_000_000, 0, 255].map((n, i) => pattern(n, i + 7));
  const sent = Promise.all(payloads.map((payload) => p.client.send(payload)));
  const received = await take(p.peer, payloads.length);
  await sent;
  assert.deepEqual(received, payloads);
});

Deno.test("send() rejects values that do not fit sendType and the connection carries on", async (t) => {
  const bad: [MessageType, unknown][] = [
    ["bytes", "text"],
    ["image", 12],
    ["string", 12],
    ["string", ["a", 1]],
    ["json", undefined],
    ["json", () => {}],
    ["json", 10n],
    ["int", "12"],
    ["int", [1, "2"]],
    ["double", null],
    ["byte", { length: 1, 0: "x" }],
  ];
  for (const [type, value] of bad) {
    await t.step(`${type} ← ${typeof value}`, async () => {
      await using p = await pair({ sendType: type });
      await assert.rejects(
        p.client.send(value as never),
        (e: Error) => e instanceof FramedTypeError && e.code === "ERR_INVALID_MESSAGE",
      );
      const good = type === "bytes" || type === "image"
        ? new Uint8Array([1])
        : type === "string"
        ? "ok"
        : type === "json"
        ? { ok: true }
        : 1;
      await p.client.send(good as never);
      assert.deepEqual(await take(p.peer), [good]);
    });
  }
});

Deno.test("sendType and receiveType may differ", async () => {
  await using server = listen({
    hostname: LOOPBACK4,
    port: 0,
    sendType: "string",
    receiveType: "unsignedbyte",
  });
  const accepted = accept(server);
  const { connect } = await import("../framed/mod.ts");
  await using client = await connect({
    hostname: LOOPBACK4,
    port: server.addr.port,
    sendType: "unsignedbyte",
    receiveType: "string",
  });
  await using peer = await accepted;
  await client.send([104, 105]);
  const [bytes] = await take(peer);
  assert.deepEqual(bytes, [104, 105]);
  await peer.send("hi");
  assert.deepEqual(await take(client), ["hi"]);
});

Deno.test('framing "raw" sends bytes as they are and emits numeric elements one by one', async (t) => {
  await t.step("numeric", async () => {
    await using p = await pair({ sendType: "short", framing: "raw" });
    await p.client.send([1, 2, 3]);
    await p.client.send(-4);
    assert.deepEqual(await take(p.peer, 4), [1, 2, 3, -4]);
  });
  await t.step("numeric elements split across writes", async () => {
    await using server = listen({
      hostname: LOOPBACK4,
      port: 0,
      framing: "raw",
      receiveType: "int",
    });
    const accepted = accept(server);
    using raw = await rawClient(server.addr.port);
    await using peer = await accepted;
    await raw.write(new Uint8Array([0, 0]));
    await new Promise((r) => setTimeout(r, 20));
    await raw.write(new Uint8Array([0, 7, 0, 0, 1]));
    await new Promise((r) => setTimeout(r, 20));
    await raw.write(new Uint8Array([0]));
    assert.deepEqual(await take(peer, 2), [7, 256]);
  });
  await t.step("string with a character split across writes", async () => {
    await using server = listen({ hostname: LOOPBACK4, port: 0, framing: "raw" });
    const accepted = accept(server);
    using raw = await rawClient(server.addr.port);
    await using peer = await accepted;
    const euro = new TextEncoder().encode("€");
    await raw.write(euro.subarray(0, 1));
    await new Promise((r) => setTimeout(r, 20));
    await raw.write(concat([euro.subarray(1), new TextEncoder().encode("!")]));
    assert.equal((await take(peer, 1)).join(""), "€!");
  });
  await t.step("bytes go out without a header", async () => {
    await using server = listen({
      hostname: LOOPBACK4,
      port: 0,
      framing: "raw",
      sendType: "bytes",
    });
    const accepted = accept(server);
    using raw = await rawClient(server.addr.port);
    await using peer = await accepted;
    await peer.send(new Uint8Array([9, 8, 7]));
    assert.deepEqual(await readExactly(raw, 3), new Uint8Array([9, 8, 7]));
  });
});

Deno.test("bursts of mixed sizes arrive intact through the gather buffers", async () => {
  await using p = await pair({ sendType: "bytes" });
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let round = 0; round < 6; round++) {
    const sizes = Array.from({ length: 50 + round * 40 }, () => {
      const r = next() % 100;
      return r < 70 ? next() % 300 : r < 95 ? next() % 70_000 : 256 * 1024 + (next() % 100_000);
    });
    const payloads = sizes.map((n, i) => pattern(n, round * 1000 + i + 1));
    let last!: Promise<void>;
    for (const payload of payloads) last = p.client.send(payload);
    const received = await take(p.peer, payloads.length);
    await last;
    assert.equal(received.length, payloads.length);
    received.forEach((got, i) => assert.deepEqual(got, payloads[i], `round ${round} message ${i}`));
  }
});

Deno.test('sendType "bytes" sends any ArrayBufferView or ArrayBuffer byte-exact, by send() and writable', async () => {
  await using p = await pair({ sendType: "bytes" });
  const floats = new Float32Array([1, 2]);
  const expected = new Uint8Array(floats.buffer);
  const backing = new Uint8Array([9, 1, 2, 3, 9]);
  await p.client.send(floats as never);
  await p.client.send(floats.buffer as never);
  await p.client.send(new DataView(backing.buffer, 1, 3) as never);
  const writer = p.client.writable.getWriter();
  await writer.write(new Uint16Array(backing.buffer, 2, 1) as never);
  await assert.rejects(
    writer.write(42 as never),
    (e: Error) => e instanceof FramedTypeError && e.code === "ERR_INVALID_MESSAGE",
  );
  writer.releaseLock();
  assert.deepEqual(await take(p.peer, 4), [
    expected,
    expected,
    new Uint8Array([1, 2, 3]),
    new Uint8Array([2, 3]),
  ]);
});
