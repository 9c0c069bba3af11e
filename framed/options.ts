/**
 * Options of {@linkcode listen} and {@linkcode connect}.
 *
 * @module
 */

import type { MessageType } from "./types.ts";

/**
 * Options shared by both sides of a connection.
 *
 * @typeParam S the payload type of outgoing messages
 * @typeParam R the payload type of incoming messages
 *
 * @example
 * ```ts
 * import type { FramedOptions } from "./mod.ts";
 *
 * const options: FramedOptions<"json", "json"> = {
 *   port: 4000,
 *   sendType: "json",
 *   receiveType: "json",
 *   maxMessageSize: 1 << 20,
 *   idleTimeout: 30_000,
 * };
 * ```
 */
export interface FramedOptions<S extends MessageType = MessageType, R extends MessageType = S> {
  /**
   * Where to listen (server) or which host to dial (client).
   *
   * @default {"0.0.0.0"} for `listen()`, `"localhost"` for `connect()`
   */
  hostname?: string;
  /**
   * The port to listen on (0 picks a free one; read it back from
   * `listener.addr.port`) or to dial.
   *
   * @default {4000}
   */
  port?: number;
  /**
   * `"length"`: every `send()` is one message behind a length header (the
   * seed's wire format). `"raw"`: bytes go out as they are and arrive in
   * whatever pieces TCP delivers; numeric types arrive element by element.
   *
   * @default {"length"}
   */
  framing?: "length" | "raw";
  /**
   * The payload type of outgoing messages.
   *
   * @default {"string"}
   */
  sendType?: S;
  /**
   * The payload type of incoming messages.
   *
   * @default {sendType}
   */
  receiveType?: R;
  /**
   * The largest payload in bytes a message may have, in either direction.
   * A peer announcing more gets its connection closed with
   * `MessageTooLargeError` before anything is allocated for it.
   *
   * @default {16777216} (16 MiB)
   */
  maxMessageSize?: number;
  /**
   * Milliseconds without traffic in either direction after which the
   * connection is closed with a `TimeoutError`. 0 = never. (The seed counted
   * seconds.)
   *
   * @default {0}
   */
  idleTimeout?: number;
  /**
   * `TCP_NODELAY`: send small writes at once instead of waiting to coalesce
   * them (Nagle's algorithm). Has no effect on the server side of TLS
   * connections without `clientAuth`, which `Deno.listenTls` does not expose
   * as TCP sockets.
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * `SO_KEEPALIVE`: probe idle connections so dead peers are noticed. Has no
   * effect on server-side TLS connections (see `noDelay`).
   *
   * @default {true}
   */
  keepAlive?: boolean;
  /**
   * Certificate chain in PEM. On the server this (with `key`) turns TLS on;
   * on the client it is the client certificate presented to the server.
   */
  cert?: string;
  /** Private key in PEM matching `cert`. */
  key?: string;
  /**
   * Root certificates in PEM. A client trusts them (besides the built-in
   * roots) to verify the server, and giving them turns TLS on; a server with
   * `clientAuth` verifies client certificates against them.
   */
  caCerts?: readonly string[];
  /**
   * Aborting it closes the listener (and its connections), or cancels
   * `connect()` / closes the connection, with an `AbortError`.
   */
  signal?: AbortSignal;
}

/**
 * Server options of {@linkcode listen}.
 *
 * @example
 * ```ts
 * import type { ListenOptions } from "./mod.ts";
 *
 * const options: ListenOptions<"bytes"> = { hostname: "127.0.0.1", port: 0, sendType: "bytes" };
 * ```
 */
export interface ListenOptions<S extends MessageType = MessageType, R extends MessageType = S>
  extends FramedOptions<S, R> {
  /**
   * TLS client certificates (needs `cert` and `key`): `"none"` does not ask
   * for one; `"request"` asks, admits clients without one and refuses an
   * untrusted one; `"required"` refuses clients without a certificate signed
   * by one of `caCerts`. The verified certificate is on the connection's
   * `peerCertificate`.
   *
   * `Deno.listenTls` cannot ask for client certificates, so with
   * `"request"`/`"required"` the server runs on Deno's `node:tls` instead
   * (same wire behaviour). That server binds asynchronously: `addr` is known
   * at once (port 0 is resolved by briefly binding a free port), but for the
   * first few milliseconds after `listen()` returns, connections are refused
   * (a client's `reconnect` retries cover that).
   *
   * @default {"none"}
   */
  clientAuth?: "none" | "request" | "required";
}

/**
 * Retries of the initial connect, and optional re-establishment of a
 * connection that drops.
 *
 * @example
 * ```ts
 * import type { ReconnectOptions } from "./mod.ts";
 *
 * const reconnect: ReconnectOptions = { attempts: 5, interval: 200, onDrop: true };
 * ```
 */
export interface ReconnectOptions {
  /**
   * Retries after the first attempt fails (so `attempts + 1` attempts in
   * all). 0 = no retry.
   *
   * @default {10}
   */
  attempts?: number;
  /**
   * Milliseconds between attempts.
   *
   * @default {1000}
   */
  interval?: number;
  /**
   * Re-establish the connection (with the same `attempts` and `interval`)
   * when it drops without `close()` having been called. The same
   * `FramedConnection` object carries on: its `readable` continues with the
   * new socket's messages, and `send()` queues while it reconnects (see
   * `maxUnsentMessages`). A message cut in half by the drop is discarded.
   * TCP gives no delivery receipt: a message written to the old socket
   * after the peer went away but before the drop was noticed is lost, so
   * use application-level acknowledgements where that matters.
   *
   * @default {false}
   */
  onDrop?: boolean;
}

/**
 * Client options of {@linkcode connect}.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./mod.ts";
 *
 * const options: ConnectOptions<"int"> = {
 *   hostname: "localhost",
 *   port: 4000,
 *   sendType: "int",
 *   connectTimeout: 2000,
 *   reconnect: { attempts: 3, interval: 500, onDrop: true },
 * };
 * ```
 */
export interface ConnectOptions<S extends MessageType = MessageType, R extends MessageType = S>
  extends FramedOptions<S, R> {
  /**
   * Use TLS. Turned on by `caCerts` or `cert`; set it alone to verify the
   * server against the built-in root certificates.
   *
   * @default {false}
   */
  tls?: boolean;
  /**
   * Milliseconds each connection attempt may take (TCP connect plus TLS
   * handshake) before it fails with a `TimeoutError`.
   *
   * @default {6000}
   */
  connectTimeout?: number;
  /**
   * Retry policy of the initial connect (and, with `onDrop`, reconnection
   * after a drop). `false` = a single attempt.
   *
   * @default {{ attempts: 10, interval: 1000, onDrop: false }}
   */
  reconnect?: ReconnectOptions | false;
  /**
   * How many messages `send()` may queue while the connection is not open
   * (reconnecting after a drop); the next send is rejected with
   * `UnsentQueueFullError`. `Infinity` = no limit.
   *
   * @default {100}
   */
  maxUnsentMessages?: number;
  /**
   * While the connection is not open, reject sends with `NotConnectedError`
   * instead of queueing them.
   *
   * @default {false}
   */
  discardMessagesBeforeOpen?: boolean;
}
