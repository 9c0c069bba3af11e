/**
 * The server side: {@linkcode listen} and {@linkcode FramedListener}.
 *
 * @module
 */

import type { FramedConnection } from "./connection.ts";
import { InvalidOptionError } from "./errors.ts";
import type { ListenOptions } from "./options.ts";
import type { MessageType, ReceiveValueOf, SendValueOf } from "./types.ts";
import { type ByteConn, Connection, type ConnectionSettings, tuneSocket } from "./_connection.ts";
import { listenNodeTls, type NodeTlsListener } from "./_node_tls.ts";
import { commonSettings } from "./_settings.ts";

/** A TLS handshake that takes longer than this is abandoned. */
const HANDSHAKE_TIMEOUT = 10_000;
/** Accepted connections waiting for an iterator before accepting pauses. */
const ACCEPT_BACKLOG = 64;

/**
 * A listening server. Iterate it to receive each new connection; it ends
 * when the listener closes.
 *
 * Connections are accepted while someone iterates (up to 64 wait for the
 * iterator; beyond that the kernel's backlog holds them). A TLS connection
 * is yielded once its handshake has succeeded; failed handshakes are dropped
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
 * Throws `InvalidOptionError` for bad options and Deno's own errors (e.g.
 * `Deno.errors.AddrInUse`) when the socket cannot be bound. With
 * `clientAuth`, a bind failure that shows up after the port was probed ends
 * iteration with that error instead.
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
    throw new InvalidOptionError(
      `Option "clientAuth" must be "none", "request" or "required", got ${
        JSON.stringify(clientAuth)
      }`,
    );
  }
  if (clientAuth !== "none" && common.cert === undefined) {
    throw new InvalidOptionError(`Option clientAuth "${clientAuth}" needs "cert" and "key" (TLS)`);
  }
  if (common.caCerts !== undefined && clientAuth === "none") {
    throw new InvalidOptionError(
      `Option "caCerts" on a server verifies client certificates: it needs clientAuth "request" or "required"`,
    );
  }
  const settings: ConnectionSettings = {
    framing: common.framing,
    sendType: common.sendType,
    receiveType: common.receiveType,
    maxMessageSize: common.maxMessageSize,
    idleTimeout: common.idleTimeout,
    maxUnsentMessages: Infinity,
    discardMessagesBeforeOpen: false,
  };
  const tls = common.cert !== undefined;
  const server = new Listener<SendValueOf<S>, ReceiveValueOf<R>>(
    settings,
    tls,
    common.noDelay,
    common.keepAlive,
    common.signal,
  );
  if (clientAuth !== "none") {
    server.attachNode(listenNodeTls({
      hostname: common.hostname,
      port: common.port,
      cert: common.cert!,
      key: common.key!,
      caCerts: common.caCerts,
      clientAuth,
      handshakeTimeout: HANDSHAKE_TIMEOUT,
      admit: (conn, socket) => {
        socket.setNoDelay(common.noDelay);
        socket.setKeepAlive(common.keepAlive);
        server.admit(conn);
      },
      fail: (error) => server.fail(error),
    }));
  } else {
    server.attachDeno(
      tls
        ? Deno.listenTls({
          hostname: common.hostname,
          port: common.port,
          cert: common.cert!,
          key: common.key!,
        })
        : Deno.listen({ hostname: common.hostname, port: common.port }),
    );
  }
  return server;
}

class Listener<S, R> implements FramedListener<S, R> {
  addr!: Deno.NetAddr;
  #listener: Deno.Listener | null = null;
  #nodeListener: NodeTlsListener | null = null;
  #failure: { error: unknown } | null = null;
  #settings: ConnectionSettings;
  #tls: boolean;
  #noDelay: boolean;
  #keepAlive: boolean;
  #signal?: AbortSignal;
  #onAbort: (() => void) | null = null;
  #connections = new Set<Connection<S, R>>();
  #handshaking = new Set<Deno.Conn>();
  #ready: Connection<S, R>[] = [];
  #waiters: ((connection: Connection<S, R> | null) => void)[] = [];
  #resume: (() => void) | null = null;
  #accepting: Promise<void> | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;

  constructor(
    settings: ConnectionSettings,
    tls: boolean,
    noDelay: boolean,
    keepAlive: boolean,
    signal?: AbortSignal,
  ) {
    this.#settings = settings;
    this.#tls = tls;
    this.#noDelay = noDelay;
    this.#keepAlive = keepAlive;
    this.#signal = signal;
    if (signal) {
      if (signal.aborted) {
        this.close();
      } else {
        this.#onAbort = () => this.close();
        signal.addEventListener("abort", this.#onAbort, { once: true });
      }
    }
  }

  attachDeno(listener: Deno.Listener): void {
    this.#listener = listener;
    this.addr = listener.addr as Deno.NetAddr;
    if (this.#closed) listener.close();
  }

  attachNode(listener: NodeTlsListener): void {
    this.#nodeListener = listener;
    this.addr = listener.addr;
    if (this.#closed) listener.close();
  }

  /** The server cannot go on (node listener failed to bind): end iteration with the error. */
  fail(error: unknown): void {
    this.#failure = { error };
    this.close();
  }

  get connections(): ReadonlySet<FramedConnection<S, R>> {
    return this.#connections;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<FramedConnection<S, R>> {
    if (this.#listener) this.#accepting ??= this.#acceptLoop(this.#listener);
    while (true) {
      const next = this.#ready.shift() ??
        (this.#closed ? null : await new Promise<Connection<S, R> | null>((resolve) => {
          this.#waiters.push(resolve);
        }));
      if (next === null) {
        if (this.#failure) throw this.#failure.error;
        return;
      }
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
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) break;
        // Transient failures (e.g. out of file descriptors): back off, keep serving.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      if (this.#closed) {
        conn.close();
        break;
      }
      tuneSocket(conn, this.#noDelay, this.#keepAlive);
      if (this.#tls) this.#handshake(conn as Deno.TlsConn);
      else this.admit(conn);
    }
    this.#end();
  }

  async #handshake(conn: Deno.TlsConn): Promise<void> {
    this.#handshaking.add(conn);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        conn.handshake(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new DOMException("TLS handshake timed out", "TimeoutError")),
            HANDSHAKE_TIMEOUT,
          );
        }),
      ]);
    } catch {
      this.#handshaking.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
      return;
    } finally {
      clearTimeout(timer);
    }
    this.#handshaking.delete(conn);
    if (this.#closed) {
      conn.close();
      return;
    }
    this.admit(conn);
  }

  admit(conn: ByteConn): void {
    if (this.#closed) {
      conn.close();
      return;
    }
    const connection = new Connection<S, R>(conn, this.#settings);
    this.#connections.add(connection);
    connection.closed.finally(() => this.#connections.delete(connection)).catch(() => {});
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
      this.#listener?.close();
    } catch {
      // Already closed.
    }
    const nodeClosed = this.#nodeListener?.close();
    this.#resume?.();
    for (const conn of this.#handshaking) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    this.#handshaking.clear();
    const pending = [...this.#connections, ...this.#ready.splice(0)];
    this.#end();
    await Promise.all(pending.map((connection) => connection.close()));
    await this.#accepting;
    await nodeClosed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
