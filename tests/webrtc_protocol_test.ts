import assert from "node:assert/strict";
import {
  decodePacket,
  encodeCandidate,
  encodeClientLeft,
  encodeClose,
  encodeIdentity,
  encodeReject,
  encodeRemoveSlaves,
  encodeSdp,
  encodeSlaves,
  encodeUserData,
  MAX_ID,
  PacketType,
  rewrite,
} from "../webrtc/_protocol.ts";
import { IdAllocator } from "../webrtc/_id_allocator.ts";
import { WebRtcSyntaxError } from "../webrtc/errors.ts";
import { bytes } from "./_webrtc.ts";

// Golden vectors: the same bytes are listed in webrtc/PROTOCOL.md.
const GOLDEN: Array<[string, Uint8Array, Uint8Array]> = [
  ["0 register", encodeUserData(0, '{"a":1}'), bytes(0, '{"a":1}')],
  [
    "1 addSlaves",
    encodeSlaves(1, [{ id: 1, userData: "{}" }, { id: 0x01020304, userData: '"x"' }]),
    bytes(1, [0, 0, 0, 1], [0, 2], "{}", [1, 2, 3, 4], [0, 3], '"x"'),
  ],
  ["1 addSlaves (empty list)", encodeSlaves(1, []), bytes(1)],
  ["2 removeSlaves", encodeRemoveSlaves([5, 6]), bytes(2, "[5,6]")],
  ["3 offerToSlave", encodeSdp(3, 7, "v=0"), bytes(3, [0, 0, 0, 7], "v=0")],
  ["4 offerFromClient", encodeSdp(4, 0xfffffffe, "v=0"), bytes(4, [255, 255, 255, 254], "v=0")],
  ["5 answerToClient", encodeSdp(5, 1, "a"), bytes(5, [0, 0, 0, 1], "a")],
  ["6 answerFromSlave", encodeSdp(6, 1, "a"), bytes(6, [0, 0, 0, 1], "a")],
  [
    "7 iceCandidateToSlave",
    encodeCandidate(7, 2, { candidate: "candidate:1", sdpMid: "0", sdpMLineIndex: 0 }),
    bytes(7, [0, 0, 0, 2], 1, "0", [0, 0], "candidate:1"),
  ],
  ["8 null candidate (end of candidates)", encodeCandidate(8, 2, null), bytes(8, [0, 0, 0, 2], 0)],
  [
    "9 candidate with null sdpMid and null sdpMLineIndex",
    encodeCandidate(9, 3, { candidate: "c", sdpMid: null, sdpMLineIndex: null }),
    bytes(9, [0, 0, 0, 3], 0, [0xff, 0xff], "c"),
  ],
  [
    "10 iceCandidateFromSlave",
    encodeCandidate(10, 3, { candidate: "c", sdpMid: "data", sdpMLineIndex: 1 }),
    bytes(10, [0, 0, 0, 3], 4, "data", [0, 1], "c"),
  ],
  ["11 rejectToClient (no reason)", encodeReject(11, 3), bytes(11, [0, 0, 0, 3])],
  ["12 rejectFromSlave", encodeReject(12, 3, "full"), bytes(12, [0, 0, 0, 3], "full")],
  ["13 updateUserData", encodeUserData(13, "[]"), bytes(13, "[]")],
  [
    "14 updateSlave",
    encodeSlaves(14, [{ id: 9, userData: "1" }]),
    bytes(14, [0, 0, 0, 9], [0, 1], "1"),
  ],
  ["15 clientIdentity", encodeIdentity(4, '{"u":"ann"}'), bytes(15, [0, 0, 0, 4], '{"u":"ann"}')],
  ["16 clientLeft", encodeClientLeft(4), bytes(16, [0, 0, 0, 4])],
  ["17 closeToSlave", encodeClose(17, 1, 1000, "bye"), bytes(17, [0, 0, 0, 1], [3, 232], "bye")],
  ["18 closeFromClient", encodeClose(18, 1, 1001), bytes(18, [0, 0, 0, 1], [3, 233])],
  ["19 closeToClient", encodeClose(19, 2, 4000, "x"), bytes(19, [0, 0, 0, 2], [15, 160], "x")],
  ["20 closeFromSlave", encodeClose(20, 2, 1000), bytes(20, [0, 0, 0, 2], [3, 232])],
];

Deno.test("encoders produce the documented golden bytes for every packet type", async (t) => {
  for (const [name, actual, expected] of GOLDEN) {
    await t.step(name, () => assert.deepEqual(actual, expected));
  }
});

Deno.test("decodePacket() reads every golden vector back", () => {
  assert.deepEqual(decodePacket(bytes(0, '{"a":1}')), { type: 0, userData: '{"a":1}' });
  assert.deepEqual(decodePacket(GOLDEN[1][2]), {
    type: 1,
    slaves: [{ id: 1, userData: "{}" }, { id: 0x01020304, userData: '"x"' }],
  });
  assert.deepEqual(decodePacket(bytes(2, "[5,6]")), { type: 2, ids: [5, 6] });
  assert.deepEqual(decodePacket(bytes(4, [255, 255, 255, 254], "v=0")), {
    type: 4,
    id: 0xfffffffe,
    sdp: "v=0",
  });
  assert.deepEqual(decodePacket(GOLDEN[8][2]), {
    type: 7,
    id: 2,
    candidate: { candidate: "candidate:1", sdpMid: "0", sdpMLineIndex: 0 },
  });
  assert.deepEqual(decodePacket(bytes(8, [0, 0, 0, 2], 0)), { type: 8, id: 2, candidate: null });
  assert.deepEqual(decodePacket(bytes(9, [0, 0, 0, 3], 0, [0xff, 0xff], "c")), {
    type: 9,
    id: 3,
    candidate: { candidate: "c", sdpMid: null, sdpMLineIndex: null },
  });
  assert.deepEqual(decodePacket(bytes(12, [0, 0, 0, 3], "full")), {
    type: 12,
    id: 3,
    reason: "full",
  });
  assert.deepEqual(decodePacket(bytes(14, [0, 0, 0, 9], [0, 1], "1")), {
    type: 14,
    slave: { id: 9, userData: "1" },
  });
  assert.deepEqual(decodePacket(bytes(15, [0, 0, 0, 4], '{"u":"ann"}')), {
    type: 15,
    id: 4,
    identity: '{"u":"ann"}',
  });
  assert.deepEqual(decodePacket(bytes(16, [0, 0, 0, 4])), { type: 16, id: 4 });
  assert.deepEqual(decodePacket(bytes(19, [0, 0, 0, 2], [15, 160], "x")), {
    type: 19,
    id: 2,
    code: 4000,
    reason: "x",
  });
});

/** What every malformed packet throws. */
const PROTOCOL_ERROR = { name: "WebRtcSyntaxError", code: "ERR_PROTOCOL" };

Deno.test("decodePacket() throws WebRtcSyntaxError ERR_PROTOCOL (never RangeError) on truncated packets", async (t) => {
  const truncated: Array<[string, Uint8Array]> = [
    ["empty packet", bytes()],
    ["offer without id", bytes(3, [0, 0, 0])],
    ["answer without id", bytes(5)],
    ["candidate without mid length", bytes(7, [0, 0, 0, 1])],
    ["candidate with mid cut short", bytes(7, [0, 0, 0, 1], 5, "ab")],
    ["candidate without line index", bytes(7, [0, 0, 0, 1], 1, "0", 0)],
    ["slave entry without length", bytes(1, [0, 0, 0, 1], 0)],
    ["slave entry with userData cut short", bytes(1, [0, 0, 0, 1], [0, 9], "{}")],
    ["reject without id", bytes(11, [0, 0])],
    ["close without code", bytes(17, [0, 0, 0, 1], 3)],
    ["client left without id", bytes(16, 0)],
  ];
  for (const [name, packet] of truncated) {
    await t.step(name, () => assert.throws(() => decodePacket(packet), PROTOCOL_ERROR));
  }
  // Every prefix of every golden packet either decodes or throws ERR_PROTOCOL.
  for (const [, , packet] of GOLDEN) {
    for (let n = 0; n < packet.length; n++) {
      try {
        decodePacket(packet.subarray(0, n));
      } catch (error) {
        assert.ok(
          error instanceof WebRtcSyntaxError && error.code === "ERR_PROTOCOL",
          `prefix ${n} of type ${packet[0]}: ${error}`,
        );
      }
    }
  }
});

Deno.test("decodePacket() rejects unknown types, bad UTF-8 and bad JSON", () => {
  assert.throws(() => decodePacket(bytes(21)), /Unknown packet type "21"/);
  assert.throws(() => decodePacket(bytes(255, 1, 2)), PROTOCOL_ERROR);
  assert.throws(() => decodePacket(bytes(3, [0, 0, 0, 1], [0xff, 0xfe])), /Invalid UTF-8/);
  assert.throws(() => decodePacket(bytes(0, "{nope")), /Invalid JSON/);
  assert.throws(() => decodePacket(bytes(2, '["x"]')), /not an array of u32/);
  assert.throws(() => decodePacket(bytes(14)), /one slave/);
});

Deno.test("encoders refuse lengths that would overflow their fields with RangeError", () => {
  const big = "x".repeat(65536);
  assert.throws(() => encodeUserData(0, JSON.stringify(big)), RangeError);
  assert.throws(
    () => encodeSlaves(1, [{ id: 1, userData: JSON.stringify(big) }]),
    RangeError,
  );
  assert.throws(
    () => encodeCandidate(7, 1, { candidate: "c", sdpMid: "m".repeat(256), sdpMLineIndex: 0 }),
    RangeError,
  );
  assert.throws(
    () => encodeCandidate(7, 1, { candidate: "c", sdpMid: "0", sdpMLineIndex: 70000 }),
    RangeError,
  );
  assert.throws(() => encodeSdp(3, MAX_ID + 1, ""), RangeError);
  assert.throws(() => encodeSdp(3, -1, ""), RangeError);
  assert.throws(() => encodeClose(17, 1, 1000, "r".repeat(124)), {
    name: "WebRtcRangeError",
    code: "ERR_MESSAGE_TOO_LARGE",
    size: 124,
    limit: 123,
  });
  assert.throws(() => encodeClose(17, 1, 0x10000), {
    name: "WebRtcRangeError",
    code: "ERR_INVALID_CLOSE_CODE",
  });
  // The largest values that fit still round-trip.
  const mid = "m".repeat(255);
  const packet = encodeCandidate(7, MAX_ID, { candidate: "c", sdpMid: mid, sdpMLineIndex: 65534 });
  assert.deepEqual(decodePacket(packet), {
    type: 7,
    id: MAX_ID,
    candidate: { candidate: "c", sdpMid: mid, sdpMLineIndex: 65534 },
  });
});

Deno.test("rewrite() swaps type and id in place, as the master forwards", () => {
  const packet = encodeSdp(PacketType.OFFER_TO_SLAVE, 5, "v=0");
  const out = rewrite(packet, PacketType.OFFER_FROM_CLIENT, 0xabcdef01);
  assert.equal(out, packet);
  assert.deepEqual(out, bytes(4, [0xab, 0xcd, 0xef, 0x01], "v=0"));
});

Deno.test("IdAllocator wraps around after 2^32 - 1 and skips ids in use", () => {
  const ids = new IdAllocator(MAX_ID - 1);
  const inUse = new Set<number>([0]);
  assert.equal(ids.allocate(inUse), MAX_ID - 1);
  assert.equal(ids.allocate(inUse), MAX_ID);
  assert.equal(ids.allocate(inUse), 1); // 0 is still in use
  // A freed id is not handed out again right away.
  const fresh = new IdAllocator();
  const live = new Set<number>();
  const a = fresh.allocate(live);
  live.add(a);
  live.delete(a);
  assert.notEqual(fresh.allocate(live), a);
});
