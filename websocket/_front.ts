/**
 * What the three raw-TCP server fronts share (`serve()` on either engine,
 * `serveHttp()`): listening with or without TLS, fixed answers for a busy
 * server and a late head, reading a request head under a deadline, and
 * stopping. Private to the module.
 *
 * @module
 */

import type { ByteStream } from "./_frame.ts";
import { readHttpRequest, writeHttpResponse } from "./_handshake.ts";

const encoder = new TextEncoder();

/** The fixed answer to a connection over a server's limit of heads being read. */
export const BUSY: Uint8Array = encoder.encode(
  "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
);
/** The fixed answer to a request head that did not arrive in time. */
export const TIMED_OUT: Uint8Array = encoder.encode(
  "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
);

/** Closes `conn`, quietly when it already is. */
export function closeQuietly(conn: ByteStream): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** Writes a short fixed answer (it fits the socket buffer: never waits on the peer) and closes. */
export async function answerAndClose(conn: ByteStream, answer: Uint8Array): Promise<void> {
  const drop = setTimeout(() => closeQuietly(conn), 1_000);
  try {
    await conn.write(answer);
  } catch { /* the peer is gone */ }
  clearTimeout(drop);
  closeQuietly(conn);
}

/**
 * Reads one request head from `conn` (see {@linkcode readHttpRequest}) that
 * must be complete within `timeout` ms. A late head is answered 408 and the
 * connection closed; a malformed or oversize one is answered with its
 * error's status (400, 405, 431 …). Resolves `null` in both cases (and when
 * the peer left): the caller closes `conn`.
 */
export async function readHeadWithin(
  conn: ByteStream,
  timeout: number,
  options: { maxHeaderBytes: number; secure?: boolean },
): Promise<{ request: Request; leftover: Uint8Array } | null> {
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    void answerAndClose(conn, TIMED_OUT);
  }, timeout);
  try {
    return await readHttpRequest(conn, options);
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status && !late) {
      await writeHttpResponse(conn, new Response((error as Error).message, { status }))
        .catch(() => {});
    }
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** Listens on TCP, or on TLS when both `cert` and `key` are given. */
export function listenTcpOrTls(
  options: { hostname: string; port: number; cert?: string; key?: string },
): Deno.Listener {
  const { hostname, port, cert, key } = options;
  return cert !== undefined && key !== undefined
    ? Deno.listenTls({ hostname, port, cert, key })
    : Deno.listen({ hostname, port });
}

/**
 * Stops a front: closes `listener`, waits for its accept loop to end, then
 * closes the connections still in their handshake.
 */
export async function stopListening(
  listener: Deno.Listener,
  accepting: Promise<void>,
  pending: Iterable<ByteStream>,
): Promise<void> {
  try {
    listener.close();
  } catch { /* already closed */ }
  await accepting;
  for (const conn of pending) closeQuietly(conn);
}
