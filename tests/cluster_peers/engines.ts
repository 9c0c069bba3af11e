/**
 * Real engine processes for the cluster tests and bench: nats-server and
 * redis-server on a free loopback port, killed (-9) and restarted on the
 * same port on demand.
 *
 * @module
 */

/** The engines the cluster tests run against. */
export type EngineKind = "nats" | "redis";

/** Whether the engine's binary is installed. */
export function hasEngine(kind: EngineKind): boolean {
  const binary = kind === "nats" ? "nats-server" : "redis-server";
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/usr/bin"])) {
    try {
      if (Deno.statSync(`${dir}/${binary}`).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

/** A free loopback TCP port (bound, read back, released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** `n` distinct free loopback TCP ports. */
export function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => listener.addr.port);
  for (const listener of listeners) listener.close();
  return ports;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/** One engine server process; `url` stays the same across restarts. */
export class EngineProcess implements AsyncDisposable {
  readonly kind: EngineKind;
  readonly port: number;
  readonly url: string;
  /** NATS only: the HTTP monitoring port (`-m`), for `/subsz` and `/connz`. */
  readonly monitorPort: number;
  #child: Deno.ChildProcess | undefined;

  constructor(kind: EngineKind, port?: number) {
    // Both bound at once, so that they differ.
    const [first, second] = freePorts(2);
    this.kind = kind;
    this.port = port ?? first;
    this.url = `${kind}://127.0.0.1:${this.port}`;
    this.monitorPort = kind === "nats" ? second : 0;
  }

  /** The subjects/channels the engine has subscribers for right now. */
  async subscriptions(): Promise<string[]> {
    if (this.kind === "nats") {
      const response = await fetch(
        `http://127.0.0.1:${this.monitorPort}/connz?subs=1`,
      );
      const { connections = [] } = await response.json();
      return connections.flatMap((c: { subscriptions_list?: string[] }) =>
        c.subscriptions_list ?? []
      );
    }
    const output = await new Deno.Command("redis-cli", {
      args: ["-p", String(this.port), "--raw", "PUBSUB", "SHARDCHANNELS"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(output.stdout).split("\n").filter((line) => line !== "");
  }

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the server and resolves once it accepts TCP. */
  async start(): Promise<void> {
    const args = this.kind === "nats"
      ? ["-a", "127.0.0.1", "-p", String(this.port), "-m", String(this.monitorPort)]
      : [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
      ];
    this.#child = new Deno.Command(this.kind === "nats" ? "nats-server" : "redis-server", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitForPort(this.port, 10_000);
    if (this.monitorPort) await waitForPort(this.monitorPort, 10_000);
  }

  /** Kills the server with SIGKILL and waits for it to be gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  }

  /** Kills and starts again on the same port. */
  async restart(downFor = 0): Promise<void> {
    await this.kill();
    if (downFor > 0) await new Promise((resolve) => setTimeout(resolve, downFor));
    await this.start();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }
}

/** Starts an engine of `kind` on a free port. */
export async function startEngine(kind: EngineKind): Promise<EngineProcess> {
  const engine = new EngineProcess(kind);
  await engine.start();
  return engine;
}
