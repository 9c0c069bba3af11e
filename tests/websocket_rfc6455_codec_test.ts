import assert from "node:assert/strict";
import {
  applyMask,
  encodeFrame,
  newHeader,
  OPCODE_BINARY,
  OPCODE_TEXT,
  parseHeader,
} from "../websocket/_frame.ts";
import { acceptDeflateResponse, deflateOffer, negotiateDeflate } from "../websocket/_deflate.ts";
import { deadline } from "./_loopback.ts";
import { engineServer, randomBytes, rawFrame, RawPeer } from "./_websocket_engine.ts";

function naiveMask(data: Uint8Array, key: number, phase: number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    out[i] = data[i] ^ ((key >>> (((phase + i) & 3) * 8)) & 255);
  }
  return out;
}

Deno.test("applyMask() matches a byte-wise XOR for every alignment, phase and length", () => {
  const key = 0xa1b2c3d4;
  const backing = randomBytes(300, 5);
  for (let offset = 0; offset < 4; offset++) {
    for (let dstOffset = 0; dstOffset < 4; dstOffset++) {
      for (const length of [0, 1, 3, 4, 15, 16, 17, 63, 100, 257]) {
        for (let phase = 0; phase < 4; phase++) {
          const src = backing.slice(0, 300).subarray(offset, offset + length);
          const expected = naiveMask(src, key, phase);
          const dst = new Uint8Array(300).subarray(dstOffset, dstOffset + length);
          applyMask(src, dst, key, phase);
          assert.deepEqual(
            dst,
            expected,
            `offset ${offset}/${dstOffset} len ${length} phase ${phase}`,
          );
          const inPlace = src.slice();
          applyMask(inPlace, inPlace, key, phase);
          assert.deepEqual(inPlace, expected);
        }
      }
    }
  }
});

Deno.test("encodeFrame() and parseHeader() agree on 7-, 16- and 64-bit lengths", () => {
  for (const length of [0, 125, 126, 65535, 65536, 70000]) {
    for (const maskKey of [undefined, 0x01020304]) {
      const payload = randomBytes(length, length + 1);
      const frame = encodeFrame(length % 2 ? OPCODE_TEXT : OPCODE_BINARY, payload, {
        fin: length !== 125,
        rsv: 0x40,
        maskKey,
      });
      const h = newHeader();
      assert.ok(parseHeader(frame, 0, frame.length, h));
      assert.equal(h.length, length);
      assert.equal(h.fin, length !== 125);
      assert.equal(h.rsv, 0x40);
      assert.equal(h.masked, maskKey !== undefined);
      assert.equal(h.headerSize + length, frame.length);
      const body = frame.slice(h.headerSize);
      if (h.masked) applyMask(body, body, h.maskKey);
      assert.deepEqual(body, payload);
      // Any truncated header is "not yet".
      for (let cut = 0; cut < h.headerSize; cut++) {
        assert.equal(parseHeader(frame, 0, cut, h), false);
      }
    }
  }
});

Deno.test("parseHeader() reports a 64-bit length with the top bit set as Infinity", () => {
  const frame = new Uint8Array([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]);
  const h = newHeader();
  assert.ok(parseHeader(frame, 0, frame.length, h));
  assert.equal(h.length, Infinity);
});

Deno.test("negotiateDeflate() accepts, adjusts or declines offers", async (t) => {
  await t.step("plain offer", () => {
    const r = negotiateDeflate("permessage-deflate; client_max_window_bits");
    assert.equal(r?.extensions, "permessage-deflate");
    assert.equal(r?.params.clientMaxWindowBits, 15);
  });
  await t.step("no offer or disabled", () => {
    assert.equal(negotiateDeflate(null), null);
    assert.equal(negotiateDeflate("x-webkit-deflate-frame"), null);
    assert.equal(negotiateDeflate("permessage-deflate", false), null);
  });
  await t.step("server_max_window_bits=8 cannot be honoured: the next offer is taken", () => {
    const r = negotiateDeflate(
      "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover",
    );
    assert.equal(r?.extensions, "permessage-deflate; server_no_context_takeover");
    assert.equal(r?.params.serverNoContextTakeover, true);
  });
  await t.step("invalid or unknown parameters decline the offer", () => {
    for (
      const offer of [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; mystery",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      ]
    ) assert.equal(negotiateDeflate(offer), null, offer);
  });
  await t.step("our limits are applied", () => {
    const r = negotiateDeflate(
      'permessage-deflate; server_max_window_bits="12"; client_max_window_bits=14',
      { serverMaxWindowBits: 10, clientNoContextTakeover: true },
    );
    assert.equal(
      r?.extensions,
      "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=14",
    );
    assert.equal(r?.params.serverMaxWindowBits, 10);
  });
});

Deno.test("acceptDeflateResponse() rejects answers that break our offer", () => {
  assert.equal(deflateOffer(), "permessage-deflate; client_max_window_bits");
  assert.deepEqual(
    acceptDeflateResponse("permessage-deflate; server_max_window_bits=10", true)
      ?.serverMaxWindowBits,
    10,
  );
  for (
    const answer of [
      "permessage-deflate; unknown",
      "permessage-deflate; client_max_window_bits=8",
      "permessage-deflate; server_max_window_bits=16",
      "x-other",
      "permessage-deflate, permessage-deflate",
    ]
  ) {
    assert.throws(
      () => acceptDeflateResponse(answer, true),
      { name: "WebSocketSyntaxError", code: "ERR_HANDSHAKE_FAILED" },
      answer,
    );
  }
  assert.throws(() => acceptDeflateResponse("permessage-deflate", false), {
    name: "WebSocketSyntaxError",
    code: "ERR_HANDSHAKE_FAILED",
  });
  assert.throws(
    () => acceptDeflateResponse("permessage-deflate", { serverNoContextTakeover: true }),
    { name: "WebSocketSyntaxError", code: "ERR_HANDSHAKE_FAILED" },
  );
});

Deno.test("Rfc6455Socket validates UTF-8 like the Autobahn 6.x cases", async () => {
  const invalid: Record<string, number[]> = {
    "overlong 2-byte": [0xc0, 0xaf],
    "overlong 3-byte": [0xe0, 0x80, 0xaf],
    "overlong 4-byte": [0xf0, 0x80, 0x80, 0xaf],
    "UTF-16 surrogate": [0xed, 0xa0, 0x80],
    "above U+10FFFF": [0xf4, 0x90, 0x80, 0x80],
    "lone continuation": [0x80],
    "5-byte form": [0xf8, 0x88, 0x80, 0x80, 0x80],
    "0xFE": [0xfe],
  };
  const valid: Record<string, number[]> = {
    "U+10FFFF": [0xf4, 0x8f, 0xbf, 0xbf],
    "U+FFFF": [0xef, 0xbf, 0xbf],
    "BOM kept": [0xef, 0xbb, 0xbf, 0x41],
    "κόσμε": [...new TextEncoder().encode("κόσμε")],
  };
  await using server = engineServer();
  for (const [name, bytes] of Object.entries(invalid)) {
    using peer = await RawPeer.connect(server.port);
    await peer.write(rawFrame(OPCODE_TEXT, new Uint8Array(bytes)));
    assert.equal((await deadline(peer.readClose(), 5000, name)).code, 1007, name);
  }
  for (const [name, bytes] of Object.entries(valid)) {
    using peer = await RawPeer.connect(server.port);
    await peer.write(rawFrame(OPCODE_TEXT, new Uint8Array(bytes)));
    const echo = await deadline(peer.readFrame(), 5000, name);
    assert.deepEqual(echo?.payload, new Uint8Array(bytes), name);
  }
});

Deno.test("A compressed message split across continuation frames (with a ping between) is inflated", async () => {
  const { deflateRawSync, inflateRawSync, constants } = await import("node:zlib");
  await using server = engineServer(undefined, { deflate: true });
  using peer = await RawPeer.connect(
    server.port,
    "Sec-WebSocket-Extensions: permessage-deflate\r\n",
  );
  const text = "fragmented and compressed ✓ ".repeat(3000);
  const compressed = deflateRawSync(new TextEncoder().encode(text), {
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  const body = compressed.subarray(0, compressed.length - 4);
  const third = Math.floor(body.length / 3);
  await peer.write(rawFrame(OPCODE_TEXT, body.subarray(0, third), { fin: false, rsv: 4 }));
  await peer.write(rawFrame(9, "mid"));
  await peer.write(rawFrame(0, body.subarray(third, 2 * third), { fin: false }));
  await peer.write(rawFrame(0, body.subarray(2 * third)));
  const pong = await deadline(peer.readFrame(), 5000, "pong");
  assert.equal(pong?.opcode, 10);
  const echo = await deadline(peer.readFrame(), 5000, "echo");
  assert.equal(echo?.rsv, 4, "the echo is compressed too");
  const inflated = inflateRawSync(new Uint8Array([...echo!.payload, 0, 0, 0xff, 0xff]), {
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  assert.equal(new TextDecoder().decode(inflated), text);
  // RSV1 on a continuation frame is a protocol error.
  await peer.write(rawFrame(OPCODE_BINARY, new Uint8Array([1]), { fin: false }));
  await peer.write(rawFrame(0, new Uint8Array([2]), { rsv: 4 }));
  assert.equal((await peer.readClose()).code, 1002);
});
