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
   * `FramedRangeError` `ERR_MESSAGE_TOO_LARGE` before anything is allocated for it.
   *
   * For the numeric types it bounds the decoded array, 8 bytes per element
   * (a JavaScript number), so a message holds at most
   * `Math.floor(maxMessageSize / 8)` elements: 2 MiB of `byte`s or 16 MiB of
   * `double`s by default.
   *
   * @default {16777216} (16 MiB)
   */
  maxMessageSize?: number;
  /**
   * Milliseconds without traffic in either direction, while we wait for the
   * peer, after which the connection is closed with a `TimeoutError`
   * `DOMException` whose message starts `idleTimeout:`. Time the consumer of `readable` spends
   * behind does not count. 0 = never. (The seed counted seconds and
   * defaulted to never; a peer must not hold a connection forever.)
   *
   * @default {120000} (2 minutes, as uWebSockets)
   */
  idleTimeout?: number;
  /**
   * Milliseconds a message may stay incomplete (from its first byte until
   * its last, counting only time spent waiting for the peer) before the
   * connection is closed with a `TimeoutError` `DOMException` whose message
   * starts `messageTimeout:`. Stops peers that stall inside a header or
   * trickle a message; raise it for large messages over slow links.
   * 0 = never.
   *
   * @default {30000}
   */
  messageTimeout?: number;
  /**
   * Milliseconds one socket write may wait for the peer to take our bytes
   * (a peer that does not read) before the connection is closed with a
   * `TimeoutError` `DOMException` whose message starts `sendTimeout:`. 0 = never.
   *
   * @default {30000}
   */
  sendTimeout?: number;
  /**
   * `TCP_NODELAY`: send small writes at once instead of waiting to coalesce
   * them (Nagle's algorithm).
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * `SO_KEEPALIVE`: probe idle connections so dead peers are noticed.
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
   * @default {"none"}
   */
  clientAuth?: "none" | "request" | "required";
  /**
   * Milliseconds a TLS client has, from the moment it is accepted, to finish
   * its handshake; then its socket is closed (really closed: the server
   * accepts plain TCP and runs TLS itself, because `Deno.listenTls` cannot
   * drop a connection whose handshake is pending).
   *
   * @default {10000}
   */
  handshakeTimeout?: number;
  /**
   * Connections open (or in their TLS handshake) at most; one more is closed
   * as soon as it is accepted. `Infinity` = no limit.
   *
   * @default {10000}
   */
  maxConnections?: number;
  /**
   * Receive memory the server's connections may hold together beyond their
   * first 4 KiB each: grown receive buffers and messages larger than 256 KiB
   * as they arrive. A connection that needs more than what is left is
   * closed with `FramedRangeError` `ERR_BUFFER_LIMIT` (the others keep theirs); a buffer that
   * would only speed reading up is simply not grown. Keep it at least
   * `maxMessageSize`.
   *
   * @default {134217728} (128 MiB)
   */
  maxBufferedBytes?: number;
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
   * `FramedRangeError` `ERR_UNSENT_QUEUE_FULL`. `Infinity` = no limit.
   *
   * @default {100}
   */
  maxUnsentMessages?: number;
  /**
   * While the connection is not open, reject sends with `FramedError`
   * `ERR_NOT_CONNECTED` instead of queueing them.
   *
   * @default {false}
   */
  discardMessagesBeforeOpen?: boolean;
}
