/**
 * The scale-out engine the cluster demos run on: a real nats-server on a
 * free loopback port when it is installed (with JetStream when asked), so
 * the demos show the wire; `undefined` otherwise, and the demos fall back
 * to the in-process engine. Not a demo itself (the tour skips `_` files).
 *
 * @module
 */

/** A running nats-server. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  url: string;
  /** Kills the server and removes its JetStream directory. */
  stop(): Promise<void>;
}

/**
 * Starts nats-server on a free loopback port (`-js` with a temporary store
 * directory when `jetstream`), or returns `undefined` when it is not
 * installed or does not come up within 5 s.
 */
export async function startNats(
  { jetstream = false }: { jetstream?: boolean } = {},
): Promise<NatsServer | undefined> {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const dir = jetstream ? await Deno.makeTempDir({ prefix: "nk-tour-js-" }) : undefined;
  const args = ["-a", "127.0.0.1", "-p", String(port)];
  if (dir !== undefined) args.push("-js", "-sd", dir);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("nats-server", { args, stdout: "null", stderr: "null" }).spawn();
  } catch {
    if (dir !== undefined) await Deno.remove(dir, { recursive: true });
    return undefined; // not installed
  }
  const stop = async () => {
    child.kill("SIGKILL");
    await child.status;
    if (dir !== undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return { url: `nats://127.0.0.1:${port}`, stop };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  await stop();
  return undefined;
}
