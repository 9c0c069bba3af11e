/**
 * `serveHttp()`: `Deno.serve`'s shape (options, handler, `Deno.HttpServer`)
 * for servers that answer WebSocket upgrades with `handleUpgrade()`, with
 * the limits `Deno.serve` lacks on the request head: it must be complete
 * within `handshakeTimeout` (else 408), at most `maxHeaderBytes` long (else
 * 431), and at most `maxConnections` heads are read at once (more get 503).
 *
 * Each connection carries one request (answers say `connection: close`);
 * requests with a body are refused with 413. A request the handler upgrades
 * with `handleUpgrade()` is handed to the built-in WebSocket the way
 * `serve({ engine: "native" })` does it (see `_native_front.ts`); any other
 * answer is written and the connection closed.
 *
 * Exported from `mod.ts` as `serveHttp` (with `ServeHttpOptions`): a
 * drop-in for `Deno.serve` in front of `handleUpgrade()` or
 * `createConnectionGroup()` (`webrtc/`'s master uses it the same way).
 *
 * @module
 */

import { acceptLoop } from "../_common/accept_loop.ts";
import { writeHttpResponse } from "./_handshake.ts";
import {
  answerAndClose,
  BUSY,
  closeQuietly,
  listenTcpOrTls,
  readHeadWithin,
  stopListening,
} from "./_front.ts";
import { asUpgradeSocket, canHandOver, resourceId } from "./_native_front.ts";

/** A request read by `serveHttp()`: what `handleUpgrade()` needs to take its connection over. */
export interface RawRequest {
  /** The `socket` option of `Deno.upgradeWebSocket`. */
  socket: unknown;
  /** Bytes that followed the head. */
  head: Uint8Array;
  /** Set by `handleUpgrade()`: the connection now belongs to the built-in socket. */
  upgraded: boolean;
}

/** Requests `serveHttp()` is handling, by request object. */
export const rawRequests: WeakMap<Request, RawRequest> = new WeakMap();

/**
 * Options of {@linkcode serveHttp}: `Deno.serve`'s TCP/TLS options plus the head limits.
 *
 * @example
 * ```ts
 * import type { ServeHttpOptions } from "@netkit/realtime/websocket";
 * const options: ServeHttpOptions = { hostname: "127.0.0.1", port: 0, handshakeTimeout: 5_000 };
 * ```
 */
export interface ServeHttpOptions {
  /**
   * Address to listen on.
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Port to listen on; `0` picks a free one.
   * @default {8000}
   */
  port?: number;
  /** PEM certificate chain: with `key`, the server speaks HTTPS. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
  /**
   * Milliseconds the request head may take to arrive (else 408 and closed).
   * @default {10000}
   */
  handshakeTimeout?: number;
  /**
   * Largest request head in bytes (else 431).
   * @default {16384}
   */
  maxHeaderBytes?: number;
  /**
   * Heads read at once; more connections get 503.
   * @default {10000}
   */
  maxConnections?: number;
  /** Shuts the server down when aborted. */
  signal?: AbortSignal;
  /** Called once listening, with the address. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/**
 * `Deno.serve` with the head limits `Deno.serve` lacks, for servers that
 * upgrade with `handleUpgrade()` or `createConnectionGroup()`: the head must
 * arrive within `handshakeTimeout` (408), be at most `maxHeaderBytes` (431),
 * and at most `maxConnections` heads are read at once (503). One request per
 * connection (`connection: close`); requests with a body get 413. Falls back
 * to `Deno.serve` itself where the runtime cannot hand a connection to the
 * built-in WebSocket.
 *
 * @example Routes and WebSockets with a head timeout
 * ```ts
 * import { handleUpgrade, serveHttp } from "@netkit/realtime/websocket";
 * const http = serveHttp({ hostname: "127.0.0.1", port: 0, handshakeTimeout: 5_000 }, (request, info) => {
 *   if (request.headers.get("upgrade") !== "websocket") return new Response("hello");
 *   return handleUpgrade(request, { remoteAddr: info.remoteAddr }).response;
 * });
 * await http.shutdown();
 * ```
 */
export function serveHttp(
  options: ServeHttpOptions,
  handler: Deno.ServeHandler<Deno.NetAddr>,
): Deno.HttpServer<Deno.NetAddr> {
  const {
    hostname = "0.0.0.0",
    port = 8000,
    cert,
    key,
    handshakeTimeout = 10_000,
    maxHeaderBytes = 16 * 1024,
    maxConnections = 10_000,
    signal,
    onListen,
  } = options;
  const listener = listenTcpOrTls({ hostname, port, cert, key });
  if (!canHandOver(listener)) {
    listener.close();
    return Deno.serve({
      hostname,
      port,
      signal,
      onListen,
      ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    }, handler);
  }
  const addr = listener.addr as Deno.NetAddr;
  const pending = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();

  const handle = async (conn: Deno.Conn) => {
    if (pending.size >= maxConnections) {
      await answerAndClose(conn, BUSY);
      return;
    }
    pending.add(conn);
    let handedOver = false;
    try {
      const head = await readHeadWithin(conn, handshakeTimeout, { maxHeaderBytes });
      if (head === null) return;
      const { request, leftover } = head;
      const length = Number(request.headers.get("content-length") ?? "0");
      if (length !== 0 || request.headers.has("transfer-encoding")) {
        await writeHttpResponse(
          conn,
          new Response("Request bodies are not accepted", { status: 413 }),
        );
        return;
      }
      const rid = resourceId(conn);
      if (rid === undefined) return;
      const raw: RawRequest = {
        socket: asUpgradeSocket(conn, rid),
        head: leftover,
        upgraded: false,
      };
      rawRequests.set(request, raw);
      const completed = Promise.withResolvers<void>();
      completed.promise.catch(() => {});
      let response: Response;
      try {
        response = await handler(request, {
          remoteAddr: conn.remoteAddr as Deno.NetAddr,
          completed: completed.promise,
        });
      } catch {
        response = new Response("Internal Server Error", { status: 500 });
      }
      if (raw.upgraded) {
        // The built-in socket writes the 101 and owns the connection from here.
        handedOver = true;
        completed.resolve();
        return;
      }
      try {
        await writeHttpResponse(conn, response);
        completed.resolve();
      } catch (error) {
        completed.reject(error);
      }
    } catch {
      /* the peer is gone */
    } finally {
      if (pending.delete(conn) && !handedOver) closeQuietly(conn);
    }
  };

  const accepting = acceptLoop(listener, (conn) => {
    const task = handle(conn);
    tasks.add(task);
    task.finally(() => tasks.delete(task));
  });

  let shuttingDown: Promise<void> | undefined;
  const shutdown = () =>
    shuttingDown ??= (async () => {
      await stopListening(listener, accepting, pending);
      await Promise.allSettled([...tasks]);
    })();
  signal?.addEventListener("abort", () => void shutdown(), { once: true });
  onListen?.(addr);
  const finished = accepting.then(() => shuttingDown);
  return {
    addr,
    finished: finished.then(() => {}),
    ref: () => listener.ref(),
    unref: () => listener.unref(),
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
