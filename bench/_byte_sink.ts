/**
 * The byte-counting TCP sink of `framed_bench.ts`, run as a worker so its
 * reads do not share the sender's thread and event loop (see there why).
 *
 * Protocol: posts `{ port }` once listening; on `{ until: n }` it posts
 * `"arrived"` once `n` bytes in all have come in (over all connections
 * since it started: a total, so bytes that arrive before the message is
 * read still count); on `{ close: true }` it closes the listener and every
 * connection.
 *
 * @module
 */

/// <reference lib="deno.worker" />

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const conns = new Set<Deno.Conn>();
let received = 0;
let target = Infinity;

function check(): void {
  if (received < target) return;
  target = Infinity;
  self.postMessage("arrived");
}

self.onmessage = (event: MessageEvent<{ until?: number; close?: boolean }>) => {
  if (event.data.close) {
    listener.close();
    for (const conn of conns) conn.close();
    self.close();
    return;
  }
  target = event.data.until!;
  check();
};

async function drain(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(256 * 1024);
  while (true) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    received += n;
    check();
  }
  conns.delete(conn);
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

self.postMessage({ port: (listener.addr as Deno.NetAddr).port });
try {
  for await (const conn of listener) {
    conns.add(conn);
    drain(conn);
  }
} catch {
  // The listener was closed.
}
