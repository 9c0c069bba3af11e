/**
 * Options shared by `serve()`, `handleUpgrade()` and `connect()`.
 *
 * @module
 */

import type { WebSocketEngine } from "./connection.ts";

/** Dead-peer detection: a ping after `interval` ms, a close with 1001 when no pong came within `timeout` ms. */
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

/** Limits and tuning every connection has, on either side. */
export interface ConnectionOptions {
  /**
   * Largest incoming message in bytes; a larger one closes the connection
   * with 1009. The `rfc6455` engine refuses it from the frame header, without
   * allocating it; the `native` engine can only check after arrival (and its
   * built-in cap of 64 MiB drops TCP without a close frame).
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
   * `send()` resolves once no more than this many bytes are buffered.
   * @default {1048576} (1 MiB)
   */
  sendHighWaterMark?: number;
  /**
   * `rfc6455` engine only: the payload size of each frame of a `beginBinary()` stream.
   * @default {65536}
   */
  fragmentSize?: number;
}

/** Server-side choice of subprotocol and connection settings, shared by `serve()` and `handleUpgrade()`. */
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
   * Which engine carries the connections.
   * @default {"native"}
   */
  engine?: WebSocketEngine;
}
