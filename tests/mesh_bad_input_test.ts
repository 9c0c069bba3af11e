import assert from "node:assert/strict";
import { joinMesh, type Mesh, MeshError, MeshTypeError } from "../mesh/mod.ts";
import { deadline } from "./_loopback.ts";

function isContentError(code: "ERR_INVALID_CONTENT" | "ERR_INVALID_ARGUMENT") {
  return (error: unknown) => {
    assert.ok(error instanceof MeshTypeError, `${error}`);
    assert.ok(error instanceof TypeError);
    assert.equal(error.code, code);
    return true;
  };
}

/** Values JSON would silently drop or change. */
function badValues(): [string, unknown][] {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  let deep: unknown = 1;
  for (let i = 0; i < 600; i++) deep = [deep];
  return [
    ["a function", () => 1],
    ["a symbol", Symbol("s")],
    ["a bigint", 10n],
    ["a Map", new Map([["a", 1]])],
    ["a Set", new Set([1])],
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["a Map inside an object", { players: new Map() }],
    ["a function inside an array", [1, () => 2]],
    ["undefined inside an array", [1, undefined]],
    ["a circular object", circular],
    ["nesting 600 levels deep", deep],
    ["a RegExp", /x/],
    ["an Error", new Error("x")],
  ];
}

async function pair(): Promise<[Mesh, Mesh, unknown[]]> {
  const a = await joinMesh({ name: "a" });
  const b = await joinMesh({ name: "b", seeds: [a.addr] });
  const received: unknown[] = [];
  a.addEventListener("message", (e) => received.push(e.detail.content));
  return [a, b, received];
}

Deno.test("broadcast(), send() and request() reject content that cannot travel as JSON with ERR_INVALID_CONTENT, sending nothing", async (t) => {
  const [a, b, received] = await pair();
  try {
    a.onRequest("echo", (content) => content);
    await t.step(
      "an explicit undefined is refused; content left out still sends none",
      async () => {
        await assert.rejects(b.broadcast("t", undefined), isContentError("ERR_INVALID_CONTENT"));
        await assert.rejects(b.send(a.id, "t", undefined), isContentError("ERR_INVALID_CONTENT"));
        await assert.rejects(
          b.request(a.id, "echo", undefined, {}),
          isContentError("ERR_INVALID_CONTENT"),
        );
        await b.broadcast("nothing");
      },
    );
    await t.step("functions, Maps, NaN, cycles and the like are refused", async () => {
      for (const [what, value] of badValues()) {
        await assert.rejects(b.broadcast("t", value), isContentError("ERR_INVALID_CONTENT"), what);
        await assert.rejects(b.send(a.id, "t", value), isContentError("ERR_INVALID_CONTENT"), what);
        await assert.rejects(
          b.request(a.id, "echo", value),
          isContentError("ERR_INVALID_CONTENT"),
          what,
        );
      }
    });
    await t.step(
      "a type that is not a string, or bad request options, is ERR_INVALID_ARGUMENT",
      async () => {
        await assert.rejects(
          b.broadcast(42 as unknown as string, 1),
          isContentError("ERR_INVALID_ARGUMENT"),
        );
        await assert.rejects(
          b.send(a.id, null as unknown as string, 1),
          isContentError("ERR_INVALID_ARGUMENT"),
        );
        await assert.rejects(
          b.request(a.id, "echo", 1, null as unknown as object),
          isContentError("ERR_INVALID_ARGUMENT"),
        );
        await assert.rejects(
          b.request(a.id, "echo", 1, { signal: "soon" as unknown as AbortSignal }),
          isContentError("ERR_INVALID_ARGUMENT"),
        );
        await assert.rejects(
          b.broadcast("x".repeat(70_000), 1),
          isContentError("ERR_INVALID_ARGUMENT"),
        );
      },
    );
    await t.step("JSON, bytes and objects with toJSON still go through", async () => {
      const when = new Date(0);
      const answer = await b.request(a.id, "echo", { when, skip: undefined });
      assert.deepEqual(answer, { when: when.toJSON() });
      await b.send(a.id, "t", new Uint8Array([1, 2]));
      await deadline(
        (async () => {
          while (received.length < 2) await new Promise((r) => setTimeout(r, 5));
        })(),
        2000,
        "the two good messages",
      );
      // Only the content-less broadcast and the bytes arrived: nothing refused got out.
      assert.deepEqual(received, [undefined, new Uint8Array([1, 2])]);
    });
  } finally {
    await Promise.all([a.leave(), b.leave()]);
  }
});

Deno.test("state.set() rejects values that are not JSON with ERR_INVALID_CONTENT and keys that are not strings with ERR_INVALID_ARGUMENT", async () => {
  const [a, b] = await pair();
  try {
    for (const [what, value] of [...badValues(), ["undefined", undefined] as [string, unknown]]) {
      assert.throws(() => b.state.set("k", value), isContentError("ERR_INVALID_CONTENT"), what);
    }
    assert.throws(
      () => b.state.set("k", new Uint8Array(2)),
      isContentError("ERR_INVALID_CONTENT"),
    );
    assert.throws(
      () => b.state.set(7 as unknown as string, 1),
      isContentError("ERR_INVALID_ARGUMENT"),
    );
    assert.equal(b.state.size, 0);
    b.state.set("ok", { at: new Date(0) });
    await deadline(
      (async () => {
        while (!a.state.has("ok")) await new Promise((r) => setTimeout(r, 5));
      })(),
      2000,
      "the good key to replicate",
    );
    assert.deepEqual(a.state.toJSON(), { ok: { at: new Date(0).toJSON() } });
  } finally {
    await Promise.all([a.leave(), b.leave()]);
  }
});

Deno.test("onRequest() checks its arguments, and an answer that is not JSON reaches the asker as ERR_REMOTE_HANDLER", async () => {
  const [a, b] = await pair();
  try {
    assert.throws(
      () => a.onRequest(3 as unknown as string, () => 1),
      isContentError("ERR_INVALID_ARGUMENT"),
    );
    assert.throws(
      () => a.onRequest("t", "answer" as unknown as () => unknown),
      isContentError("ERR_INVALID_ARGUMENT"),
    );
    using _handler = a.onRequest("players", () => new Map([["alice", 1]]));
    await assert.rejects(
      b.request(a.id, "players", null),
      (e: MeshError) =>
        e instanceof MeshError && e.code === "ERR_REMOTE_HANDLER" && /Map/.test(e.message),
    );
  } finally {
    await Promise.all([a.leave(), b.leave()]);
  }
});
