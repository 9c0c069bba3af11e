/**
 * The server side: {@linkcode listen} and {@linkcode FramedListener}.
 *
 * @module
 */

import type { FramedConnection } from "./connection.ts";
import { FramedTypeError } from "./errors.ts";
import type { ListenOptions } from "./options.ts";
import type { MessageType, ReceiveValueOf, SendValueOf } from "./types.ts";
import {
  type ByteConn,
  Connection,
  type ConnectionSettings,
  ReceiveBudget,
  tuneSocket,
} from "./_connection.ts";
import { checkNumber, commonSettings } from "./_settings.ts";
import { createTlsAcceptor, type TlsAcceptor } from "../_common/tls_accept.ts";
import { delay } from "../_common/delay.ts";

/** @default handshakeTimeout */
const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** @default maxConnections */
const DEFAULT_MAX_CONNECTIONS = 10_000;
/** @default maxBufferedBytes */
const DEFAULT_MAX_BUFFERED_BYTES = 128 * 1024 * 1024;
/** Accepted connections waiting for an iterator before accepting pauses. */
const ACCEPT_BACKLOG = 64;

/**
 * A listening server. Iterate it to receive each new connection; it ends
 * when the listener closes.
 *
 * Connections are accepted from the start (up to 64 wait for an iterator;
 * beyond that the kernel's backlog holds them), at most
 * `maxConnections` at a time. A TLS connection is yielded once its handshake
 * has succeeded; failed or late handshakes (`handshakeTimeout`) are dropped
 * without disturbing anyone else.
 *
 * @typeParam Send values its connections send
 * @typeParam Receive values its connections receive
 *
 * @example
 * ```ts
 * import { listen } from "./mod.ts";
 *
 * await using server = listen({ hostname: "127.0.0.1", port: 0, sendType: "json" });
 * console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);
 * setTimeout(() => server.close(), 10);
 * for await (const connection of server) {
 *   await connection.send({ welcome: true });
 * }
 * ```
 */
export interface FramedListener<Send = unknown, Receive = unknown>
  extends AsyncIterable<FramedConnection<Send, Receive>>, AsyncDisposable {
  /** The address it listens on (with the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** The connections currently open. */
  readonly connections: ReadonlySet<FramedConnection<Send, Receive>>;
  /** Stops listening, closes every connection and ends every iterator. */
  close(): Promise<void>;
}

/**
 * Starts a TCP (or, with `cert` and `key`, TLS) server.
 *
 * Throws `FramedTypeError` (`ERR_INVALID_OPTION`) for bad options and Deno's own errors (e.g.
 * `Deno.errors.AddrInUse`) when the socket cannot be bound.
 *
 * Needs `--allow-net` for the address.
 *
 * @typeParam S the outgoing payload type
 * @typeParam R the incoming payload type
 * @param options where to listen and how connections behave
 * @returns the listener
 *
 * @example Count the numbers each client sends
 * ```ts
 * import { connect, listen } from "./mod.ts";
 *
 * await using server = listen({ hostname: "127.0.0.1", port: 0, sendType: "int" });
 * const served = (async () => {
 *   for await (const connection of server) {
 *     for await (const value of connection.readable) console.log("got", value);
 *     return;
 *   }
 * })();
 * const client = await connect({ hostname: "127.0.0.1", port: server.addr.port, sendType: "int" });
 * await client.send([1, 2, 3]);
 * await client.close();
 * await served;
 * ```
 */
export function listen<S extends MessageType = "string", R extends MessageType = S>(
  options: ListenOptions<S, R> = {},
): FramedListener<SendValueOf<S>, ReceiveValueOf<R>> {
  const common = commonSettings(options, "0.0.0.0");
  const { clientAuth = "none" } = options;
  if (clientAuth !== "none" && clientAuth !== "request" && clientAuth !== "required") {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option "clientAuth" must be "none", "request" or "required", got ${
        JSON.stringify(clientAuth)
      }`,
    );
  }
  if (clientAuth !== "none" && common.cert === undefined) {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option clientAuth "${clientAuth}" needs "cert" and "key" (TLS)`,
    );
  }
  if (common.caCerts !== undefined && clientAuth === "none") {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option "caCerts" on a server verifies client certificates: it needs clientAuth "request" or "required"`,
    );
  }
  const {
    handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT,
    maxConnections = DEFAULT_MAX_CONNECTIONS,
    maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES,
  } = options;
  checkNumber("handshakeTimeout", handshakeTimeout, 1, 2 ** 31 - 1, false);
  checkNumber("maxConnections", maxConnections, 1, Infinity);
  checkNumber("maxBufferedBytes", maxBufferedBytes, 0, Number.MAX_SAFE_INTEGER);
  const settings: ConnectionSettings = {
    framing: common.framing,
    sendType: common.sendType,
    receiveType: common.receiveType,
    maxMessageSize: common.maxMessageSize,
    idleTimeout: common.idleTimeout,
    messageTimeout: common.messageTimeout,
    sendTimeout: common.sendTimeout,
    maxUnsentMessages: Infinity,
    discardMessagesBeforeOpen: false,
    budget: new ReceiveBudget(maxBufferedBytes),
  };
  // Set below, once the listener exists: connections tell it when they end.
  let server: Listener<SendValueOf<S>, ReceiveValueOf<R>> | undefined;
  settings.onEnd = (connection) => server?.forget(connection);
  const acceptTls = common.cert === undefined ? null : createTlsAcceptor({
    cert: common.cert,
    key: common.key!,
    caCerts: common.caCerts,
    clientAuth,
    handshakeTimeout,
  });
  const listener = Deno.listen({ hostname: common.hostname, port: common.port });
  return server = new Listener<SendValueOf<S>, ReceiveValueOf<R>>(
    listener,
    settings,
    acceptTls,
    maxConnections,
    common.noDelay,
    common.keepAlive,
    common.signal,
  );
}

class Listener<S, R> implements FramedListener<S, R> {
  readonly addr: Deno.NetAddr;
  #listener: Deno.Listener;
  #settings: ConnectionSettings;
  #acceptTls: TlsAcceptor | null;
  #maxConnections: number;
  #noDelay: boolean;
  #keepAlive: boolean;
  #signal?: AbortSignal;
  #onAbort: (() => void) | null = null;
  /** Aborts every TLS handshake in progress when the listener closes. */
  #handshakes = new AbortController();
  #handshaking = 0;
  #connections = new Set<Connection<S, R>>();
  #ready: Connection<S, R>[] = [];
  #waiters: ((connection: Connection<S, R> | null) => void)[] = [];
  #resume: (() => void) | null = null;
  #accepting: Promise<void> | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;

  constructor(
    listener: Deno.Listener,
    settings: ConnectionSettings,
    acceptTls: TlsAcceptor | null,
    maxConnections: number,
    noDelay: boolean,
    keepAlive: boolean,
    signal?: AbortSignal,
  ) {
    this.#listener = listener;
    this.addr = listener.addr as Deno.NetAddr;
    this.#settings = settings;
    this.#acceptTls = acceptTls;
    this.#maxConnections = maxConnections;
    this.#noDelay = noDelay;
    this.#keepAlive = keepAlive;
    this.#signal = signal;
    // Accept (and run TLS handshakes) from the start; up to ACCEPT_BACKLOG
    // connections then wait for an iterator.
    this.#accepting = this.#acceptLoop(listener);
    if (signal) {
      if (signal.aborted) {
        this.close();
      } else {
        this.#onAbort = () => this.close();
        signal.addEventListener("abort", this.#onAbort, { once: true });
      }
    }
  }

  get connections(): ReadonlySet<FramedConnection<S, R>> {
    return this.#connections;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<FramedConnection<S, R>> {
    while (true) {
      const next = this.#ready.shift() ??
        (this.#closed ? null : await new Promise<Connection<S, R> | null>((resolve) => {
          this.#waiters.push(resolve);
        }));
      if (next === null) return;
      this.#resume?.();
      yield next;
    }
  }

  async #acceptLoop(listener: Deno.Listener): Promise<void> {
    while (!this.#closed) {
      if (this.#ready.length >= ACCEPT_BACKLOG) {
        await new Promise<void>((resolve) => this.#resume = resolve);
        this.#resume = null;
        continue;
      }
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept() as Deno.TcpConn;
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) break;
        // Transient failures (e.g. out of file descriptors): back off, keep serving.
        await delay(50);
        continue;
      }
      if (this.#closed) {
        conn.close();
        break;
      }
      if (this.#connections.size + this.#ready.length + this.#handshaking >= this.#maxConnections) {
        conn.close();
        continue;
      }
      tuneSocket(conn, this.#noDelay, this.#keepAlive);
      if (this.#acceptTls) this.#handshake(this.#acceptTls, conn);
      else this.admit(conn);
    }
    this.#end();
  }

  async #handshake(acceptTls: TlsAcceptor, tcp: Deno.TcpConn): Promise<void> {
    this.#handshaking++;
    let conn: ByteConn;
    try {
      conn = await acceptTls(tcp, this.#handshakes.signal);
    } catch {
      // Closed already: a late, failed or refused handshake only ends itself.
      return;
    } finally {
      this.#handshaking--;
    }
    this.admit(conn);
  }

  /** A connection has ended: it is no longer counted. */
  forget(connection: FramedConnection<never, unknown>): void {
    this.#connections.delete(connection as unknown as Connection<S, R>);
  }

  /** Wraps an accepted (and secured) socket and hands it to an iterator. */
  admit(conn: ByteConn): void {
    if (this.#closed) {
      conn.close();
      return;
    }
    const connection = new Connection<S, R>(conn, this.#settings);
    this.#connections.add(connection);
    const waiter = this.#waiters.shift();
    if (waiter) waiter(connection);
    else this.#ready.push(connection);
  }

  #end(): void {
    for (const waiter of this.#waiters.splice(0)) waiter(null);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    if (this.#onAbort) this.#signal?.removeEventListener("abort", this.#onAbort);
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    this.#resume?.();
    this.#handshakes.abort(new DOMException("Listener closed", "AbortError"));
    const pending = [...this.#connections, ...this.#ready.splice(0)];
    this.#end();
    await Promise.all(pending.map((connection) => connection.close()));
    await this.#accepting;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
