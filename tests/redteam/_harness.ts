/**
 * The red-team harness: a real server in its own process (so its RSS is its
 * own), sampled from /proc/PID/status while an attacker in the test process
 * hits it, and a well-behaved client probing it throughout.
 *
 * Every attack test asserts the same four things (issue 15): server RSS stays
 * at or below {@linkcode RSS_LIMIT}, at least {@linkcode PROBE_SHARE} of the
 * probes are answered within {@linkcode PROBE_DEADLINE_MS}, the server does
 * not crash, and the offender gets the documented code.
 */
import assert from "node:assert/strict";

/** The RSS bound every attack must stay under. */
export const RSS_LIMIT: number = 512 * 1024 * 1024;
/** The share of probes that must be answered in time. */
export const PROBE_SHARE = 0.9;
/** How long one probe may take. */
export const PROBE_DEADLINE_MS = 1000;

/** A server running in its own process. */
export interface ServerProcess extends AsyncDisposable {
  readonly pid: number;
  /** The JSON object the server printed as its first stdout line (its address and so on). */
  readonly info: Record<string, unknown>;
  /** Later stdout lines, as the server printed them (reports from inside the server). */
  readonly lines: string[];
  /** The current RSS in bytes (0 once gone). */
  rss(): number;
  /** The largest RSS sampled since start. */
  readonly maxRss: number;
  /** Resolves when the process exits by itself or is stopped. */
  readonly status: Promise<Deno.CommandStatus>;
  /** True while the process runs. */
  alive(): boolean;
}

/**
 * Reads VmRSS of `pid` in bytes, or 0 when the process is gone. Deno reads
 * `/proc` only with `--allow-all`, so this asks `cat` (the test task has
 * `--allow-run`) rather than pass vacuously with a 0.
 */
export function rssOf(pid: number): number {
  const { code, stdout } = new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stderr: "null",
  }).outputSync();
  if (code !== 0) return 0;
  const match = /VmRSS:\s+(\d+) kB/.exec(new TextDecoder().decode(stdout));
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * Starts `deno run -A --unstable-net script ...args`, waits for its first
 * stdout line (JSON) and samples its RSS every `sampleMs` until disposed.
 */
export async function startServer(
  script: string | URL,
  args: string[] = [],
  { sampleMs = 100, startTimeoutMs = 20_000 } = {},
): Promise<ServerProcess> {
  const path = script instanceof URL ? script.pathname : script;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", "--quiet", path, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  const first = Promise.withResolvers<string>();
  let firstSeen = false;
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of child.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (!firstSeen) {
          firstSeen = true;
          first.resolve(line);
        } else lines.push(line);
      }
    }
    first.reject(new Error(`${path} exited before printing its address`));
  })();
  let running = true;
  const status = child.status.then((s) => {
    running = false;
    return s;
  });
  let maxRss = 0;
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, rssOf(child.pid));
  }, sampleMs);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = async () => {
    clearInterval(sampler);
    clearTimeout(timer);
    if (running) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await status;
    await reading.catch(() => {});
  };
  let info: Record<string, unknown>;
  try {
    const line = await Promise.race([
      first.promise,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error(`${path} did not start`)), startTimeoutMs)
      ),
    ]);
    info = JSON.parse(line);
  } catch (error) {
    await stop();
    throw error;
  }
  clearTimeout(timer);
  return {
    pid: child.pid,
    info,
    lines,
    rss: () => rssOf(child.pid),
    get maxRss() {
      return Math.max(maxRss, rssOf(child.pid));
    },
    status,
    alive: () => running,
    [Symbol.asyncDispose]: stop,
  };
}

/** What {@linkcode probeDuring} counted. */
export interface ProbeResult {
  sent: number;
  answered: number;
  share: number;
}

/**
 * Runs `probe` every `intervalMs` until `signal` aborts (one at a time, each
 * bounded by `deadlineMs`) and counts the ones that resolved in time.
 */
export async function probeDuring(
  probe: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
  { intervalMs = 100, deadlineMs = PROBE_DEADLINE_MS } = {},
): Promise<ProbeResult> {
  let sent = 0;
  let answered = 0;
  while (!signal.aborted) {
    const started = performance.now();
    sent++;
    const deadline = AbortSignal.timeout(deadlineMs);
    try {
      await Promise.race([
        probe(deadline),
        new Promise<never>((_, reject) => {
          if (deadline.aborted) reject(deadline.reason);
          deadline.addEventListener("abort", () => reject(deadline.reason), { once: true });
        }),
      ]);
      if (performance.now() - started <= deadlineMs) answered++;
    } catch {
      // not answered in time
    }
    const rest = intervalMs - (performance.now() - started);
    if (rest > 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, rest);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        }
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }
  return { sent, answered, share: sent === 0 ? 0 : answered / sent };
}

/** Asserts the red-team bounds on a finished attack. */
export function assertHeld(
  server: ServerProcess,
  probes: ProbeResult,
  what: string,
): void {
  assert.ok(server.alive(), `${what}: the server process died`);
  assert.ok(server.maxRss > 0, `${what}: the server's RSS could not be read`);
  assert.ok(
    server.maxRss <= RSS_LIMIT,
    `${what}: server RSS reached ${(server.maxRss / 2 ** 20).toFixed(0)} MiB`,
  );
  assert.ok(probes.sent >= 3, `${what}: only ${probes.sent} probes were sent`);
  assert.ok(
    probes.share >= PROBE_SHARE,
    `${what}: ${probes.answered}/${probes.sent} probes answered within ${PROBE_DEADLINE_MS} ms`,
  );
}
