import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { joinMesh, type Mesh, MeshError, MeshRangeError } from "../mesh/mod.ts";
import { deadline } from "./_loopback.ts";

async function trio(options: Record<string, unknown> = {}): Promise<Mesh[] & AsyncDisposable> {
  const a = await joinMesh({ name: "a", ...options });
  const b = await joinMesh({ name: "b", seeds: [a.addr], ...options });
  const c = await joinMesh({ name: "c", seeds: [b.addr], ...options });
  const all = [a, b, c] as Mesh[] & AsyncDisposable;
  all[Symbol.asyncDispose] = async () => {
    await Promise.all(all.map((m) => m.leave()));
  };
  return all;
}

function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

Deno.test("joinMesh() resolves once connected to every member it learned of", async () => {
  await using all = await trio();
  const [a, b, c] = all;
  assert.equal(c.peers.size, 2);
  assert.deepEqual([...c.peers.values()].map((p) => p.name).sort(), ["a", "b"]);
  assert.notEqual(a.id, a.name);
  await deadline(
    (async () => {
      while (a.peers.size < 2 || b.peers.size < 2) await new Promise((r) => setTimeout(r, 10));
    })(),
    2000,
    "a and b to see c",
  );
  assert.equal(c.peers.get(a.id)?.name, "a");
});

Deno.test("a 50 MB message arrives intact with a secret in use", async () => {
  const options = { maxMessageSize: 64 * 1024 * 1024, secret: "s3cret" };
  const a = await joinMesh({ name: "a", ...options });
  const b = await joinMesh({ name: "b", seeds: [a.addr], ...options });
  try {
    const big = new Uint8Array(50 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    big[big.length - 1] = 7;
    const received = new Promise<{ type: string; content: unknown; from: string }>((resolve) =>
      b.addEventListener("message", (e) => resolve(e.detail), { once: true })
    );
    await a.send(b.id, "blob", big);
    const got = await deadline(received, 30_000, "the 50 MB message");
    assert.equal(got.type, "blob");
    assert.equal(got.from, a.id);
    assert.ok(got.content instanceof Uint8Array);
    assert.equal((got.content as Uint8Array).length, big.length);
    assert.equal(digest(got.content as Uint8Array), digest(big));
  } finally {
    await Promise.all([a.leave(), b.leave()]);
  }
});

Deno.test("100 000 small messages from each of two senders arrive intact and in order per sender", async () => {
  await using all = await trio();
  const [a, b, c] = all;
  const count = 100_000;
  const next = new Map<string, number>();
  let disorder = 0;
  const done = Promise.withResolvers<void>();
  a.addEventListener("message", (e) => {
    const { from, content } = e.detail;
    const { seq, text } = content as { seq: number; text: string };
    if (seq !== (next.get(from) ?? 0) || text !== `m${seq}`) disorder++;
    next.set(from, seq + 1);
    if (next.get(b.id) === count && next.get(c.id) === count) done.resolve();
  });
  const sendAll = async (sender: Mesh) => {
    let window: Promise<void>[] = [];
    for (let seq = 0; seq < count; seq++) {
      window.push(sender.send(a.id, "seq", { seq, text: `m${seq}` }));
      if (window.length === 500) {
        await Promise.all(window);
        window = [];
      }
    }
    await Promise.all(window);
  };
  await Promise.all([sendAll(b), sendAll(c)]);
  await deadline(done.promise, 30_000, "200 000 messages");
  assert.equal(disorder, 0);
  assert.equal(next.get(b.id), count);
  assert.equal(next.get(c.id), count);
});

Deno.test("broadcast() reaches every other member once, JSON and bytes alike", async () => {
  await using all = await trio();
  const [a, b, c] = all;
  const seen: string[] = [];
  for (const m of [a, b]) {
    m.addEventListener("message", (e) => {
      const content = e.detail.content;
      seen.push(
        `${m.name}:${e.detail.peer.name}:${e.detail.type}:${
          content instanceof Uint8Array ? `bytes${content.length}` : JSON.stringify(content)
        }`,
      );
    });
  }
  await c.broadcast("json", { n: 1 });
  await c.broadcast("bytes", new Uint8Array([1, 2, 3]));
  await c.broadcast("nothing");
  await deadline(
    (async () => {
      while (seen.length < 6) await new Promise((r) => setTimeout(r, 10));
    })(),
    2000,
    "broadcasts",
  );
  assert.deepEqual(
    seen.sort(),
    [
      'a:c:json:{"n":1}',
      "a:c:bytes:bytes3",
      "a:c:nothing:undefined",
      'b:c:json:{"n":1}',
      "b:c:bytes:bytes3",
      "b:c:nothing:undefined",
    ].sort(),
  );
});

Deno.test("send() rejects with MeshRangeError above maxMessageSize and with MeshError for unknown peers", async () => {
  const a = await joinMesh({ name: "a", maxMessageSize: 1024 });
  const b = await joinMesh({ name: "b", seeds: [a.addr], maxMessageSize: 1024 });
  try {
    await assert.rejects(a.send(b.id, "x", new Uint8Array(1025)), MeshRangeError);
    await assert.rejects(a.broadcast("x", "y".repeat(2000)), (e: MeshRangeError) => {
      assert.equal(e.code, "ERR_MESSAGE_TOO_LARGE");
      return true;
    });
    await assert.rejects(a.send("nobody", "x", 1), (e: MeshError) => {
      assert.equal(e.code, "ERR_UNKNOWN_PEER");
      return true;
    });
    // The connection is unharmed.
    const got = new Promise((resolve) =>
      b.addEventListener("message", (e) => resolve(e.detail.content), { once: true })
    );
    await a.send(b.id, "x", "fine");
    assert.equal(await deadline(got, 2000, "message"), "fine");
  } finally {
    await Promise.all([a.leave(), b.leave()]);
  }
});

Deno.test("request() resolves to the handler's answer and rejects with typed errors", async (t) => {
  await using all = await trio();
  const [a, b] = all;
  using _add = a.onRequest<[number, number]>(
    "add",
    ([x, y], from) => ({ sum: x + y, asker: from.name }),
  );
  a.onRequest("fail", () => {
    throw new Error("Handler broke");
  });
  a.onRequest("slow", () => new Promise((resolve) => setTimeout(() => resolve("late"), 300)));

  await t.step("answer", async () => {
    assert.deepEqual(await b.request(a.id, "add", [2, 3]), { sum: 5, asker: "b" });
  });
  await t.step("no handler", async () => {
    await assert.rejects(b.request(a.id, "nope", 1), (e: MeshError) => {
      assert.equal(e.code, "ERR_NO_HANDLER");
      return true;
    });
  });
  await t.step("handler throws", async () => {
    await assert.rejects(b.request(a.id, "fail", 1), (e: MeshError) => {
      assert.equal(e.code, "ERR_REMOTE_HANDLER");
      assert.match(e.message, /Handler broke/);
      return true;
    });
  });
  await t.step("aborted by the signal", async () => {
    await assert.rejects(
      b.request(a.id, "slow", 1, { signal: AbortSignal.timeout(50) }),
      (e: DOMException) => e.name === "TimeoutError",
    );
    await new Promise((r) => setTimeout(r, 300));
  });
});

Deno.test('leave() makes the others report peerleave with reason "leave" and rejects requests in flight', async () => {
  await using all = await trio();
  const [a, b, c] = all;
  b.onRequest("hang", () => new Promise(() => {}));
  const leaves: string[] = [];
  a.addEventListener("peerleave", (e) => leaves.push(`${e.detail.name}:${e.detail.reason}`));
  const pending = c.request(b.id, "hang", null);
  const rejected = assert.rejects(pending, (e: MeshError) => e.code === "ERR_PEER_LEFT");
  await b.leave();
  await rejected;
  await deadline(
    (async () => {
      while (leaves.length < 1) await new Promise((r) => setTimeout(r, 10));
    })(),
    2000,
    "peerleave",
  );
  assert.deepEqual(leaves, ["b:leave"]);
  assert.equal(a.peers.size, 1);
  await assert.rejects(b.broadcast("x", 1), (e: MeshError) => e.code === "ERR_MESH_CLOSED");
});

Deno.test("mesh.state: a joiner gets the full state, changes replicate and concurrent writes converge", async (t) => {
  const a = await joinMesh({ name: "a" });
  a.state.set("score", 10);
  a.state.set("gone", 1);
  a.state.delete("gone");
  const b = await joinMesh({ name: "b", seeds: [a.addr] });
  try {
    const settle = () => new Promise((r) => setTimeout(r, 200));
    await t.step("full sync on join, deletes included", async () => {
      await deadline(
        (async () => {
          while (b.state.get("score") !== 10) await new Promise((r) => setTimeout(r, 10));
        })(),
        2000,
        "state sync",
      );
      assert.equal(b.state.has("gone"), false);
      assert.deepEqual(b.state.toJSON(), { score: 10 });
    });
    await t.step("changes replicate with change events", async () => {
      const changes: unknown[] = [];
      a.state.addEventListener("change", (e) => changes.push(e.detail));
      b.state.set("level", { n: 2 });
      await settle();
      assert.deepEqual(a.state.get("level"), { n: 2 });
      assert.deepEqual(changes, [{
        key: "level",
        value: { n: 2 },
        previous: undefined,
        deleted: false,
        from: b.id,
        local: false,
      }]);
    });
    await t.step("concurrent writes converge on both members", async () => {
      a.state.set("winner", "a");
      b.state.set("winner", "b");
      await settle();
      assert.equal(a.state.get("winner"), b.state.get("winner"));
      b.state.delete("winner");
      await settle();
      assert.equal(a.state.has("winner"), false);
    });
  } finally {
    await Promise.all([a.leave(), b.leave()]);
  }
});

Deno.test("a slow messages() reader holds the sender back instead of growing memory", async () => {
  const a = await joinMesh({ name: "a" });
  const b = await joinMesh({ name: "b", seeds: [a.addr], inboxSize: 64 });
  try {
    const inbox = b.messages();
    const chunk = new Uint8Array(16 * 1024);
    let sent = 0;
    let stop = false;
    const sending = (async () => {
      while (!stop) {
        await a.send(b.id, "data", chunk);
        sent++;
      }
    })();
    await new Promise((r) => setTimeout(r, 1000));
    const early = sent;
    await new Promise((r) => setTimeout(r, 1000));
    // Nothing was read: the sender is stuck once the inbox and the socket
    // buffers are full, and what it holds is bounded.
    assert.equal(sent, early, `sender kept going: ${early} -> ${sent}`);
    assert.ok(sent * chunk.length < 32 * 1024 * 1024, `${sent} messages got out`);
    assert.ok(b.peers.get(a.id)!.connected && !b.peers.get(a.id)!.suspect);
    assert.ok(a.peers.get(b.id)!.bufferedAmount <= 2 * chunk.length);
    // Reading drains it and everything arrives, in order.
    stop = true;
    let received = 0;
    const draining = (async () => {
      for await (const message of inbox) {
        assert.equal(message.from, a.id);
        received++;
      }
    })();
    await deadline(sending, 10_000, "the sender to finish");
    await deadline(
      (async () => {
        while (received < sent) await new Promise((r) => setTimeout(r, 10));
      })(),
      10_000,
      "every message to be read",
    );
    await inbox.return!();
    await draining;
    assert.equal(received, sent);
  } finally {
    await Promise.all([a.leave(), b.leave()]);
  }
});

Deno.test("leave() does not wait for a request handler that never answers", async () => {
  const a = await joinMesh({ name: "a" });
  const b = await joinMesh({ name: "b", seeds: [a.addr] });
  const started = Promise.withResolvers<void>();
  a.onRequest("hang", () => {
    started.resolve();
    return new Promise(() => {});
  });
  const pending = b.request(a.id, "hang", null);
  const rejected = assert.rejects(pending, MeshError);
  await deadline(started.promise, 2000, "the handler to run");
  await deadline(a.leave(), 3000, "leave() with a hanging handler");
  await rejected;
  await b.leave();
});
