/**
 * mesh/_link_reader.ts on its own: the frames of one link are read in
 * order and handed to the right hooks, PINGs are answered, RTTs smoothed,
 * a LEAVE ends the reading, garbage closes the link telling the peer why,
 * and reading pauses while the inbox is full. An in-memory link and a fake
 * clock; no sockets, no timers.
 */
import assert from "node:assert/strict";
import { type LinkReaderHooks, type ReadableLink, readLink } from "../mesh/_link_reader.ts";
import { MeshSyntaxError } from "../mesh/mod.ts";
import { stateFrames } from "../mesh/_state_sync.ts";
import {
  encodeContent,
  encodeMembersFrame,
  encodeMessage,
  encodeReply,
  encodeSignal,
  encodeTime,
  encodeType,
  KIND_LEAVE,
  KIND_PING,
  KIND_PONG,
  MEMBER_LIVE,
  MEMBERS_PER_FRAME,
  REPLY_OK,
  type WireMember,
} from "../mesh/_protocol.ts";

/** A link whose incoming frames the test writes and whose outgoing frames it reads. */
class MemoryLink implements ReadableLink {
  readonly open = true;
  handling = 0;
  lastHeard = 0;
  rtt = NaN;
  leaving = false;
  remoteClose?: string;
  readonly failure: unknown = undefined;
  posted: Uint8Array[] = [];
  closedWith?: Error & { code: string };
  #pipe = new TransformStream<Uint8Array, Uint8Array>();
  #reader = this.#pipe.readable.getReader();
  #writer = this.#pipe.writable.getWriter();

  /** The peer sends `frame`. */
  receive(frame: Uint8Array): void {
    this.#writer.write(frame);
  }
  /** The peer hangs up. */
  end(): void {
    this.#writer.close();
  }
  async read(): Promise<Uint8Array | null> {
    const { value, done } = await this.#reader.read();
    return done ? null : value;
  }
  post(frame: Uint8Array): Promise<void> {
    this.posted.push(frame);
    return Promise.resolve();
  }
  closeWith(error: Error & { code: string }): Promise<void> {
    this.closedWith = error;
    return Promise.resolve();
  }
}

interface Peer {
  id: string;
  link?: MemoryLink;
  lastHeard: number;
  suspect: boolean;
}

function setUp() {
  const clock = { now: 0 };
  const seen: unknown[][] = [];
  const inbox = { full: false, drained: Promise.withResolvers<void>() };
  const ended = Promise.withResolvers<unknown>();
  const hooks: LinkReaderHooks<MemoryLink, Peer> = {
    stateFrameLimit: 1 << 20,
    now: () => clock.now,
    inboxFull: () => inbox.full,
    inboxDrained: () => inbox.drained.promise,
    deliver: (_m, type, content) => seen.push(["message", type, content]),
    answer: (_l, _m, id, type) => seen.push(["request", id, type]),
    settle: (_m, reply) => seen.push(["reply", reply.requestId]),
    members: (_m, _l, entries, last) => seen.push(["members", entries.length, last]),
    state: (entries) => seen.push(["state", entries.map((e) => e[0])]),
    fault: (error) => seen.push(["fault", error.code]),
    track: () => {},
    ended: (_m, _l, error) => ended.resolve(error),
  };
  const link = new MemoryLink();
  const member: Peer = { id: "a", link, lastHeard: 0, suspect: true };
  return { clock, seen, inbox, ended: ended.promise, hooks, link, member };
}

const message = (type: string, content: unknown, requestId?: number) =>
  encodeMessage(encodeType(type), encodeContent(content), requestId);

function wireMembers(count: number): WireMember[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `id${i}`,
    name: `n${i}`,
    host: "127.0.0.1",
    port: 5000 + i,
    beat: 1,
    state: MEMBER_LIVE,
  }));
}

Deno.test("readLink() hands each frame to its hook in order until the peer hangs up", async () => {
  const { seen, ended, hooks, link, member } = setUp();
  const reading = readLink(member, link, hooks);
  link.receive(message("chat", { text: "hi" }));
  link.receive(message("ask", 1, 7));
  link.receive(encodeReply(3, REPLY_OK, encodeContent(2)));
  link.receive(encodeMembersFrame(wireMembers(MEMBERS_PER_FRAME)));
  link.receive(encodeMembersFrame(wireMembers(2)));
  link.receive(stateFrames([["score", 1, "a", 0, 10]], false)[0]);
  link.end();
  await reading;
  assert.deepEqual(seen, [
    ["message", "chat", { text: "hi" }],
    ["request", 7, "ask"],
    ["reply", 3],
    ["members", MEMBERS_PER_FRAME, false],
    ["members", 2, true],
    ["state", ["score"]],
  ]);
  assert.equal(await ended, undefined);
  assert.equal(member.suspect, false, "hearing from a member clears the suspicion");
});

Deno.test("readLink() answers a PING with a PONG and smooths the RTT from PONGs", async () => {
  const { clock, hooks, link, member } = setUp();
  const reading = readLink(member, link, hooks);
  link.receive(encodeTime(KIND_PING, 123));
  clock.now = 100;
  link.receive(encodeTime(KIND_PONG, 60));
  link.end();
  await reading;
  assert.deepEqual(link.posted, [encodeTime(KIND_PONG, 123)]);
  assert.equal(link.rtt, 40);
  const again = setUp();
  again.link.rtt = 40;
  again.clock.now = 100;
  const second = readLink(again.member, again.link, again.hooks);
  again.link.receive(encodeTime(KIND_PONG, 0));
  again.link.end();
  await second;
  assert.equal(again.link.rtt, 40 * 0.8 + 100 * 0.2);
});

Deno.test("readLink() stops reading after LEAVE and marks the link as leaving", async () => {
  const { seen, ended, hooks, link, member } = setUp();
  const reading = readLink(member, link, hooks);
  link.receive(encodeSignal(KIND_LEAVE));
  link.receive(message("late", 1));
  await reading;
  assert.equal(link.leaving, true);
  assert.deepEqual(seen, []);
  assert.equal(await ended, undefined);
});

Deno.test("readLink() closes the link telling the peer why when it sends garbage", async () => {
  const { seen, ended, hooks, link, member } = setUp();
  const reading = readLink(member, link, hooks);
  link.receive(new Uint8Array([0xee]));
  await reading;
  assert.deepEqual(seen, [["fault", "ERR_INVALID_FRAME"]]);
  assert.ok(link.closedWith instanceof MeshSyntaxError);
  assert.equal(await ended, link.closedWith);
});

Deno.test("readLink() does not read while the inbox is full", async () => {
  const { seen, inbox, hooks, link, member } = setUp();
  inbox.full = true;
  const reading = readLink(member, link, hooks);
  link.receive(message("chat", 1));
  await new Promise((resolve) => queueMicrotask(() => resolve(null)));
  assert.deepEqual(seen, [], "nothing is read while full");
  inbox.full = false;
  inbox.drained.resolve();
  link.end();
  await reading;
  assert.deepEqual(seen, [["message", "chat", 1]]);
});
