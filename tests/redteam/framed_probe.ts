/**
 * Shared pieces of the framed/ red-team tests: the well-behaved probe, the
 * server's report lines, and RSS helpers.
 *
 * @module
 */

import { connect } from "../../framed/mod.ts";
import type { ServerProcess } from "./_harness.ts";
import type { Target } from "./attacks/framed.ts";

/** The server script every framed red-team test runs. */
export const FRAMED_SERVER = new URL("./servers/framed_server.ts", import.meta.url);

/** The server's address (and CA for TLS) from its first line. */
export function targetOf(server: ServerProcess): Target & { caCert?: string } {
  const { hostname, port, caCert } = server.info as {
    hostname: string;
    port: number;
    caCert?: string;
  };
  return { hostname, port, caCert };
}

/**
 * One probe: connect, send a small message, wait for its echo, close. Bounded
 * by `signal` (the harness's per-probe deadline).
 */
export function probeOf(target: Target & { caCert?: string }) {
  const payload = new TextEncoder().encode("probe");
  return async (signal: AbortSignal): Promise<void> => {
    await using client = await connect({
      hostname: target.hostname,
      port: target.port,
      sendType: "bytes",
      reconnect: false,
      connectTimeout: 1000,
      signal,
      ...(target.caCert ? { caCerts: [target.caCert] } : {}),
    });
    await client.send(payload);
    const reader = client.readable.getReader();
    try {
      const { value } = await reader.read();
      if (value?.length !== payload.length) throw new Error("probe: wrong echo");
    } finally {
      reader.releaseLock();
    }
  };
}

/** A connection-end report the server printed. */
export interface ClosedReport {
  event: "closed";
  name: string | null;
  code: string | null;
  option: string | null;
}

/** The server's "closed" reports so far. */
export function closedReports(server: ServerProcess): ClosedReport[] {
  return server.lines.map((line) => JSON.parse(line)).filter((r) => r.event === "closed");
}

/** The latest count of open connections the server reported. */
export function openConnections(server: ServerProcess): number {
  for (let i = server.lines.length - 1; i >= 0; i--) {
    const report = JSON.parse(server.lines[i]);
    if (report.event === "stats") return report.open;
  }
  return 0;
}

import { sleep } from "../_tools/sleep.ts";

export { sleep };

/** The server's RSS once it has settled (lowest of a few samples), in bytes. */
export async function settledRss(server: ServerProcess, samples = 5): Promise<number> {
  let lowest = Infinity;
  for (let i = 0; i < samples; i++) {
    await sleep(100);
    lowest = Math.min(lowest, server.rss());
  }
  return lowest;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
