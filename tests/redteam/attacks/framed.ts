/**
 * Attacks on framed/ servers (issue 15, rows 5, 11 and 16), each a function
 * of the target address and an `AbortSignal` that returns what it saw, so
 * the red-team tests and a later `bench/redteam.ts` share them.
 *
 * Every attack holds its connections until `signal` aborts (or the server
 * closes them), then closes what is left: the attacker leaves.
 *
 * @module
 */

/** Where an attack goes. */
export interface Target {
  hostname: string;
  port: number;
}

/** What an attack saw. */
export interface AttackStats {
  /** Connections opened. */
  opened: number;
  /** Connections that could not be opened. */
  failed: number;
  /** Bytes written in all. */
  bytesSent: number;
  /** Connections the server closed (EOF or reset) before the attacker left. */
  closedByServer: number;
  /** Milliseconds from the start of the attack to each server close, sorted. */
  closeTimes: number[];
}

function newStats(): AttackStats {
  return { opened: 0, failed: 0, bytesSent: 0, closedByServer: 0, closeTimes: [] };
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

/**
 * Watches `conn` for the server closing it: reads (discarding) until EOF or
 * an error, and records the time unless the attacker left first.
 */
async function watchClose(
  conn: Deno.Conn,
  stats: AttackStats,
  started: number,
  signal: AbortSignal,
): Promise<void> {
  const sink = new Uint8Array(1024);
  try {
    while ((await conn.read(sink)) !== null) {
      // discard
    }
  } catch {
    // reset by the server, or closed by us when leaving
  }
  if (!signal.aborted) {
    stats.closedByServer++;
    stats.closeTimes.push(performance.now() - started);
  }
}

/** Opens `count` TCP connections, a few at a time, until `signal` aborts. */
async function openMany(
  target: Target,
  count: number,
  signal: AbortSignal,
  stats: AttackStats,
  each: (conn: Deno.TcpConn) => Promise<void>,
): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  const PARALLEL = 50;
  for (let i = 0; i < count && !signal.aborted; i += PARALLEL) {
    const batch = Math.min(PARALLEL, count - i);
    await Promise.all(Array.from({ length: batch }, async () => {
      try {
        const conn = await Deno.connect({ hostname: target.hostname, port: target.port });
        conns.push(conn);
        stats.opened++;
        await each(conn);
      } catch {
        stats.failed++;
      }
    }));
  }
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // closed by the server already
    }
  }
}

/**
 * Row 5: zero-length frames. Each of `connections` connections writes
 * `bytesPerConnection` bytes of `0x00` (one empty framed message per byte)
 * and never reads. The writes are not awaited past `signal`: a server that
 * stops reading leaves them in the kernel.
 */
export async function zeroLengthFlood(
  target: Target,
  signal: AbortSignal,
  { connections = 100, bytesPerConnection = 64 * 1024 } = {},
): Promise<AttackStats> {
  const stats = newStats();
  const started = performance.now();
  const zeros = new Uint8Array(bytesPerConnection);
  const watching: Promise<void>[] = [];
  const writing: Promise<void>[] = [];
  const conns = await openMany(target, connections, signal, stats, (conn) => {
    watching.push(watchClose(conn, stats, started, signal));
    writing.push((async () => {
      let offset = 0;
      try {
        while (offset < zeros.length && !signal.aborted) {
          offset += await conn.write(zeros.subarray(offset));
        }
      } catch {
        // closed
      }
      stats.bytesSent += offset;
    })());
    return Promise.resolve();
  });
  await aborted(signal);
  closeAll(conns);
  await Promise.all([...watching, ...writing]);
  stats.closeTimes.sort((a, b) => a - b);
  return stats;
}

/** What {@linkcode stalledHeaderFlood} saw, per kind of connection. */
export interface StalledStats {
  stalled: AttackStats;
  idle: AttackStats;
}

/** Empty stats to pass to {@linkcode stalledHeaderFlood} to watch it live. */
export function newStalledStats(): StalledStats {
  return { stalled: newStats(), idle: newStats() };
}

/**
 * Row 16: `stalled` connections each send the first 2 bytes of a five-byte
 * header (`0xFF 0x00`) and stop; `idle` connections send nothing at all.
 * `live` (if given) is filled in as the attack goes.
 */
export async function stalledHeaderFlood(
  target: Target,
  signal: AbortSignal,
  { stalled = 3000, idle = 2000 } = {},
  live: StalledStats = newStalledStats(),
): Promise<StalledStats> {
  const started = performance.now();
  const result = live;
  const watching: Promise<void>[] = [];
  const header = new Uint8Array([0xff, 0x00]);
  const [stalledConns, idleConns] = await Promise.all([
    openMany(target, stalled, signal, result.stalled, async (conn) => {
      watching.push(watchClose(conn, result.stalled, started, signal));
      await conn.write(header);
      result.stalled.bytesSent += header.length;
    }),
    openMany(target, idle, signal, result.idle, (conn) => {
      watching.push(watchClose(conn, result.idle, started, signal));
      return Promise.resolve();
    }),
  ]);
  await aborted(signal);
  closeAll([...stalledConns, ...idleConns]);
  await Promise.all(watching);
  result.stalled.closeTimes.sort((a, b) => a - b);
  result.idle.closeTimes.sort((a, b) => a - b);
  return result;
}

/**
 * Row 11: `connections` TCP connections to a TLS port that never send a
 * ClientHello.
 */
export async function tlsSilentFlood(
  target: Target,
  signal: AbortSignal,
  { connections = 500 } = {},
): Promise<AttackStats> {
  const stats = newStats();
  const started = performance.now();
  const watching: Promise<void>[] = [];
  const conns = await openMany(target, connections, signal, stats, (conn) => {
    watching.push(watchClose(conn, stats, started, signal));
    return Promise.resolve();
  });
  await aborted(signal);
  closeAll(conns);
  await Promise.all(watching);
  stats.closeTimes.sort((a, b) => a - b);
  return stats;
}
