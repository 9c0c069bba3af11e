import assert from "node:assert/strict";
import { until } from "./_tools/until.ts";
import { connect } from "../framed/mod.ts";
import {
  joinMesh,
  type Mesh,
  type MeshConnectionErrorDetail,
  type MeshError,
  MeshRangeError,
  MeshState,
} from "../mesh/mod.ts";
import { GossipAdmission } from "../mesh/_admission.ts";
import { HandshakeSlots } from "../mesh/_handshake_slots.ts";
import { fragment, Reassembler } from "../mesh/_fragment.ts";
import { stateFrames } from "../mesh/_state_sync.ts";
import {
  decodeJsonBody,
  encodeJsonFrame,
  KIND_FRAGMENT,
  KIND_HELLO,
  KIND_MEMBERS,
  KIND_PROOF,
  KIND_REJECT,
  PROOF_SIZE,
  PROTOCOL_VERSION,
  WIRE_FRAME_LIMIT,
} from "../mesh/_protocol.ts";
import { rawMember } from "./redteam/attacks/mesh.ts";
import { deadline } from "./_loopback.ts";

function connectionErrors(mesh: Mesh): MeshConnectionErrorDetail[] {
  const seen: MeshConnectionErrorDetail[] = [];
  mesh.addEventListener("connectionerror", (e) => seen.push(e.detail));
  return seen;
}

function isLimit(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof MeshRangeError, `${error}`);
    assert.ok(error instanceof RangeError);
    assert.equal(error.code, code);
    return true;
  };
}

Deno.test("MeshState enforces maxStateValueSize, maxStateKeysPerMember, maxStateBytes and maxStateEntries with ERR_STATE_LIMIT", () => {
  const published: unknown[] = [];
  const state = new MeshState("me", (entries) => published.push(...entries), {
    maxEntries: 4,
    maxValueSize: 100,
    maxKeysPerMember: 2,
    maxBytes: 150,
  });
  assert.throws(() => state.set("big", "x".repeat(100)), isLimit("ERR_STATE_LIMIT"));
  state.set("a", "x".repeat(60));
  state.set("b", 1);
  assert.throws(() => state.set("c", 1), isLimit("ERR_STATE_LIMIT")); // a third key of "me"
  state.set("a", "y".repeat(60)); // overwriting is no new key
  // Another member's entries: the total budget is 150 bytes.
  assert.throws(
    () => state.merge([["x", 1, "other", 0, 5], ["y", 2, "other", 0, "z".repeat(80)]]),
    isLimit("ERR_STATE_LIMIT"),
  );
  assert.equal(state.get("x"), 5, "entries before the offending one are applied");
  assert.equal(state.has("y"), false);
  assert.throws(
    () => state.merge([["w", 1, "third", 0, 1], ["v", 1, "fourth", 0, 1]]),
    isLimit("ERR_STATE_LIMIT"),
  );
  assert.equal(state.size, 4);
  assert.ok(state.bytes <= 150);
  assert.equal(published.length, 3);
});

Deno.test("frames over 64 KiB travel in pieces and are joined up to the limit, no further", () => {
  const frame = new Uint8Array(150 * 1024).map((_, i) => i & 0xff);
  const pieces = fragment(frame);
  assert.equal(pieces.length, 3);
  for (const piece of pieces) {
    assert.equal(piece[0], KIND_FRAGMENT);
    assert.ok(piece.length + 16 <= WIRE_FRAME_LIMIT);
  }
  const joined = new Reassembler(frame.length);
  assert.equal(joined.push(pieces[0]), undefined);
  assert.equal(joined.push(pieces[1]), undefined);
  assert.deepEqual(joined.push(pieces[2]), frame);
  const small = new Reassembler(100 * 1024);
  small.push(pieces[0]);
  assert.throws(() => small.push(pieces[1]), MeshRangeError);
  assert.throws(() => small.push(new Uint8Array([KIND_FRAGMENT, 7, 1])), /Malformed fragment/);
});

Deno.test("a state larger than one control frame is cut into STATE frames under the limit", () => {
  const big = "v".repeat(600 * 1024);
  const entries: [string, number, string, 0 | 1, unknown][] = [
    ["a", 1, "n", 0, big],
    ["b", 2, "n", 0, big],
    ["c", 3, "n", 0, big],
    ...Array.from(
      { length: 50 },
      (_, i) => [`s${i}`, i, "n", 0, i] as [string, number, string, 0, number],
    ),
  ];
  const frames = stateFrames(entries, true);
  assert.equal(frames.length, 3);
  const back = frames.flatMap((frame) => {
    assert.ok(frame.length <= 1 << 20);
    const body = decodeJsonBody(frame) as { full: boolean; entries: unknown[] };
    assert.equal(body.full, true);
    return body.entries;
  });
  assert.deepEqual(back, entries);
});

Deno.test("GossipAdmission holds a bounded number of unverified entries per source and flags a source of unreachable ones", () => {
  const admission = new GossipAdmission({ maxUnverified: 2, maxUnreachable: 1 });
  assert.ok(admission.admit("s"));
  assert.ok(admission.admit("s"));
  assert.equal(admission.admit("s"), false);
  assert.ok(admission.admit("t"), "other sources keep their own quota");
  admission.release("s");
  assert.ok(admission.admit("s"));
  assert.equal(admission.unreachable("s"), false);
  assert.equal(admission.unreachable("s"), true);
  admission.forget("s");
  assert.equal(admission.waiting("s"), 0);
});

Deno.test("HandshakeSlots evicts the oldest handshake beyond its bound", () => {
  const evicted: string[] = [];
  const slots = new HandshakeSlots<string>(2, (item) => evicted.push(item));
  slots.admit("a");
  slots.admit("b");
  slots.release("a");
  slots.admit("c");
  assert.deepEqual(evicted, []);
  slots.admit("d");
  assert.deepEqual(evicted, ["b"]);
  assert.equal(slots.has("b"), false);
  assert.ok(slots.has("c") && slots.has("d"));
  assert.equal(slots.size, 2);
});

Deno.test("a HELLO announcing more than the wire limit is refused from its length header with ERR_MESSAGE_TOO_LARGE", async () => {
  await using mesh = await joinMesh({ name: "target" });
  const errors = connectionErrors(mesh);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: mesh.addr.port });
  await conn.write(new Uint8Array([0xff, 0x01, 0x00, 0x00, 0x00, KIND_HELLO]));
  // The member hangs up without waiting for the 16 MiB body.
  const buffer = new Uint8Array(64);
  const read = await deadline(conn.read(buffer).catch(() => null), 2000, "the hang-up");
  assert.equal(read, null);
  await until(() => errors.length > 0, 1000, "the connectionerror event");
  assert.equal(errors[0].error.code, "ERR_MESSAGE_TOO_LARGE");
  assert.ok(errors[0].error instanceof MeshRangeError);
});

function helloFrame(name: string): Uint8Array {
  return encodeJsonFrame(KIND_HELLO, {
    v: PROTOCOL_VERSION,
    id: crypto.randomUUID().replaceAll("-", ""),
    name,
    host: "127.0.0.1",
    port: 1,
    nonce: "00",
    auth: false,
  });
}

function dialRaw(mesh: Mesh) {
  return connect({
    hostname: "127.0.0.1",
    port: mesh.addr.port,
    framing: "length",
    sendType: "bytes",
    receiveType: "bytes",
    reconnect: false,
  });
}

Deno.test("beyond maxPendingHandshakes the oldest handshake is dropped with ERR_HANDSHAKE_LIMIT", async () => {
  await using mesh = await joinMesh({ name: "target", maxPendingHandshakes: 2 });
  const errors = connectionErrors(mesh);
  await using first = await dialRaw(mesh);
  await using _second = await dialRaw(mesh);
  await until(() => true, 50, "");
  await using _third = await dialRaw(mesh);
  const reader = first.readable.getReader();
  const frame = await deadline(reader.read(), 2000, "the refusal");
  assert.equal(frame.value?.[0], KIND_REJECT);
  assert.equal((decodeJsonBody(frame.value!) as { code: string }).code, "ERR_HANDSHAKE_LIMIT");
  reader.releaseLock();
  assert.equal(errors[0]?.error.code, "ERR_HANDSHAKE_LIMIT");
  // Members still get in.
  await using joiner = await joinMesh({ name: "joiner", seeds: [mesh.addr] });
  assert.equal(joiner.peers.size, 1);
});

Deno.test("a handshake that never finishes does not take a member slot", async () => {
  await using mesh = await joinMesh({ name: "target", maxMembers: 1 });
  await using stalled = await dialRaw(mesh);
  await stalled.send(helloFrame("stalled"));
  const reader = stalled.readable.getReader();
  await deadline(reader.read(), 2000, "the ACK"); // and no PROOF ever
  reader.releaseLock();
  await using member = await joinMesh({ name: "member", seeds: [mesh.addr], timeout: 2000 });
  assert.equal(member.peers.size, 1);
  // maxMembers still holds for members that finish their handshake.
  await assert.rejects(
    joinMesh({ name: "one-too-many", seeds: [mesh.addr], timeout: 500 }),
    (e: MeshError) => e.code === "ERR_SEED_UNREACHABLE",
  );
});

Deno.test("a member gossiping unreachable members is cut off with ERR_MEMBER_LIMIT and fills no slots", async () => {
  await using mesh = await joinMesh({ name: "target", maxMembers: 8, maxUnreachableMembers: 4 });
  const errors = connectionErrors(mesh);
  const liar = await rawMember(mesh.addr);
  try {
    const fakes = Array.from({ length: 20 }, (_, i) => [
      crypto.randomUUID().replaceAll("-", ""),
      `fake${i}`,
      "127.0.0.1",
      2 + i,
      1,
      0,
    ]);
    await liar.conn.send(encodeJsonFrame(KIND_MEMBERS, fakes));
    await deadline(liar.ended, 3000, "the liar to be cut off");
    assert.deepEqual(liar.codes, ["ERR_MEMBER_LIMIT"]);
    assert.equal(errors[0]?.error.code, "ERR_MEMBER_LIMIT");
    assert.equal(errors[0]?.peerId, liar.id);
    for (const peer of mesh.peers.values()) assert.ok(!peer.name.startsWith("fake"));
    await using member = await joinMesh({ name: "member", seeds: [mesh.addr], timeout: 2000 });
    assert.ok(member.peers.has(mesh.id));
  } finally {
    await liar.close();
  }
});

Deno.test("a state entry over maxStateValueSize closes only the writer's connection with ERR_STATE_LIMIT", async () => {
  await using strict = await joinMesh({ name: "strict", maxStateValueSize: 1024 });
  const errors = connectionErrors(strict);
  await using lax = await joinMesh({ name: "lax", seeds: [strict.addr] });
  await using other = await joinMesh({ name: "other", seeds: [strict.addr] });
  lax.state.set("big", "x".repeat(2000));
  await until(() => errors.length > 0, 2000, "the connectionerror event");
  assert.equal(errors[0].error.code, "ERR_STATE_LIMIT");
  assert.equal(errors[0].peerId, lax.id);
  assert.equal(strict.state.has("big"), false);
  other.state.set("small", 1);
  await until(() => strict.state.get("small") === 1, 2000, "the other member's write");
  assert.ok(strict.peers.get(other.id)?.connected);
});

Deno.test("a peer that does not read loses its connection with ERR_SLOW_PEER and broadcast() does not wait for it", async () => {
  await using mesh = await joinMesh({
    name: "sender",
    maxQueuedBytes: 2 * 1024 * 1024,
    maxMessageSize: 1024 * 1024,
  });
  const errors = connectionErrors(mesh);
  await using reader = await joinMesh({ name: "reader", seeds: [mesh.addr] });
  let received = 0;
  reader.addEventListener("message", () => received++);
  // A member that completes its handshake and then never reads again.
  await using stuck = await dialRaw(mesh);
  await stuck.send(helloFrame("stuck"));
  const stuckReader = stuck.readable.getReader();
  await stuckReader.read();
  const proof = new Uint8Array(1 + PROOF_SIZE);
  proof[0] = KIND_PROOF;
  await stuck.send(proof);
  await stuckReader.read();
  await until(() => mesh.peers.size === 2, 2000, "the stuck member to be in");
  const chunk = new Uint8Array(256 * 1024);
  await deadline(
    (async () => {
      for (let i = 0; i < 128; i++) await mesh.broadcast("data", chunk);
    })(),
    10_000,
    "128 broadcasts of 256 KiB",
  );
  await until(() => errors.length > 0, 2000, "the connectionerror event");
  assert.equal(errors[0].error.code, "ERR_SLOW_PEER");
  await until(() => received === 128, 5000, "every broadcast at the reading member");
  stuckReader.releaseLock();
});

Deno.test("requests beyond maxRequestsInFlight from one peer are refused at once with ERR_TOO_MANY_REQUESTS", async () => {
  await using answerer = await joinMesh({ name: "answerer", maxRequestsInFlight: 2 });
  await using asker = await joinMesh({ name: "asker", seeds: [answerer.addr] });
  const release = Promise.withResolvers<void>();
  using _slow = answerer.onRequest("slow", async () => {
    await release.promise;
    return "done";
  });
  const first = asker.request(answerer.id, "slow", 1);
  const second = asker.request(answerer.id, "slow", 2);
  await assert.rejects(
    deadline(asker.request(answerer.id, "slow", 3), 2000, "the refusal"),
    (e: MeshRangeError) => e instanceof MeshRangeError && e.code === "ERR_TOO_MANY_REQUESTS",
  );
  release.resolve();
  assert.deepEqual(await Promise.all([first, second]), ["done", "done"]);
  assert.equal(await asker.request(answerer.id, "slow", 4), "done");
});

Deno.test("members that dialled in with an address nobody can reach do not get an honest member cut off", async () => {
  await using target = await joinMesh({ name: "target" });
  const liars = await Promise.all([1, 2, 3].map(() => rawMember(target.addr)));
  try {
    await until(() => target.peers.size === 3, 2000, "the three to be in");
    await using joiner = await joinMesh({
      name: "joiner",
      seeds: [target.addr],
      maxUnreachableMembers: 1,
    });
    const errors = connectionErrors(joiner);
    // The joiner tried the three (port 1: refused) and holds nothing against the target.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(errors, []);
    assert.ok(joiner.peers.get(target.id)?.connected);
  } finally {
    await Promise.all(liars.map((liar) => liar.close()));
  }
});
