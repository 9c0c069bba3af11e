/**
 * A framed/ server for the red-team tests, in its own process.
 *
 * Usage: `framed_server.ts '<json>'` with `{ app, tls?, options? }`:
 * - `app: "slow"`: each connection echoes one message, then waits a second
 *   before reading the next (an app that reads 1 msg/s).
 * - `app: "echo"`: each connection pipes `readable` into `writable`.
 * - `tls: true`: serves TLS with a fresh test CA (its PEM is in the first line).
 * - `options`: more `listen()` options (timeouts, limits).
 *
 * Prints its address first, then one JSON line per connection that ends
 * (`{"event":"closed","name","code","option"}`) and a
 * `{"event":"stats","open":n}` line every 250 ms. `FRAMED_MODULE` may point
 * at another copy of framed/mod.ts (to measure an older version).
 *
 * @module
 */

import type * as Framed from "../../../framed/mod.ts";
import { makeServerCertificates } from "../../_certs.ts";

const config = JSON.parse(Deno.args[0] ?? "{}") as {
  app: "slow" | "echo";
  tls?: boolean;
  options?: Record<string, unknown>;
};
const modulePath = Deno.env.get("FRAMED_MODULE") ??
  new URL("../../../framed/mod.ts", import.meta.url).href;
const { listen } = await import(modulePath) as typeof Framed;

let caCert: string | undefined;
let tlsOptions = {};
if (config.tls) {
  const pki = await makeServerCertificates();
  caCert = pki.caCert;
  tlsOptions = { cert: pki.cert, key: pki.key };
}
const server = listen({
  hostname: "127.0.0.1",
  port: 0,
  sendType: "bytes",
  ...tlsOptions,
  ...config.options,
});
console.log(
  JSON.stringify({ hostname: "127.0.0.1", port: server.addr.port, pid: Deno.pid, caCert }),
);

function report(error: unknown): void {
  const e = error as { name?: string; code?: unknown; message?: string } | undefined;
  // A time limit's TimeoutError names its option at the start of the message.
  const option = e?.name === "TimeoutError"
    ? /^(\w+Timeout):/.exec(e.message ?? "")?.[1] ?? null
    : null;
  console.log(JSON.stringify({
    event: "closed",
    name: e?.name ?? null,
    code: typeof e?.code === "string" ? e.code : null,
    option,
  }));
}

async function slow(connection: Framed.FramedConnection<Uint8Array, Uint8Array>): Promise<void> {
  const reader = connection.readable.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      await connection.send(value);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } catch {
    // `closed` reports why
  }
}

let lastStats = performance.now();
setInterval(() => {
  const now = performance.now();
  // lag: how late this timer ran (event loop turns that took long)
  const lag = Math.round(now - lastStats - 250);
  lastStats = now;
  console.log(JSON.stringify({ event: "stats", open: server.connections.size, lag }));
}, 250);

for await (const connection of server) {
  connection.closed.then(() => report(undefined), report);
  if (config.app === "echo") connection.readable.pipeTo(connection.writable).catch(() => {});
  else slow(connection);
}
