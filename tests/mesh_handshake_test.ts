/**
 * mesh/_handshake.ts on its own: both sides of HELLO → ACK → PROOF → READY
 * over an in-memory duplex pair, with a fake clock: the MAC set-up, the
 * refusals and the timeout. No sockets, no processes, no real timers.
 */
import assert from "node:assert/strict";
import { type AcceptHooks, type HandshakeEnv, Handshaker, Refusal } from "../mesh/_handshake.ts";
import { decodeReject, encodeJsonFrame, KIND_HELLO, KIND_REJECT } from "../mesh/_protocol.ts";
import { duplexPair } from "./_tools/mesh_memory.ts";

/** A clock that moves only when told to. */
class FakeClock {
  now = 0;
  #timers = new Set<{ at: number; fn: () => void }>();
  after = (ms: number, fn: () => void): () => void => {
    const timer = { at: this.now + ms, fn };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  };
  advance(ms: number): void {
    this.now += ms;
    for (const timer of [...this.#timers]) {
      if (timer.at > this.now) continue;
      this.#timers.delete(timer);
      timer.fn();
    }
  }
  get pending(): number {
    return this.#timers.size;
  }
}

function env(clock: FakeClock, id: string, name: string, secret?: string): HandshakeEnv {
  return {
    id,
    name,
    host: "",
    port: 4000,
    secret,
    timeout: 5000,
    now: () => clock.now,
    after: clock.after,
    track: () => {},
  };
}

const welcome: AcceptHooks = {
  holdsSlot: () => true,
  isClosed: () => false,
  admit: () => undefined,
  confirm: () => undefined,
};
const dialHooks = { isClosed: () => false, nameFree: () => true };

Deno.test("Handshaker: both sides finish with the other's identity and matching frame MACs", async () => {
  const clock = new FakeClock();
  const [dialerEnd, acceptorEnd] = duplexPair();
  const acceptor = new Handshaker(env(clock, "b", "bob", "s3cret"));
  const dialer = new Handshaker(env(clock, "a", "alice", "s3cret"));
  const [accepted, dialled] = await Promise.all([
    acceptor.accept(acceptorEnd, welcome),
    dialer.dial(dialerEnd, "10.0.0.2", "b", dialHooks),
  ]);
  assert.ok(accepted);
  // An empty advertised host means "the address you see me at".
  assert.deepEqual(accepted.peer, { id: "a", name: "alice", host: "10.0.0.1", port: 4000 });
  assert.deepEqual(dialled.peer, { id: "b", name: "bob", host: "10.0.0.2", port: 4000 });
  const frame = new Uint8Array([1, 2, 3]);
  assert.deepEqual(accepted.receiveMac!.open(dialled.sendMac!.seal(frame)), frame);
  assert.deepEqual(dialled.receiveMac!.open(accepted.sendMac!.seal(frame)), frame);
  assert.equal(clock.pending, 0); // every deadline cancelled
  accepted.reader.releaseLock();
  dialled.reader.releaseLock();
});

Deno.test("Handshaker: without a secret there are no MACs", async () => {
  const clock = new FakeClock();
  const [dialerEnd, acceptorEnd] = duplexPair();
  const [accepted, dialled] = await Promise.all([
    new Handshaker(env(clock, "b", "bob")).accept(acceptorEnd, welcome),
    new Handshaker(env(clock, "a", "alice")).dial(dialerEnd, "h", undefined, dialHooks),
  ]);
  assert.equal(accepted?.sendMac, undefined);
  assert.equal(dialled.receiveMac, undefined);
});

Deno.test("Handshaker: a wrong secret is refused with ERR_BAD_SECRET on both sides", async () => {
  const clock = new FakeClock();
  const [dialerEnd, acceptorEnd] = duplexPair();
  const [accepted, dialled] = await Promise.allSettled([
    new Handshaker(env(clock, "b", "bob", "one")).accept(acceptorEnd, welcome),
    new Handshaker(env(clock, "a", "alice", "two")).dial(dialerEnd, "h", undefined, dialHooks),
  ]);
  assert.equal(dialled.status, "rejected");
  assert.ok(dialled.reason instanceof Refusal);
  assert.equal(dialled.reason.reject.code, "ERR_BAD_SECRET");
  assert.equal(accepted.status, "rejected");
  assert.equal((accepted.reason as Refusal).reject.code, "ERR_BAD_SECRET");
});

Deno.test("Handshaker: admit() decides membership; its refusal reaches the dialer as a Refusal", async () => {
  const clock = new FakeClock();
  const [dialerEnd, acceptorEnd] = duplexPair();
  const seen: string[] = [];
  const [accepted, dialled] = await Promise.allSettled([
    new Handshaker(env(clock, "b", "bob")).accept(acceptorEnd, {
      ...welcome,
      admit: (hello) => {
        seen.push(hello.name);
        return { code: "ERR_MESH_FULL", message: "Too many members" };
      },
    }),
    new Handshaker(env(clock, "a", "alice")).dial(dialerEnd, "h", undefined, dialHooks),
  ]);
  assert.deepEqual(seen, ["alice"]);
  assert.deepEqual(accepted, { status: "fulfilled", value: undefined });
  assert.equal((dialled as PromiseRejectedResult).reason.reject.code, "ERR_MESH_FULL");
  // The refusal gets 200 ms to leave, then the connection goes.
  assert.equal(acceptorEnd.aborted, false);
  clock.advance(200);
  assert.equal(acceptorEnd.aborted, true);
});

Deno.test("Handshaker: a HELLO of another protocol version is refused with ERR_PROTOCOL_VERSION", async () => {
  const clock = new FakeClock();
  const [raw, acceptorEnd] = duplexPair();
  const accepted = new Handshaker(env(clock, "b", "bob")).accept(acceptorEnd, welcome);
  await raw.send(encodeJsonFrame(KIND_HELLO, {
    v: 999,
    id: "x",
    name: "x",
    host: "",
    port: 1,
    nonce: "n",
    auth: false,
  }));
  assert.equal(await accepted, undefined);
  const reader = raw.readable.getReader();
  const { value } = await reader.read();
  assert.equal(value![0], KIND_REJECT);
  assert.equal(decodeReject(value!).code, "ERR_PROTOCOL_VERSION");
  reader.releaseLock();
});

Deno.test("Handshaker: a dialer that never sends HELLO is dropped at the deadline with a TimeoutError", async () => {
  const clock = new FakeClock();
  const [, acceptorEnd] = duplexPair();
  const accepted = new Handshaker(env(clock, "b", "bob")).accept(acceptorEnd, welcome);
  await Promise.resolve();
  clock.advance(4999);
  assert.equal(acceptorEnd.aborted, false);
  clock.advance(1);
  await assert.rejects(accepted, (e) => e instanceof DOMException && e.name === "TimeoutError");
  assert.equal(acceptorEnd.aborted, true);
});

Deno.test("Handshaker: the dialer refuses a member whose name a live member holds", async () => {
  const clock = new FakeClock();
  const [dialerEnd, acceptorEnd] = duplexPair();
  const [accepted, dialled] = await Promise.allSettled([
    new Handshaker(env(clock, "b", "bob")).accept(acceptorEnd, welcome),
    new Handshaker(env(clock, "a", "alice")).dial(dialerEnd, "h", undefined, {
      ...dialHooks,
      nameFree: (name) => name !== "bob",
    }),
  ]);
  assert.equal((dialled as PromiseRejectedResult).reason.reject.code, "ERR_DUPLICATE_NAME");
  assert.equal((accepted as PromiseRejectedResult).reason.reject.code, "ERR_NAME_TAKEN");
});
