/**
 * mesh/_dispatch.ts on its own: each frame kind reaches its handler
 * decoded, batches are unpacked in order, and bad frames are refused with
 * ERR_INVALID_FRAME. In process: no sockets, no timers.
 */
import assert from "node:assert/strict";
import { MeshSyntaxError } from "../mesh/mod.ts";
import { dispatchFrame, type FrameHandler } from "../mesh/_dispatch.ts";
import { LinkClosedByPeer } from "../mesh/_link.ts";
import { stateFrames } from "../mesh/_state_sync.ts";
import {
  encodeBatch,
  encodeClose,
  encodeContent,
  encodeJsonFrame,
  encodeMembersFrame,
  encodeMessage,
  encodeReply,
  encodeSignal,
  encodeTime,
  encodeType,
  KIND_LEAVE,
  KIND_MEMBERS,
  KIND_PING,
  KIND_PONG,
  KIND_STATE,
  MEMBER_LIVE,
  REPLY_OK,
} from "../mesh/_protocol.ts";

function recorder(): { handler: FrameHandler; seen: unknown[][] } {
  const seen: unknown[][] = [];
  const handler: FrameHandler = {
    message: (type, content) => seen.push(["message", type, content]),
    request: (id, type) => seen.push(["request", id, type]),
    reply: (reply) => seen.push(["reply", reply.requestId, reply.status]),
    ping: (time) => seen.push(["ping", time]),
    pong: (time) => seen.push(["pong", time]),
    members: (entries) => seen.push(["members", entries.map((e) => e.id)]),
    state: (entries) => seen.push(["state", entries.map((e) => e[0])]),
    leave: () => seen.push(["leave"]),
    close: (reason) => seen.push(["close", reason.code]),
  };
  return { handler, seen };
}

Deno.test("dispatchFrame() hands every frame kind to its handler, decoded", () => {
  const { handler, seen } = recorder();
  const frames = [
    encodeMessage(encodeType("chat"), encodeContent({ text: "hi" })),
    encodeMessage(encodeType("add"), encodeContent([1, 2]), 7),
    encodeReply(7, REPLY_OK, encodeContent(3)),
    encodeTime(KIND_PING, 1.5),
    encodeTime(KIND_PONG, 2.5),
    encodeMembersFrame([{ id: "a", name: "a", host: "h", port: 1, beat: 0, state: MEMBER_LIVE }]),
    ...stateFrames([["k", 1, "a", 0, "v"]], false),
    encodeSignal(KIND_LEAVE),
  ];
  for (const frame of frames) dispatchFrame(frame, handler, 1 << 20);
  assert.deepEqual(seen, [
    ["message", "chat", { text: "hi" }],
    ["request", 7, "add"],
    ["reply", 7, REPLY_OK],
    ["ping", 1.5],
    ["pong", 2.5],
    ["members", ["a"]],
    ["state", ["k"]],
    ["leave"],
  ]);
});

Deno.test("dispatchFrame() unpacks a BATCH in order and refuses a nested one", () => {
  const { handler, seen } = recorder();
  const inner = [encodeTime(KIND_PING, 1), encodeSignal(KIND_LEAVE)];
  const batch = encodeBatch(inner, inner.reduce((n, f) => n + f.length, 0));
  dispatchFrame(batch, handler, 1 << 20);
  assert.deepEqual(seen, [["ping", 1], ["leave"]]);
  const nested = encodeBatch([batch], batch.length);
  assert.throws(() => dispatchFrame(nested, handler, 1 << 20), MeshSyntaxError);
});

Deno.test("dispatchFrame(): CLOSE reports the reason, then ends the link", () => {
  const { handler, seen } = recorder();
  const close = encodeClose("ERR_SLOW_PEER", "slow");
  assert.throws(() => dispatchFrame(close, handler, 1 << 20), LinkClosedByPeer);
  assert.deepEqual(seen, [["close", "ERR_SLOW_PEER"]]);
});

Deno.test("dispatchFrame() refuses unknown kinds and malformed bodies with ERR_INVALID_FRAME", () => {
  const { handler } = recorder();
  for (
    const bad of [
      new Uint8Array([0x7f]),
      new Uint8Array([KIND_PING, 1, 2]),
      encodeJsonFrame(KIND_MEMBERS, [["not", "a", "member"]]),
      encodeJsonFrame(KIND_STATE, { entries: [["k"]] }),
    ]
  ) {
    assert.throws(
      () => dispatchFrame(bad, handler, 1 << 20),
      (e) => e instanceof MeshSyntaxError && e.code === "ERR_INVALID_FRAME",
    );
  }
});
