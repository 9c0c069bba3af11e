/**
 * Runs mesh members as separate `deno run` processes (tests/mesh_peers/member.ts)
 * and follows their JSON-line events. Shared by the mesh tests and the bench.
 *
 * @module
 */

const MEMBER = new URL("./member.ts", import.meta.url).pathname;

/** One event line printed by a member process. */
export type MemberEvent = { ev: string; [key: string]: unknown };

/** A member process: its events, its commands, its end. */
export class MemberProcess implements AsyncDisposable {
  readonly name: string;
  readonly events: MemberEvent[] = [];
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #waiters = new Set<() => void>();
  #done: Promise<void>;
  #exited = false;

  constructor(name: string, options: Record<string, unknown>) {
    this.name = name;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-env=MESH_DEBUG",
        MEMBER,
        JSON.stringify({ name, ...options }),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#done = this.#read();
  }

  async #read(): Promise<void> {
    let buffered = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim()) this.events.push(JSON.parse(line));
      }
      for (const wake of this.#waiters) wake();
    }
    await this.#child.status;
    this.#exited = true;
    for (const wake of this.#waiters) wake();
  }

  /** Sends a command line. */
  async command(command: Record<string, unknown>): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
  }

  /** Resolves with the first event (from `from` on) matching, or rejects after `ms`. */
  async waitFor(
    match: (event: MemberEvent) => boolean,
    ms: number,
    from = 0,
  ): Promise<MemberEvent> {
    const deadline = performance.now() + ms;
    while (true) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      if (this.#exited) throw new Error(`Member "${this.name}" exited before the event came`);
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new DOMException(`Member "${this.name}" did not report in ${ms} ms`, "TimeoutError");
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const waiters = this.#waiters;
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  /** Kills the process with SIGKILL and waits for it to end. */
  async kill(): Promise<void> {
    if (!this.#exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await this.#stdin.close().catch(() => {});
    await this.#done;
  }

  /** Asks the member to leave, then waits for the process (killing it after 5 s). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exited) {
      await this.command({ cmd: "leave" }).catch(() => {});
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 5000);
      await this.#stdin.close().catch(() => {});
      await this.#done;
      clearTimeout(timer);
    } else {
      await this.#stdin.close().catch(() => {});
      await this.#done;
    }
  }
}

/** Free loopback ports (bound, read back and released). */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/** A group of member processes disposed together. */
export class Cluster implements AsyncDisposable {
  readonly members: MemberProcess[] = [];

  add(name: string, options: Record<string, unknown>): MemberProcess {
    const member = new MemberProcess(name, options);
    this.members.push(member);
    return member;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.members.map((m) => m[Symbol.asyncDispose]()));
  }
}
