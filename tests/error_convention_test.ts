/**
 * Guards the one error design every module follows (issue 14): a module
 * exports one `<Module>ErrorCode` union and at most four classes named
 * `<Module>Error`, `<Module>TypeError`, `<Module>RangeError` and
 * `<Module>SyntaxError`, each built from `(code, message, options)`; its
 * README lists every code; and its source uses no code outside the unions it
 * may see.
 */
import assert from "node:assert/strict";

interface ModuleUnderTest {
  /** The folder. */
  readonly dir: string;
  /** The class-name prefix. */
  readonly prefix: string;
  /** The public entry files whose exports are checked. */
  readonly entries: readonly string[];
}

const MODULES: readonly ModuleUnderTest[] = [
  { dir: "enet", prefix: "Enet", entries: ["mod.ts"] },
  { dir: "framed", prefix: "Framed", entries: ["mod.ts"] },
  { dir: "websocket", prefix: "WebSocket", entries: ["mod.ts"] },
  { dir: "mesh", prefix: "Mesh", entries: ["mod.ts"] },
  { dir: "webrtc", prefix: "WebRtc", entries: ["mod.ts", "slave.ts", "client.ts"] },
  { dir: "cluster", prefix: "Cluster", entries: ["mod.ts"] },
];

const BUILT_INS = new Map<string, ErrorConstructor>([
  ["Error", Error],
  ["TypeError", TypeError],
  ["RangeError", RangeError],
  ["SyntaxError", SyntaxError],
]);

const ROOT = new URL("../", import.meta.url);
const CODE_LITERAL = /["'`](ERR_[A-Z0-9_]+)["'`]/g;

function read(path: string): string {
  return Deno.readTextFileSync(new URL(path, ROOT));
}

/** The string literals of `export type <Prefix>ErrorCode = | "…" | …;`. */
function codesOf(module: ModuleUnderTest): Set<string> {
  const source = read(`${module.dir}/errors.ts`);
  const start = source.indexOf(`export type ${module.prefix}ErrorCode =`);
  assert.notEqual(start, -1, `${module.dir}/errors.ts exports no ${module.prefix}ErrorCode union`);
  const end = source.indexOf(";", start);
  const union = source.slice(start, end);
  return new Set([...union.matchAll(CODE_LITERAL)].map((match) => match[1]));
}

/** Every non-test `.ts` file of a module, generated bundles excepted. */
function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(new URL(`${dir}/`, ROOT))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    if (entry.name.endsWith("_test.ts") || entry.name === "_client_bundle.ts") continue;
    files.push(`${dir}/${entry.name}`);
  }
  return files.sort();
}

/** The modules a module's source imports (`../<dir>/…`). */
function importedModules(dir: string): Set<string> {
  const imported = new Set<string>();
  for (const file of sourceFiles(dir)) {
    for (const match of read(file).matchAll(/from "\.\.\/([a-z]+)\//g)) {
      if (match[1] !== "_common") imported.add(match[1]);
    }
  }
  return imported;
}

function isErrorClass(value: unknown): value is new (...args: unknown[]) => Error {
  return typeof value === "function" && value.prototype instanceof Error;
}

Deno.test("every module exports only <Module>Error, TypeError, RangeError and SyntaxError classes built from (code, message, options)", async (t) => {
  for (const module of MODULES) {
    await t.step(module.dir, async () => {
      const seen = new Set<string>();
      for (const entry of module.entries) {
        const exports: Record<string, unknown> = await import(
          new URL(`${module.dir}/${entry}`, ROOT).href
        );
        for (const [name, value] of Object.entries(exports)) {
          if (!isErrorClass(value)) continue;
          seen.add(name);
          assert.ok(
            !(value.prototype instanceof DOMException),
            `${module.dir}/${entry} exports ${name}, a DOMException subclass; aborts and timeouts are plain DOMExceptions`,
          );
          const kind = name.startsWith(module.prefix) ? name.slice(module.prefix.length) : "";
          const builtIn = BUILT_INS.get(kind);
          assert.ok(
            builtIn,
            `${module.dir}/${entry} exports ${name}; error classes are named ${module.prefix}Error, ${module.prefix}TypeError, ${module.prefix}RangeError or ${module.prefix}SyntaxError`,
          );
          assert.equal(Object.getPrototypeOf(value), builtIn, `${name} extends ${kind} directly`);
          const cause = new Error("underneath");
          const error = new value("ERR_SOME_CODE", "what went wrong", { cause });
          assert.equal(error.name, name);
          assert.equal(error.message, "what went wrong");
          assert.equal((error as Error & { code: string }).code, "ERR_SOME_CODE");
          assert.equal(error.cause, cause);
        }
      }
      assert.ok(seen.size > 0, `${module.dir} exports no error class`);
    });
  }
});

Deno.test("every module README lists every code of its error union", async (t) => {
  for (const module of MODULES) {
    await t.step(module.dir, () => {
      const readme = read(`${module.dir}/README.md`);
      const missing = [...codesOf(module)].filter((code) => !readme.includes("`" + code + "`"));
      assert.deepEqual(missing, [], `${module.dir}/README.md does not list these codes`);
    });
  }
});

Deno.test("module source uses no error code outside its own union and the unions of the modules it imports", async (t) => {
  const codes = new Map(MODULES.map((module) => [module.dir, codesOf(module)]));
  for (const module of MODULES) {
    await t.step(module.dir, () => {
      const allowed = new Set(codes.get(module.dir));
      for (const dir of importedModules(module.dir)) {
        for (const code of codes.get(dir) ?? []) allowed.add(code);
      }
      const strays: string[] = [];
      const casts: string[] = [];
      for (const file of sourceFiles(module.dir)) {
        const source = read(file);
        for (const match of source.matchAll(CODE_LITERAL)) {
          if (!allowed.has(match[1])) strays.push(`${file}: ${match[1]}`);
        }
        for (const match of source.matchAll(/\bas\s+\w*ErrorCode\b/g)) {
          casts.push(`${file}: ${match[0]}`);
        }
      }
      assert.deepEqual(strays, [], "codes outside the unions");
      assert.deepEqual(casts, [], "casts to an error-code type hide codes outside the union");
    });
  }
});
