/**
 * The websocket module's shape (issue 14): one error family whose every
 * code is documented, and no import circle between its files.
 */

import assert from "node:assert/strict";
import { serve, WebSocketTypeError } from "../websocket/mod.ts";
import { connect } from "../websocket/mod.ts";
import { LOOPBACK4 } from "./_loopback.ts";

const MODULE = new URL("../websocket/", import.meta.url);

Deno.test("every code of WebSocketErrorCode is in the README's error tables", async () => {
  const errors = await Deno.readTextFile(new URL("errors.ts", MODULE));
  const union = errors.slice(errors.indexOf("export type WebSocketErrorCode"));
  const codes = [...union.slice(0, union.indexOf(";")).matchAll(/"(ERR_[A-Z0-9_]+)"/g)].map((
    match,
  ) => match[1]);
  assert.ok(codes.length > 30, `found ${codes.length} codes`);
  const readme = await Deno.readTextFile(new URL("README.md", MODULE));
  const missing = codes.filter((code) => !readme.includes(`\`${code}\``));
  assert.deepEqual(missing, [], "codes missing from websocket/README.md");
});

Deno.test("every error code the websocket files use is in WebSocketErrorCode", async () => {
  const errors = await Deno.readTextFile(new URL("errors.ts", MODULE));
  const used = new Set<string>();
  for await (const entry of Deno.readDir(MODULE)) {
    if (!entry.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, MODULE));
    for (const match of text.matchAll(/"(ERR_[A-Z0-9_]+)"/g)) used.add(match[1]);
  }
  const missing = [...used].filter((code) => !errors.includes(`| "${code}"`));
  assert.deepEqual(missing, [], "codes used but not in the union");
});

Deno.test("the websocket files import each other without a circle", async () => {
  const graph = new Map<string, string[]>();
  for await (const entry of Deno.readDir(MODULE)) {
    if (!entry.name.endsWith(".ts")) continue;
    const text = (await Deno.readTextFile(new URL(entry.name, MODULE)))
      .replace(/\/\*[\s\S]*?\*\//g, ""); // JSDoc examples import too
    const imports = [...text.matchAll(/^\s*(?:import|export)[^;]*?from\s+"\.\/([^"]+)"/gms)]
      .map((match) => match[1]);
    graph.set(entry.name, imports);
  }
  const state = new Map<string, "visiting" | "done">();
  const circles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "visiting") {
      circles.push([...path.slice(path.indexOf(file)), file].join(" → "));
      return;
    }
    state.set(file, "visiting");
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(circles, []);
});

Deno.test("a beginBinary() chunk that is not bytes rejects with WebSocketTypeError ERR_INVALID_ARG_TYPE", async () => {
  await using server = serve({ hostname: LOOPBACK4, port: 0 });
  (async () => {
    for await (const conn of server) void conn.readable.pipeTo(new WritableStream());
  })();
  await using ws = await connect(`ws://127.0.0.1:${server.addr.port}/`, { engine: "rfc6455" });
  const writer = ws.beginBinary().getWriter();
  await assert.rejects(
    writer.write("text" as unknown as Uint8Array),
    (error: unknown) =>
      error instanceof WebSocketTypeError && error.code === "ERR_INVALID_ARG_TYPE",
  );
  writer.releaseLock();
});
