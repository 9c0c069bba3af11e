import assert from "node:assert/strict";
import { until } from "./_tools/until.ts";
import { connect } from "../framed/mod.ts";
import { joinMesh, type Mesh, MeshError } from "../mesh/mod.ts";
import { PROTOCOL_VERSION } from "../mesh/_protocol.ts";
import { deadline } from "./_loopback.ts";

Deno.test("a member without the secret, or with a wrong one, is refused with ERR_BAD_SECRET", async () => {
  const a = await joinMesh({ name: "a", secret: "right" });
  const joins: string[] = [];
  a.addEventListener("peerjoin", (e) => joins.push(e.detail.name));
  try {
    for (const secret of [undefined, "wrong"]) {
      await assert.rejects(
        joinMesh({ name: "intruder", seeds: [a.addr], ...(secret ? { secret } : {}) }),
        (e: MeshError) => e instanceof MeshError && e.code === "ERR_BAD_SECRET",
      );
    }
    const b = await joinMesh({ name: "b", seeds: [a.addr], secret: "right" });
    await b.leave();
    assert.deepEqual(joins, ["b"]);
  } finally {
    await a.leave();
  }
});

Deno.test("a member of a mesh with a secret refuses one without it that dials in", async () => {
  const open = await joinMesh({ name: "open" });
  try {
    await assert.rejects(
      joinMesh({ name: "closed", seeds: [open.addr], secret: "s" }),
      (e: MeshError) => e.code === "ERR_BAD_SECRET",
    );
    assert.equal(open.peers.size, 0);
  } finally {
    await open.leave();
  }
});

/**
 * Sits between a (dialler) and b, forwarding whole frames, and can slip a
 * frame of its own into the a → b direction between two of a's frames.
 */
class InjectingProxy {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly port = this.listener.addr.port;
  #target: number;
  #conns = new Set<Deno.Conn>();
  #tasks = new Set<Promise<void>>();
  #injectors = new Set<(frame: Uint8Array) => void>();
  #accepting: Promise<void>;

  constructor(target: number) {
    this.#target = target;
    this.#accepting = (async () => {
      for await (const conn of this.listener) {
        const task = this.#serve(conn).catch(() => {});
        this.#tasks.add(task);
        task.finally(() => this.#tasks.delete(task));
      }
    })().catch(() => {});
  }

  /** Injects `payload` as one framed message into every a → b stream. */
  inject(payload: Uint8Array): void {
    const header = payload.length < 255 ? new Uint8Array([payload.length]) : new Uint8Array([
      255,
      ...new Uint8Array(new Uint32Array([payload.length]).buffer).reverse(),
    ]);
    const frame = new Uint8Array([...header, ...payload]);
    for (const inject of this.#injectors) inject(frame);
  }

  async #serve(client: Deno.Conn): Promise<void> {
    const upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
    this.#conns.add(client);
    this.#conns.add(upstream);
    let pending = new Uint8Array(0);
    let queued: Uint8Array[] = [];
    let writing = Promise.resolve();
    const write = (bytes: Uint8Array) => {
      writing = writing.then(async () => {
        let done = 0;
        while (done < bytes.length) done += await upstream.write(bytes.subarray(done));
      }).catch(() => {});
    };
    const injector = (frame: Uint8Array) => {
      if (pending.length === 0) write(frame);
      else queued.push(frame);
    };
    this.#injectors.add(injector);
    const forward = async () => {
      const buffer = new Uint8Array(65536);
      while (true) {
        const n = await client.read(buffer);
        if (n === null) break;
        const joined = new Uint8Array(pending.length + n);
        joined.set(pending);
        joined.set(buffer.subarray(0, n), pending.length);
        let offset = 0;
        while (offset < joined.length) {
          const first = joined[offset];
          const head = first < 255 ? 1 : 5;
          if (offset + head > joined.length) break;
          const length = first < 255
            ? first
            : new DataView(joined.buffer, offset + 1, 4).getUint32(0);
          if (offset + head + length > joined.length) break;
          offset += head + length;
        }
        if (offset > 0) write(joined.slice(0, offset));
        pending = joined.slice(offset);
        if (pending.length === 0 && queued.length > 0) {
          for (const frame of queued) write(frame);
          queued = [];
        }
      }
    };
    const backward = async () => {
      const buffer = new Uint8Array(65536);
      while (true) {
        const n = await upstream.read(buffer);
        if (n === null) break;
        let done = 0;
        while (done < n) done += await client.write(buffer.subarray(done, n));
      }
    };
    try {
      await Promise.race([forward(), backward()]);
    } catch {
      /* closed */
    } finally {
      this.#injectors.delete(injector);
      await writing;
      for (const c of [client, upstream]) {
        this.#conns.delete(c);
        try {
          c.close();
        } catch { /* closed */ }
      }
    }
  }

  async close(): Promise<void> {
    this.listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await this.#accepting;
    await Promise.allSettled([...this.#tasks]);
  }
}

/** A MSG frame of type "chat" with JSON content "forged" (see mesh/_protocol.ts). */
function forgedMessage(): Uint8Array {
  const type = new TextEncoder().encode("chat");
  const body = new TextEncoder().encode('"forged"');
  return new Uint8Array([0x10, 0, 0, type.length, ...type, ...body]);
}

async function injectionScenario(secret?: string): Promise<{ forgedFromA: number; legit: number }> {
  const options = {
    heartbeatInterval: 100,
    suspectTimeout: 1000,
    deadTimeout: 2000,
    reconnectInterval: 100,
    ...(secret ? { secret } : {}),
  };
  // b sits behind the proxy; a joins b through it, so a's connection to b crosses it.
  const b = await joinMesh({ name: "b", ...options });
  const proxy = new InjectingProxy(b.addr.port);
  let a: Mesh | undefined;
  try {
    const realPort = b.addr.port;
    a = await joinMesh({
      name: "a",
      seeds: [{ hostname: "127.0.0.1", port: proxy.port }],
      ...options,
    });
    assert.equal(realPort, b.addr.port);
    let forgedFromA = 0;
    let legit = 0;
    b.addEventListener("message", (e) => {
      if (e.detail.content === "forged" && e.detail.from === a!.id) forgedFromA++;
      if (e.detail.content === "legit") legit++;
    });
    proxy.inject(forgedMessage());
    await new Promise((r) => setTimeout(r, 300));
    // a's messages still reach b afterwards (over a fresh connection if the old one was dropped).
    await until(() => b.peers.get(a!.id)?.connected === true, 5000, "a and b connected again");
    await until(() => a!.peers.get(b.id)?.connected === true, 5000, "a and b connected again");
    await a.send(b.id, "chat", "legit");
    await until(() => legit === 1, 5000, "the legit message");
    return { forgedFromA, legit };
  } finally {
    await a?.leave();
    await b.leave();
    await proxy.close();
  }
}

Deno.test("without a secret a frame slipped into a connection is taken as the member's own (the attack is real)", async () => {
  const { forgedFromA } = await injectionScenario();
  assert.equal(forgedFromA, 1);
});

Deno.test("with a secret a frame slipped into a connection is rejected, so `from` cannot be forged", async () => {
  const { forgedFromA, legit } = await injectionScenario("s3cret");
  assert.equal(forgedFromA, 0);
  assert.equal(legit, 1);
});

Deno.test("a second connection claiming the id of a live member is refused and the real one keeps working", async () => {
  const a = await joinMesh({ name: "a" });
  const b = await joinMesh({ name: "b", seeds: [a.addr] });
  const conn = await connect({
    hostname: "127.0.0.1",
    port: b.addr.port,
    sendType: "bytes",
    receiveType: "bytes",
    reconnect: false,
  });
  try {
    const hello = {
      v: PROTOCOL_VERSION,
      id: a.id,
      name: "impostor",
      host: "127.0.0.1",
      port: 1,
      nonce: "x",
      auth: false,
    };
    await conn.send(new Uint8Array([0x01, ...new TextEncoder().encode(JSON.stringify(hello))]));
    const reader = conn.readable.getReader();
    const { value } = await deadline(reader.read(), 2000, "the answer");
    reader.releaseLock();
    assert.equal(value![0], 0x05); // REJECT
    assert.equal(JSON.parse(new TextDecoder().decode(value!.subarray(1))).code, "ERR_DUPLICATE");
    const got = new Promise((resolve) =>
      b.addEventListener("message", (e) => resolve([e.detail.peer.name, e.detail.content]), {
        once: true,
      })
    );
    await a.send(b.id, "x", "still me");
    assert.deepEqual(await deadline(got, 2000, "message"), ["a", "still me"]);
  } finally {
    await conn.close();
    await Promise.all([a.leave(), b.leave()]);
  }
});

Deno.test("garbage on a member's port is refused and the mesh keeps working", async () => {
  const a = await joinMesh({ name: "a" });
  const b = await joinMesh({ name: "b", seeds: [a.addr] });
  try {
    for (
      const payload of [[0x01, 0x7b], [0x10, 1, 2], [0x01, ...new TextEncoder().encode('{"v":1}')]]
    ) {
      const conn = await connect({
        hostname: "127.0.0.1",
        port: a.addr.port,
        sendType: "bytes",
        receiveType: "bytes",
        reconnect: false,
      });
      await conn.send(new Uint8Array(payload));
      const reader = conn.readable.getReader();
      await deadline(
        reader.read().catch(() => ({ done: true })),
        2000,
        "the member to answer or hang up",
      );
      reader.releaseLock();
      await conn.close();
    }
    const got = new Promise((resolve) =>
      a.addEventListener("message", (e) => resolve(e.detail.content), { once: true })
    );
    await b.broadcast("x", "ok");
    assert.equal(await deadline(got, 2000, "message"), "ok");
    assert.equal(a.peers.size, 1);
  } finally {
    await Promise.all([a.leave(), b.leave()]);
  }
});

Deno.test("joinMesh() rejects with ERR_NAME_TAKEN for a name in use", async () => {
  const a = await joinMesh({ name: "a" });
  const b = await joinMesh({ name: "b", seeds: [a.addr] });
  try {
    for (const name of ["a", "b"]) {
      await assert.rejects(
        joinMesh({ name, seeds: [a.addr] }),
        (e: MeshError) => e.code === "ERR_NAME_TAKEN",
      );
    }
    assert.equal(a.peers.size, 1);
  } finally {
    await Promise.all([a.leave(), b.leave()]);
  }
});

Deno.test("joinMesh() rejects with ERR_SEED_UNREACHABLE when no seed answers, and with the signal's reason when aborted", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = closed.addr;
  closed.close();
  await assert.rejects(
    joinMesh({ name: "x", seeds: [{ hostname: "127.0.0.1", port }], timeout: 400 }),
    (e: MeshError) => e.code === "ERR_SEED_UNREACHABLE",
  );
  await assert.rejects(
    joinMesh({
      name: "x",
      seeds: [{ hostname: "127.0.0.1", port }],
      signal: AbortSignal.timeout(200),
    }),
    (e: DOMException) => e.name === "TimeoutError",
  );
});

Deno.test("allowAddress decides which gossiped addresses are dialled", async () => {
  const a = await joinMesh({ name: "a" });
  const asked: number[] = [];
  const refuse = (port: number) => (addr: { port: number }) => {
    asked.push(addr.port);
    return addr.port !== port;
  };
  const b = await joinMesh({ name: "b", seeds: [a.addr] });
  const c = await joinMesh({ name: "c", seeds: [a.addr], allowAddress: refuse(b.addr.port) });
  try {
    // b does dial c (b allows it); refusing only stops c from dialling b.
    assert.ok(asked.includes(b.addr.port));
    await until(() => c.peers.size === 2, 3000, "b to dial c");
  } finally {
    await Promise.all([a.leave(), b.leave(), c.leave()]);
  }
});
