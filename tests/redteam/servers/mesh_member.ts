/**
 * A mesh member under attack, in its own process (tests/redteam/mesh_*_test.ts).
 *
 * `Deno.args[0]` is JSON: `MeshOptions` plus `stateKeys` / `stateValueBytes`
 * (keys of that size written to the replicated state before anyone joins).
 * Prints `{"hostname","port","id"}` first, then one JSON line
 * `{"ev":"connectionerror","code":…}` for every connection the member closes
 * because of a limit or bad input.
 * Answers `"ping"` requests with `"pong"`.
 *
 * @module
 */

import { joinMesh, type MeshOptions } from "../../../mesh/mod.ts";

const config = JSON.parse(Deno.args[0] ?? "{}") as Partial<MeshOptions> & {
  stateKeys?: number;
  stateValueBytes?: number;
};
const { stateKeys = 0, stateValueBytes = 0, ...options } = config;
const mesh = await joinMesh({ name: "target", hostname: "127.0.0.1", port: 0, ...options });
mesh.onRequest("ping", () => "pong");
for (let i = 0; i < stateKeys; i++) mesh.state.set(`key${i}`, "x".repeat(stateValueBytes));
const encoder = new TextEncoder();
const print = (value: unknown) =>
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(value) + "\n"));
mesh.addEventListener("connectionerror", (event) => {
  const error = (event as CustomEvent<{ error: { code?: string; name: string } }>).detail.error;
  print({ ev: "connectionerror", code: error.code ?? error.name });
});
print({ hostname: mesh.addr.hostname, port: mesh.addr.port, id: mesh.id });
Deno.addSignalListener("SIGTERM", () => mesh.leave().then(() => Deno.exit(0)));
