/**
 * Shared steps of the websocket red-team tests: start the server script with
 * a config, run one attack and the probes side by side for a bounded time,
 * and read back what the server reported.
 *
 * @module
 */

import { assertHeld, probeDuring, type ProbeResult, startServer } from "./_harness.ts";
import type { AttackStats, AttackTarget } from "./attacks/websocket.ts";
import { echoProbe } from "./attacks/websocket.ts";

const SERVER = new URL("./servers/websocket_server.ts", import.meta.url);

/** What one attack run produced. */
export interface AttackRun {
  stats: AttackStats;
  probes: ProbeResult;
  /** Errors the server reported for the connections it closed, by code (`ERR_…@1009`). */
  serverClosed: Record<string, number>;
  maxRssMiB: number;
}

/**
 * Starts a server with `config`, runs `attack` for `ms` while probing it with
 * `probe` (an echo on `/echo` unless given), asserts the harness bounds and
 * returns what happened.
 */
export async function runAttack(
  what: string,
  config: Record<string, unknown>,
  attack: (target: AttackTarget, signal: AbortSignal) => Promise<AttackStats>,
  { ms = 4_000, probe }: {
    ms?: number;
    probe?: (url: string) => Promise<
      { probe: (signal: AbortSignal) => Promise<void> } & Partial<AsyncDisposable>
    >;
  } = {},
): Promise<AttackRun> {
  await using server = await startServer(SERVER, [JSON.stringify(config)]);
  const port = server.info.port as number;
  const target = { hostname: "127.0.0.1", port };
  const prober = probe
    ? await probe(`ws://127.0.0.1:${port}/sink`)
    : { probe: echoProbe(`ws://127.0.0.1:${port}/echo`) };
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ms);
  let stats: AttackStats;
  let probes: ProbeResult;
  try {
    [stats, probes] = await Promise.all([
      attack(target, stop.signal),
      probeDuring(prober.probe, stop.signal),
    ]);
  } finally {
    clearTimeout(timer);
    await prober[Symbol.asyncDispose]?.();
  }
  // Give the server a moment to print what it closed last.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const serverClosed: Record<string, number> = {};
  for (const line of server.lines) {
    try {
      const { code, error } = JSON.parse(line) as { code: number; error: string };
      serverClosed[`${error}@${code}`] = (serverClosed[`${error}@${code}`] ?? 0) + 1;
    } catch { /* not a report */ }
  }
  const run = { stats, probes, serverClosed, maxRssMiB: Math.round(server.maxRss / 2 ** 20) };
  console.log(what, JSON.stringify(run));
  assertHeld(server, probes, what);
  return run;
}
