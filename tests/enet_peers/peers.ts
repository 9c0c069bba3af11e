/**
 * Drivers for the foreign ENet peers of the interop tests and the bench:
 * the C helper `enet_peer.c` (built with gcc against libenet-dev) and the
 * npm `enet` 0.2.9 peer `npm_enet_peer.cjs` under Node. Both speak the same
 * line protocol on stdin/stdout (see enet_peer.c).
 *
 * @module
 */

import { run } from "../_loopback.ts";

/** Builds the C helper into `dir` and returns the binary path. */
export async function buildCPeer(dir: string): Promise<string> {
  const binary = `${dir}/enet_peer`;
  const source = new URL("./enet_peer.c", import.meta.url).pathname;
  await run("gcc", ["-O2", "-Wall", "-o", binary, source, "-lenet"]);
  return binary;
}

/** Path of the npm `enet` peer script. */
export const npmPeerScript: string = new URL("./npm_enet_peer.cjs", import.meta.url).pathname;

/** A child process that prints one event per line. */
export class LineProcess implements AsyncDisposable {
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;
  #changed: PromiseWithResolvers<void> = Promise.withResolvers();
  #ended = false;

  constructor(command: string, args: string[], cwd?: string) {
    this.#child = new Deno.Command(command, {
      args,
      cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    let rest = "";
    const decoder = new TextDecoder();
    for await (const chunk of this.#child.stdout) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop()!;
      if (parts.length > 0) {
        for (const part of parts) this.lines.push(part);
        this.#changed.resolve();
        this.#changed = Promise.withResolvers();
      }
    }
    this.#ended = true;
    this.#changed.resolve();
  }

  /** Waits until `count` lines match `predicate`; returns them. */
  async waitFor(predicate: (line: string) => boolean, count = 1, ms = 15000): Promise<string[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const matching = this.lines.filter(predicate);
      if (matching.length >= count) return matching;
      if (this.#ended) throw new Error(`Peer exited; lines: ${this.lines.slice(-5).join(" | ")}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new DOMException(
          `Timed out waiting for ${count} lines (have ${matching.length}); last: ${
            this.lines.slice(-3).join(" | ")
          }`,
          "TimeoutError",
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#changed.promise,
        new Promise((resolve) => timer = setTimeout(resolve, Math.min(remaining, 200))),
      ]);
      clearTimeout(timer);
    }
  }

  /** Sends one command line. */
  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Closes stdin (the peer exits), waits for it, kills it after 2 s. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.#stdin.close();
    } catch { /* already closed */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 2000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#reading;
  }
}

/** Starts a foreign server and reads back its port. */
export async function startServer(
  command: string,
  args: string[],
): Promise<{ process: LineProcess; port: number }> {
  const process = new LineProcess(command, args);
  const [line] = await process.waitFor((l) => l.startsWith("PORT "));
  return { process, port: Number(line.split(" ")[1]) };
}

/** FNV-1a 32-bit, as the helpers print it. */
export function fnv1a(data: Uint8Array): string {
  let h = 2166136261;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i];
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** The helpers' payload: pattern(seed), with seed as 4 BE bytes first when `withIndex`. */
export function pattern(length: number, seed: number, withIndex: boolean): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = (seed * 7 + i * 31) & 255;
  if (withIndex && length >= 4) new DataView(data.buffer).setUint32(0, seed);
  return data;
}

/** A parsed "RECV ch flags len fnv first" line. */
export interface ReceivedLine {
  channel: number;
  flags: number;
  length: number;
  hash: string;
  first: number;
}

/** Parses the RECV lines a helper printed. */
export function receivedLines(lines: string[]): ReceivedLine[] {
  return lines.filter((l) => l.startsWith("RECV ")).map((l) => {
    const [, channel, flags, length, hash, first] = l.split(" ");
    return {
      channel: Number(channel),
      flags: Number(flags),
      length: Number(length),
      hash,
      first: Number(first),
    };
  });
}
