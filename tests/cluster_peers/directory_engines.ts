/**
 * Engines for the directory tests and bench: redis-server as the cluster
 * tests start it, and nats-server with JetStream on (`-js -sd DIR`, which
 * KV buckets need), each on a free loopback port, killed -9 on dispose.
 *
 * @module
 */

import { type EngineKind, freePort, startEngine } from "./engines.ts";

export { type EngineKind, hasEngine } from "./engines.ts";

/** A running engine process. */
export interface RunningEngine extends AsyncDisposable {
  readonly url: string;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/** Starts `kind` on a free port; NATS with JetStream in a temporary store directory. */
export async function startDirectoryEngine(kind: EngineKind): Promise<RunningEngine> {
  if (kind === "redis") return await startEngine("redis");
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "nk-nats-js-" });
  const child = new Deno.Command("nats-server", {
    args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitForPort(port, 10_000);
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
