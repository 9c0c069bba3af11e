/**
 * mesh/_peer_links.ts on its own: a link handed in from a handshake makes
 * the member a peer (`peerjoin`), sends it the member list, the state and a
 * PING, and delivers what it sends; a LEAVE ends it with `peerleave`, a lost
 * link keeps the peer (it will be redialled) and fails its requests. Real
 * links over an in-memory duplex pair and a fake clock; no sockets, no
 * timers.
 */
import assert from "node:assert/strict";
import { Link } from "../mesh/_link.ts";
import type { Membership } from "../mesh/_membership.ts";
import { PeerLinks } from "../mesh/_peer_links.ts";
import {
  encodeContent,
  encodeMembersFrame,
  encodeMessage,
  encodeSignal,
  encodeType,
  forEachFrame,
  KIND_BATCH,
  KIND_LEAVE,
  KIND_MEMBERS,
  KIND_PING,
  KIND_STATE,
} from "../mesh/_protocol.ts";
import { MeshError, MeshSyntaxError } from "../mesh/mod.ts";
import type { MeshMessage, MeshPeerEventDetail } from "../mesh/types.ts";
import { duplexPair, memberTable } from "./_tools/mesh_memory.ts";

function setUp() {
  const clock = { now: 0 };
  const members = memberTable<Link>(() => clock.now);
  const events: string[] = [];
  const delivered: MeshMessage[] = [];
  const failed: unknown[] = [];
  const tasks: Promise<unknown>[] = [];
  const joins = { linked: 0, heard: 0 };
  let closed = false;
  const links = new PeerLinks({
    members,
    reconnectInterval: 2000,
    stateFrameLimit: 1 << 20,
    now: () => clock.now,
    isClosed: () => closed,
    emit: (event) => {
      const detail = (event as CustomEvent<Partial<MeshPeerEventDetail>>).detail;
      events.push([event.type, detail.name, detail.reason].filter(Boolean).join(":"));
    },
    track: (task) => tasks.push(task),
    stateSnapshot: () => [["score", 1, "m", 0, 10]],
    mergeState: () => {},
    inbox: { full: false, whenDrained: () => Promise.resolve(), deliver: (m) => delivered.push(m) },
    answer: () => {},
    requests: { settle: () => {}, failPeer: (_id, reason) => failed.push(reason()) },
    linked: () => joins.linked++,
    heardMembers: () => joins.heard++,
  });
  return {
    members,
    links,
    events,
    delivered,
    failed,
    joins,
    close: () => closed = true,
    settled: () => Promise.all(tasks),
  };
}

/** Connects member `id` of `members` over an in-memory pair; returns the remote end. */
function connect(members: Membership<Link>, id: string, name: string) {
  const member = members.add(id, name, "127.0.0.1", 5000, 0);
  const [local, remote] = duplexPair();
  const link = new Link(local, local.readable.getReader(), true, {
    maxFrameSize: 1 << 20,
    maxQueuedBytes: 1 << 20,
  });
  return { member, link, remote, reader: remote.readable.getReader() };
}

/** Reads `count` frames at the remote end (unpacking batches); returns their kinds. */
async function kinds(reader: ReadableStreamDefaultReader<Uint8Array>, count: number) {
  const seen: number[] = [];
  while (seen.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    if (value[0] === KIND_BATCH) forEachFrame(value, (frame) => seen.push(frame[0]));
    else seen.push(value[0]);
  }
  return seen;
}

const message = (type: string, content: unknown) =>
  encodeMessage(encodeType(type), encodeContent(content));

Deno.test("PeerLinks.established() makes the member a peer and sends it the list, the state and a PING", async () => {
  const { members, links, events, joins, settled } = setUp();
  const { member, link, remote, reader } = connect(members, "a", "alice");
  links.established(member, link);
  assert.equal(links.peers.get("a")?.name, "alice");
  assert.deepEqual(events, ["peerjoin:alice"]);
  assert.equal(joins.linked, 1);
  assert.deepEqual(await kinds(reader, 3), [KIND_MEMBERS, KIND_STATE, KIND_PING]);
  await remote.send(encodeSignal(KIND_LEAVE));
  await settled();
});

Deno.test("PeerLinks delivers a peer's messages and tells the join when its member list is complete", async () => {
  const { members, links, events, delivered, joins, settled } = setUp();
  const { member, link, remote } = connect(members, "a", "alice");
  links.established(member, link);
  await remote.send(message("chat", "hi"));
  await remote.send(encodeMembersFrame([]));
  await remote.send(encodeSignal(KIND_LEAVE));
  await settled();
  assert.deepEqual(delivered.map((m) => [m.from, m.type, m.content, m.peer.name]), [
    ["a", "chat", "hi", "alice"],
  ]);
  assert.equal(joins.heard, 1);
  assert.deepEqual(events, ["peerjoin:alice", "message", "peerleave:alice:leave"]);
});

Deno.test("PeerLinks: a LEAVE ends the peer, a lost link keeps it and fails its pending requests", async (t) => {
  await t.step("LEAVE", async () => {
    const { members, links, failed, settled } = setUp();
    const { member, link, remote } = connect(members, "a", "alice");
    links.established(member, link);
    await remote.send(encodeSignal(KIND_LEAVE));
    await settled();
    assert.equal(links.peers.size, 0);
    assert.equal(member.left, true);
    assert.equal((failed[0] as MeshError).code, "ERR_PEER_LEFT");
  });
  await t.step("lost", async () => {
    const { members, links, events, failed, settled } = setUp();
    const { member, link, remote } = connect(members, "a", "alice");
    links.established(member, link);
    await remote.writable.abort();
    await settled();
    assert.ok(links.peers.has("a"), "the peer stays while it is redialled");
    assert.equal(member.link, undefined);
    assert.deepEqual(events, ["peerjoin:alice"]);
    assert.ok(failed[0] instanceof MeshError);
    assert.match((failed[0] as MeshError).message, /Connection to "alice" was lost/);
  });
});

Deno.test("PeerLinks.linkTo() names why there is no link", async () => {
  const { members, links, settled } = setUp();
  assert.throws(() => links.linkTo("nobody"), (e: MeshError) => e.code === "ERR_UNKNOWN_PEER");
  const { member, link, remote } = connect(members, "a", "alice");
  links.established(member, link);
  assert.equal(links.linkTo("a"), link);
  await remote.writable.abort();
  await settled();
  assert.throws(() => links.linkTo("a"), (e: MeshError) => e.code === "ERR_PEER_LEFT");
});

Deno.test("PeerLinks.connectionError() reports only a peer's faults, and only while open", () => {
  const { links, events, close } = setUp();
  const [conn] = duplexPair();
  links.connectionError(new Error("ordinary end"), conn);
  links.connectionError(new MeshSyntaxError("ERR_INVALID_FRAME", "garbage"), conn, "a");
  close();
  links.connectionError(new MeshSyntaxError("ERR_INVALID_FRAME", "garbage"), conn, "a");
  assert.deepEqual(events, ["connectionerror"]);
});

Deno.test("PeerLinks.forget() drops the member and its link (peerleave, reason replaced)", async () => {
  const { members, links, events, settled } = setUp();
  const { member, link } = connect(members, "a", "alice");
  links.established(member, link);
  links.forget(member, "replaced");
  await settled();
  assert.equal(members.get("a"), undefined);
  assert.equal(link.open, false);
  assert.deepEqual(events, ["peerjoin:alice", "peerleave:alice:replaced"]);
});
