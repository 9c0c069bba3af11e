/**
 * The native engine's listener for `serve()`: `Deno.listen`/`Deno.listenTls`
 * accepts, the HTTP request head is read and timed out here, and only then
 * is the connection handed to the built-in WebSocket
 * (`Deno.upgradeWebSocket(request, { socket, head })`).
 *
 * Why not `Deno.serve`: it has no head timeout, so a server built on it
 * holds every connection that trickles an unfinished head for as long as the
 * peer likes (measured: 1000–3000 such connections held for the whole
 * 40–50 s attack). Here the head must be complete within `handshakeTimeout`
 * (else 408), at most `maxHeaderBytes` long (else 431), and at most
 * `maxConnections` heads are read at once (more get 503), as on the rfc6455
 * engine. Once upgraded, the socket is the built-in's, exactly as through
 * `Deno.serve` (measured: the same echo rate), plus `TCP_NODELAY`.
 *
 * The hand-over: `Deno.upgradeWebSocket`'s `socket` option takes a
 * `node:net` socket and only uses its `write()` (for the 101) and its
 * handle's `takeStream()` (the runtime resource id of the TCP or TLS
 * stream). `node:net` cannot be used itself because `serve()` must know its
 * address synchronously, and `node:net` binds asynchronously; so a
 * `Deno.Conn` is presented through that same shape. Its resource id is
 * internal to the runtime (a symbol on the conn): without it,
 * `listenNativeFront()` returns `null` and `serve()` falls back to
 * `Deno.serve` (the hand-over is verified on Deno 2.9.6 by
 * `tests/redteam/websocket_slow_head_test.ts`).
 *
 * @module
 */

import { acceptLoop } from "../_common/accept_loop.ts";
import { DEFAULT_MAX_BUFFERED_BYTES } from "./_engine.ts";
import { writeAll, writeHttpResponse } from "./_handshake.ts";
import {
  answerAndClose,
  BUSY,
  closeQuietly,
  listenTcpOrTls,
  readHeadWithin,
  stopListening,
} from "./_front.ts";
import { upgradeNative } from "./_native_server.ts";
import type { Listening, ServerCore } from "./_server_core.ts";
import { type ByteBudget, SharedBudget } from "./_rfc6455.ts";
import type { ServeOptions } from "./options.ts";

const encoder = new TextEncoder();

/** The runtime's resource id of a `Deno.Conn`, or `undefined` when this runtime hides it. */
export function resourceId(conn: Deno.Conn): number | undefined {
  for (const symbol of Object.getOwnPropertySymbols(conn)) {
    if (symbol.description === "Deno.internal.rid") {
      const rid = (conn as unknown as Record<symbol, unknown>)[symbol];
      return typeof rid === "number" ? rid : undefined;
    }
  }
  return undefined;
}

/**
 * Whether this runtime lets connections of `listener` be handed to the
 * built-in WebSocket (see the module doc): its resources carry the internal
 * id the hand-over needs.
 */
export function canHandOver(listener: Deno.Listener): boolean {
  return Object.getOwnPropertySymbols(listener).some((symbol) =>
    symbol.description === "Deno.internal.rid"
  );
}

/**
 * `conn` in the shape `Deno.upgradeWebSocket({ socket })` expects of a
 * `node:net` socket: `write(text, callback)` for the 101 answer, and a
 * handle whose `takeStream()` gives up the stream.
 */
export function asUpgradeSocket(conn: Deno.Conn, rid: number): unknown {
  return {
    destroyed: false,
    _handle: {
      readStop() {},
      takeStream: () => rid,
    },
    write(data: string, callback: (error?: Error) => void) {
      writeAll(conn, encoder.encode(data)).then(() => callback(), callback);
    },
  };
}

/**
 * Accepts TCP (or TLS), reads heads with limits, and upgrades through the
 * built-in WebSocket; `null` when this runtime cannot hand a connection over.
 */
export function listenNativeFront(
  server: ServerCore,
  options: ServeOptions & { budget: ByteBudget },
): Listening | null {
  const {
    hostname = "0.0.0.0",
    port = 8000,
    cert,
    key,
    maxHeaderBytes = 16 * 1024,
    handshakeTimeout = 10_000,
    maxConnections = 10_000,
  } = options;
  const listener = listenTcpOrTls({ hostname, port, cert, key });
  if (!canHandOver(listener)) {
    listener.close();
    return null;
  }
  /** Connections whose head is being read or answered. */
  const pending = new Set<Deno.Conn>();

  const handle = async (conn: Deno.Conn) => {
    if (pending.size >= maxConnections) {
      await answerAndClose(conn, BUSY);
      return;
    }
    pending.add(conn);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const head = await readHeadWithin(conn, handshakeTimeout, { maxHeaderBytes });
      if (head === null) return;
      const rejection = await server.admission(head.request);
      timer = setTimeout(() => closeQuietly(conn), handshakeTimeout);
      if (rejection) {
        await writeHttpResponse(conn, rejection);
        throw rejection;
      }
      const rid = resourceId(conn);
      if (rid === undefined) throw new Error("Cannot hand the connection to the built-in socket");
      try {
        (conn as Deno.TcpConn).setNoDelay?.(true);
      } catch { /* a TLS conn over TCP: the option is not reachable */ }
      const { connection } = upgradeNative(head.request, {
        ...options,
        remoteAddr: conn.remoteAddr as Deno.NetAddr,
        socket: asUpgradeSocket(conn, rid),
        head: head.leftover,
      });
      pending.delete(conn);
      server.admit(connection);
    } catch {
      /* refused, or the peer is gone */
    } finally {
      clearTimeout(timer);
      if (pending.delete(conn)) closeQuietly(conn);
    }
  };

  const accepting = acceptLoop(listener, (conn) => void handle(conn));

  return {
    addr: listener.addr as Deno.NetAddr,
    stop: async () => {
      await stopListening(listener, accepting, pending);
      pending.clear();
    },
  };
}

/**
 * Listens with our own accept loop (heads read with limits, see
 * `_native_front.ts`), or with `Deno.serve` where the runtime cannot hand a
 * connection to the built-in socket.
 */
export function listenNative(server: ServerCore, options: ServeOptions): Listening {
  // What all connections of this server may hold unread together.
  const budget = new SharedBudget(options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES);
  const withBudget = { ...options, budget };
  return listenNativeFront(server, withBudget) ?? listenDenoServe(server, withBudget);
}

/** Listens with `Deno.serve` and upgrades admitted requests (no head timeout: see the README). */
function listenDenoServe(
  server: ServerCore,
  options: ServeOptions & { budget: ByteBudget },
): Listening {
  const { hostname = "0.0.0.0", port = 8000, cert, key } = options;
  const http = Deno.serve({
    hostname,
    port,
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    onListen() {},
    onError() {
      return new Response("Internal Server Error", { status: 500 });
    },
  }, async (request, info) => {
    const rejection = await server.admission(request);
    if (rejection) return rejection;
    const { response, connection } = upgradeNative(request, {
      ...options,
      remoteAddr: info.remoteAddr as Deno.NetAddr,
    });
    server.admit(connection);
    return response;
  });
  return {
    addr: http.addr as Deno.NetAddr,
    stop: async () => {
      await http.shutdown();
    },
  };
}
