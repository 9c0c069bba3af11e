/**
 * The rfc6455 engine behind the engine interface: our own `Rfc6455Socket`
 * on a raw `Deno.Conn`, its server (`Deno.listen`/`Deno.listenTls`) and its
 * client (`Deno.connect`/`Deno.connectTls`). Private to the module.
 *
 * @module
 */

import { acceptLoop } from "../_common/accept_loop.ts";
import { Connection } from "./_connection.ts";
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_SEND_HIGH_WATER_MARK,
  type EngineSocket,
  type Message,
} from "./_engine.ts";
import { negotiateDeflate } from "./_deflate.ts";
import {
  clientHandshake,
  serverHandshakeResponse,
  writeAll,
  writeHttpResponse,
} from "./_handshake.ts";
import { answerAndClose, BUSY, closeQuietly, readHeadWithin, stopListening } from "./_front.ts";
import { createTlsAcceptor } from "../_common/tls_accept.ts";
import type { ByteStream } from "./_frame.ts";
import type { FanOutMessage } from "./_sender.ts";
import { chooseProtocol, heartbeatOf } from "./_policy.ts";
import { Rfc6455Socket, SharedBudget, SharedSlots } from "./_rfc6455.ts";
import type { Listening, ServerCore } from "./_server_core.ts";
import type { WebSocketCloseInfo } from "./connection.ts";
import { WebSocketError } from "./errors.ts";
import type { ConnectOptions, ServeOptions } from "./options.ts";

/** `Rfc6455Socket` behind the engine interface. */
export class Rfc6455Engine implements EngineSocket {
  #socket: Rfc6455Socket;
  #closed: Promise<WebSocketCloseInfo> | undefined;

  constructor(socket: Rfc6455Socket) {
    this.#socket = socket;
  }

  get readable(): ReadableStream<Message> {
    return this.#socket.readable;
  }

  get closed(): Promise<WebSocketCloseInfo> {
    return this.#closed ??= this.#socket.closed.then((info) => {
      const error = this.#socket.error;
      return error ? { ...info, error } : info;
    });
  }

  get readyState(): 0 | 1 | 2 | 3 {
    return this.#socket.readyState;
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  send(data: Message): Promise<void> {
    return this.#socket.send(data);
  }

  sendMessage(message: FanOutMessage): boolean {
    return this.#socket.sendMessage(message);
  }

  beginBinary(): WritableStream<Uint8Array> {
    return this.#socket.beginBinary();
  }

  ping(data?: Uint8Array): Promise<number> {
    return this.#socket.ping(data);
  }

  close(code?: number, reason?: string): Promise<void> {
    return this.#socket.close(code, reason);
  }

  /** Drops TCP without a close frame and settles everything (1006 unless already closed). */
  terminate(): void {
    this.#socket.abort();
  }
}

/** Default `inflateConcurrency` of a server (npm `ws` uses 10 as well). */
export const DEFAULT_INFLATE_CONCURRENCY = 10;

/** Listens with `Deno.listen`/`Deno.listenTls` and runs our handshake on every connection. */
export function listenRfc6455(server: ServerCore, options: ServeOptions): Listening {
  const {
    hostname = "0.0.0.0",
    port = 8000,
    cert,
    key,
    maxHeaderBytes = 16 * 1024,
    handshakeTimeout = 10_000,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    sendHighWaterMark = DEFAULT_SEND_HIGH_WATER_MARK,
    closeTimeout = DEFAULT_CLOSE_TIMEOUT,
    fragmentSize,
    maxFragments,
    messageTimeout,
    deflate = false,
    heartbeat,
    maxConnections = 10_000,
    maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES,
    inflateConcurrency = DEFAULT_INFLATE_CONCURRENCY,
  } = options;
  /** What all connections of this server may hold together, and how many inflate at once. */
  const budget = new SharedBudget(maxBufferedBytes);
  const inflateSlots = deflate ? new SharedSlots(inflateConcurrency) : null;
  // TLS runs over our own TCP socket (not Deno.listenTls, whose connections cannot be freed
  // while their TLS handshake is pending): a handshake that does not finish within
  // handshakeTimeout really closes the socket (see _common/tls_accept.ts).
  const acceptTls = cert !== undefined && key !== undefined
    ? createTlsAcceptor({ cert, key, handshakeTimeout })
    : null;
  const listener = Deno.listen({ hostname, port });
  /** Aborts the TLS handshakes in progress when the server stops. */
  const stopping = new AbortController();
  /** Connections still in the handshake, and established sockets: both are ended by stop(). */
  const handshaking = new Set<ByteStream>();
  const sockets = new Set<Rfc6455Socket>();
  const beat = heartbeatOf(heartbeat);

  const handle = async (tcp: Deno.TcpConn) => {
    if (handshaking.size >= maxConnections) {
      // Heads being read are bounded too: a flood of half-open heads gets 503 at once
      // (over TLS, before any handshake, there is nobody to read an HTTP answer).
      if (acceptTls) tcp.close();
      else await answerAndClose(tcp, BUSY);
      return;
    }
    const started = Date.now();
    let conn: ByteStream = tcp;
    handshaking.add(tcp);
    if (acceptTls) {
      try {
        conn = await acceptTls(tcp, stopping.signal);
      } catch {
        handshaking.delete(tcp); // the acceptor closed it
        return;
      }
      handshaking.delete(tcp);
      if (stopping.signal.aborted) {
        conn.close();
        return;
      }
      handshaking.add(conn);
    }
    // The TLS handshake and the head share one handshakeTimeout.
    const headTimeout = Math.max(1, handshakeTimeout - (Date.now() - started));
    // Two deadlines: one for the peer's request head, one for writing our answer. The time
    // authorize() takes in between has its own limit (admission answers 503), which must be
    // able to reach the peer.
    let timer: ReturnType<typeof setTimeout> | undefined;
    let connection: Connection | undefined;
    try {
      const head = await readHeadWithin(conn, headTimeout, {
        maxHeaderBytes,
        secure: acceptTls !== null,
      });
      if (head === null) return; // answered, or the peer left: `finally` closes it
      const { request, leftover } = head;
      const rejection = await server.admission(request);
      timer = setTimeout(() => closeQuietly(conn), handshakeTimeout);
      if (rejection) {
        await writeHttpResponse(conn, rejection);
        throw rejection;
      }
      const protocol = chooseProtocol(request, options);
      const agreed = deflate
        ? negotiateDeflate(request.headers.get("sec-websocket-extensions"), deflate)
        : null;
      const extensions = agreed?.response ?? "";
      let answer: Uint8Array;
      try {
        answer = serverHandshakeResponse(request, { protocol, extensions });
      } catch (error) {
        const status = (error as { status?: number }).status ?? 400;
        await writeHttpResponse(conn, new Response((error as Error).message, { status }));
        throw error;
      }
      await writeAll(conn, answer);
      clearTimeout(timer);
      handshaking.delete(conn);
      const socket = new Rfc6455Socket(conn, {
        role: "server",
        maxMessageSize,
        sendHighWaterMark,
        closeTimeout,
        fragmentSize,
        maxFragments,
        messageTimeout,
        budget,
        inflateSlots,
        deflate: agreed?.params ?? null,
        leftover,
        protocol,
        extensions,
      });
      const url = new URL(request.url);
      connection = new Connection(new Rfc6455Engine(socket), {
        engine: "rfc6455",
        path: url.pathname + url.search,
        headers: request.headers,
        protocol,
        extensions,
        remoteAddr: conn.remoteAddr as Deno.NetAddr,
      });
      sockets.add(socket);
      connection.closed.then(() => sockets.delete(socket));
      if (beat) connection.startHeartbeat(beat);
      server.admit(connection);
    } catch {
      closeQuietly(conn);
    } finally {
      clearTimeout(timer);
      if (handshaking.delete(conn)) closeQuietly(conn);
    }
  };

  const accepting = acceptLoop(listener, (conn) => void handle(conn));

  return {
    addr: listener.addr as Deno.NetAddr,
    stop: async () => {
      // TLS handshakes in progress (and any the listener still accepts) fail at once.
      stopping.abort();
      await stopListening(listener, accepting, handshaking);
      // Whatever did not finish its close handshake in the grace period is dropped.
      for (const socket of sockets) socket.abort();
    },
  };
}

/** Connects with `Deno.connect`/`Deno.connectTls` and runs our client handshake. */
export async function connectRfc6455(url: URL, options: ConnectOptions): Promise<Connection> {
  const {
    protocols,
    headers,
    caCerts,
    signal,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    sendHighWaterMark = DEFAULT_SEND_HIGH_WATER_MARK,
    closeTimeout = DEFAULT_CLOSE_TIMEOUT,
    fragmentSize,
    maxFragments,
    messageTimeout,
    deflate = false,
    handshakeTimeout = 10_000,
  } = options;
  const secure = url.protocol === "wss:";
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || (secure ? 443 : 80));
  let conn: Deno.Conn;
  try {
    conn = secure
      ? await Deno.connectTls({ hostname, port, caCerts, signal } as Deno.ConnectTlsOptions)
      : await Deno.connect({ hostname, port, signal } as Deno.ConnectOptions);
  } catch (cause) {
    if (signal?.aborted) throw signal.reason;
    throw new WebSocketError(
      "ERR_HANDSHAKE_FAILED",
      `Could not connect to "${url}": ${(cause as Error).message}`,
      { cause },
    );
  }
  let timedOut = false;
  const stop = () => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  signal?.addEventListener("abort", stop, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, handshakeTimeout);
  try {
    const agreed = await clientHandshake(conn, url, {
      protocols,
      headers,
      deflate: deflate === false ? false : deflate,
    });
    const socket = new Rfc6455Socket(conn, {
      role: "client",
      maxMessageSize,
      sendHighWaterMark,
      closeTimeout,
      fragmentSize,
      maxFragments,
      messageTimeout,
      deflate: agreed.deflate,
      leftover: agreed.leftover,
      protocol: agreed.protocol,
      extensions: agreed.extensions,
    });
    return new Connection(new Rfc6455Engine(socket), {
      engine: "rfc6455",
      path: url.pathname + url.search,
      headers: agreed.response.headers,
      protocol: agreed.protocol,
      extensions: agreed.extensions,
      remoteAddr: conn.remoteAddr as Deno.NetAddr,
    });
  } catch (error) {
    stop();
    if (signal?.aborted) throw signal.reason;
    if (timedOut) {
      throw new DOMException(`Handshake took longer than ${handshakeTimeout} ms`, "TimeoutError");
    }
    throw handshakeError(error, url);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
  }
}

/**
 * A refusal (`ERR_UNEXPECTED_STATUS`, a subprotocol mismatch) rejects as it
 * is; any other failure, a malformed answer included, becomes a
 * `WebSocketError` `ERR_HANDSHAKE_FAILED` naming the URL, with the original
 * as its `cause`.
 */
function handshakeError(error: unknown, url: URL): WebSocketError {
  if (error instanceof WebSocketError && error.code !== "ERR_HANDSHAKE_FAILED") {
    return error;
  }
  return new WebSocketError(
    "ERR_HANDSHAKE_FAILED",
    `Handshake with "${url}" failed: ${(error as Error)?.message ?? String(error)}`,
    { cause: error },
  );
}
