/**
 * Options shared by `serve()`, `handleUpgrade()` and `connect()`.
 *
 * @module
 */

import type { Cluster } from "../cluster/types.ts";
import type { WebSocketEngine } from "./connection.ts";

/** Dead-peer detection: a ping after `interval` ms, a close with 1001 when no pong came within `timeout` ms. *
 * @example
 * ```ts
 * import { serve } from "@netkit/realtime/websocket";
 * await using server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   heartbeat: { interval: 20_000, timeout: 10_000 },
 * });
 * ```
 */
export interface HeartbeatOptions {
  /**
   * Milliseconds between the last sign of life and the next ping.
   * @default {15000}
   */
  interval?: number;
  /**
   * Milliseconds to wait for the pong before closing with 1001.
   * @default {15000}
   */
  timeout?: number;
}

/**
 * permessage-deflate (RFC 7692) settings, `rfc6455` engine only.
 *
 * @example
 * ```ts
 * import type { PerMessageDeflateOptions } from "@netkit/realtime/websocket";
 * const deflate: PerMessageDeflateOptions = { threshold: 256, serverNoContextTakeover: true };
 * ```
 */
export interface PerMessageDeflateOptions {
  /**
   * Messages smaller than this many bytes are sent uncompressed.
   * @default {1024}
   */
  threshold?: number;
  /**
   * zlib compression level, 0–9 (-1: zlib's default).
   * @default {-1}
   */
  level?: number;
  /**
   * Ask for (client) / insist on (server) the server resetting its compressor after each message.
   * @default {false}
   */
  serverNoContextTakeover?: boolean;
  /**
   * Ask for / insist on the client resetting its compressor after each message.
   * @default {false}
   */
  clientNoContextTakeover?: boolean;
  /**
   * Largest LZ77 window (2^bits) the server may compress with, 9–15.
   * @default {15}
   */
  serverMaxWindowBits?: number;
  /**
   * Largest LZ77 window (2^bits) the client may compress with, 9–15.
   * @default {15}
   */
  clientMaxWindowBits?: number;
}

/** Limits and tuning every connection has, on either side. *
 * @example
 * ```ts
 * import { connect } from "@netkit/realtime/websocket";
 * await connect("ws://127.0.0.1:9/", {
 *   maxMessageSize: 1024 * 1024,
 *   sendHighWaterMark: 256 * 1024,
 * }).catch(() => {});
 * ```
 */
export interface ConnectionOptions {
  /**
   * Largest incoming message in bytes; a larger one closes the connection
   * with 1009. The `rfc6455` engine refuses it from the frame header, without
   * allocating it; the `native` engine can only check after arrival (and its
   * built-in cap of 64 MiB drops TCP without a close frame, so a larger value
   * is refused with `ERR_INVALID_OPTION` on that engine).
   * @default {16777216} (16 MiB)
   */
  maxMessageSize?: number;
  /**
   * `native` engine only: unread received bytes held before the connection is
   * closed with 1008, because the built-in socket cannot stop reading TCP.
   * (The `rfc6455` engine stops reading TCP instead.)
   * @default {2 * maxMessageSize}
   */
  receiveQueueLimit?: number;
  /**
   * `native` engine only: unread received messages held before the
   * connection is closed with 1008 (`ERR_RECEIVE_QUEUE_FULL`). Counted as
   * well as bytes, because empty messages cost memory but no bytes: the
   * queue is full once `messages / receiveQueueMessages + bytes /
   * receiveQueueLimit` reaches 1.
   * @default {4096}
   */
  receiveQueueMessages?: number;
  /**
   * `rfc6455` engine only: most frames one incoming message may arrive in;
   * more close the connection with 1009 (`ERR_TOO_MANY_FRAGMENTS`).
   * @default {4096}
   */
  maxFragments?: number;
  /**
   * `send()` resolves once no more than this many bytes are buffered.
   * @default {1048576} (1 MiB)
   */
  sendHighWaterMark?: number;
  /**
   * `rfc6455` engine only: the payload size of each frame of a `beginBinary()` stream.
   * @default {65536}
   */
  fragmentSize?: number;
  /**
   * `rfc6455` engine only: offer (client) / accept (server) permessage-deflate.
   * Decompressed messages are held to `maxMessageSize` as well.
   * @default {false}
   */
  deflate?: boolean | PerMessageDeflateOptions;
  /**
   * Milliseconds the opening handshake may take; a slower peer is dropped
   * (a client rejects with a `TimeoutError`).
   * @default {10000}
   */
  handshakeTimeout?: number;
  /**
   * Milliseconds `close()` waits for the peer's close frame; then the
   * connection counts as closed with 1006 (the rfc6455 engine drops TCP; the
   * built-in socket cannot be dropped from JS and lingers until the peer or
   * the server's shutdown ends it).
   * @default {5000}
   */
  closeTimeout?: number;
}

/** Server-side choice of subprotocol and connection settings, shared by `serve()` and `handleUpgrade()`. *
 * @example
 * ```ts
 * import { serve } from "@netkit/realtime/websocket";
 * await using server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   selectProtocol: (_request, offered) => offered.find((name) => name.startsWith("chat.")),
 *   engine: "rfc6455",
 *   deflate: true,
 * });
 * ```
 */
export interface UpgradeOptions extends ConnectionOptions {
  /**
   * Subprotocols this server speaks: the first one the client offers that is
   * in this list is chosen; none when there is no match.
   */
  protocols?: string[];
  /**
   * Picks the subprotocol from those the client offered (wins over
   * `protocols`). Returning `undefined`, `null` or a name that was not offered means none.
   */
  selectProtocol?: (request: Request, offered: string[]) => string | undefined | null;
  /**
   * Pings to detect dead peers and closes them with 1001; `false` disables.
   * The `native` engine uses the built-in `idleTimeout`: it pings after
   * `(interval + timeout) / 2` ms without traffic and closes after `interval + timeout` ms.
   * @default {{ interval: 15000, timeout: 15000 }}
   */
  heartbeat?: HeartbeatOptions | false;
  /**
   * Milliseconds a peer may go without reading what we send: a
   * `broadcast()` message not accepted by a connection within this time
   * (its buffer staying above `sendHighWaterMark`), or — native engine — a
   * send buffer that holds data and does not drain for this long, closes
   * the connection with 1008 (`ERR_SEND_TIMEOUT`). The rfc6455 engine's
   * heartbeat catches a non-reader as well (its ping waits behind the data).
   * `0` disables.
   * @default {30000}
   */
  sendTimeout?: number;
  /**
   * Which engine carries the connections. `serve()` defaults to `"rfc6455"`
   * (the only engine that enforces every limit: see the README);
   * `handleUpgrade()` supports `"native"` only.
   * @default {"rfc6455"} for `serve()`, `"native"` for `handleUpgrade()`
   */
  engine?: WebSocketEngine;
  /**
   * Rooms span every server on this cluster (from `connectCluster()` of
   * `@netkit/realtime/cluster`). Without it, rooms are local: per server with
   * `serve()`, per process with `handleUpgrade()`.
   */
  cluster?: Cluster;
}
