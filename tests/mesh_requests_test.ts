/**
 * mesh/_requests.ts on its own: request ids, settling by REPLY, aborts,
 * failing a peer's requests, and the answering side's bound, over an
 * in-memory reply channel. No sockets, no timers.
 */
import assert from "node:assert/strict";
import { MeshError, MeshPeer, MeshRangeError } from "../mesh/mod.ts";
import { PendingRequests, type ReplyChannel, RequestHandlers } from "../mesh/_requests.ts";
import {
  decodeContent,
  decodeReply,
  encodeContent,
  REPLY_BUSY,
  REPLY_ERROR,
  REPLY_NO_HANDLER,
  REPLY_OK,
} from "../mesh/_protocol.ts";

function reply(requestId: number, status: number, content: unknown) {
  const { enc, body } = encodeContent(content);
  return { requestId, status, enc, body };
}

Deno.test("PendingRequests resolves a request with the REPLY from the peer asked, only", async () => {
  const requests = new PendingRequests();
  const { id, answer } = requests.open("bob");
  requests.settle("mallory", reply(id, REPLY_OK, "forged"));
  assert.equal(requests.size, 1);
  requests.settle("bob", reply(id, REPLY_OK, 42));
  assert.equal(await answer, 42);
  assert.equal(requests.size, 0);
});

Deno.test("PendingRequests maps the refusal statuses to MeshError / MeshRangeError codes", async () => {
  const requests = new PendingRequests();
  for (
    const [status, code, kind] of [
      [REPLY_NO_HANDLER, "ERR_NO_HANDLER", MeshError],
      [REPLY_BUSY, "ERR_TOO_MANY_REQUESTS", MeshRangeError],
      [REPLY_ERROR, "ERR_REMOTE_HANDLER", MeshError],
    ] as const
  ) {
    const { id, answer } = requests.open("bob");
    requests.settle("bob", reply(id, status, "why"));
    await assert.rejects(answer, (e) => e instanceof kind && e.code === code);
  }
});

Deno.test("PendingRequests: an abort rejects with the signal's reason and forgets the request", async () => {
  const requests = new PendingRequests();
  const controller = new AbortController();
  const { answer } = requests.open("bob", controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(answer, /stop/);
  assert.equal(requests.size, 0);
});

Deno.test("PendingRequests.failPeer() rejects that peer's requests and keeps the others", async () => {
  const requests = new PendingRequests();
  const toBob = requests.open("bob");
  const toCarol = requests.open("carol");
  assert.notEqual(toBob.id, toCarol.id);
  requests.failPeer("bob", () => new Error("bob left"));
  await assert.rejects(toBob.answer, /bob left/);
  assert.equal(requests.size, 1);
  requests.failAll(new Error("leaving"));
  await assert.rejects(toCarol.answer, /leaving/);
});

class MemoryChannel implements ReplyChannel {
  open = true;
  handling = 0;
  sent: ReturnType<typeof decodeReply>[] = [];
  post(frame: Uint8Array): Promise<void> {
    this.sent.push(decodeReply(frame));
    return Promise.resolve();
  }
}

Deno.test("RequestHandlers answers, refuses unknown types, and bounds requests in flight", async () => {
  const abort = new AbortController();
  const tasks: Promise<unknown>[] = [];
  const handlers = new RequestHandlers({
    maxRequestsInFlight: 1,
    maxMessageSize: 1024,
    signal: abort.signal,
    track: (task) => tasks.push(task),
  });
  const channel = new MemoryChannel();
  const peer = new MeshPeer("id", "bob", { hostname: "h", port: 1 }, () => ({
    rtt: 0,
    suspect: false,
    connected: true,
    bufferedAmount: 0,
    lastHeard: 0,
  }));
  const gate = Promise.withResolvers<number>();
  using _ = handlers.register("add", () => gate.promise);
  const { enc, body } = encodeContent([1, 2]);
  handlers.answer(channel, peer, 1, "add", enc, body);
  handlers.answer(channel, peer, 2, "add", enc, body); // over the bound
  handlers.answer(channel, peer, 3, "nope", enc, body);
  assert.deepEqual(channel.sent.map((r) => [r.requestId, r.status]), [
    [2, REPLY_BUSY],
    [3, REPLY_NO_HANDLER],
  ]);
  gate.resolve(3);
  await Promise.all(tasks);
  const last = channel.sent.at(-1)!;
  assert.deepEqual([last.requestId, last.status, decodeContent(last.enc, last.body)], [
    1,
    REPLY_OK,
    3,
  ]);
  assert.equal(channel.handling, 0);
});

Deno.test("RequestHandlers turns a too large answer into an error reply", async () => {
  const tasks: Promise<unknown>[] = [];
  const handlers = new RequestHandlers({
    maxRequestsInFlight: 4,
    maxMessageSize: 16,
    signal: new AbortController().signal,
    track: (task) => tasks.push(task),
  });
  const channel = new MemoryChannel();
  const peer = {} as MeshPeer;
  using _ = handlers.register("big", () => "x".repeat(100));
  const { enc, body } = encodeContent(null);
  handlers.answer(channel, peer, 9, "big", enc, body);
  await Promise.all(tasks);
  assert.equal(channel.sent[0].status, REPLY_ERROR);
  assert.match(String(decodeContent(channel.sent[0].enc, channel.sent[0].body)), /cannot be sent/);
});
