/**
 * The `WebSocketConnection` type: one open WebSocket, server or client side,
 * whichever engine carries it.
 *
 * @module
 */

import type { WebSocketClosingError } from "./errors.ts";

/**
 * How a connection ended.
 *
 * @example
 * ```ts
 * import { connect } from "@netkit/realtime/websocket";
 * const ws = await connect("ws://127.0.0.1:9/").catch(() => null);
 * const { code, reason } = (await ws?.closed) ?? { code: 1006, reason: "" };
 * if (code === 1006) console.log("connection lost", reason);
 * ```
 */
export interface WebSocketCloseInfo {
  /**
   * The close code: the peer's (or ours, when we closed first), 1005 when
   * none was sent, 1006 when the transport was lost without a close frame.
   */
  code: number;
  /** The close reason, `""` when none. */
  reason: string;
  /**
   * Set when this side closed the connection because the peer broke a
   * limit or a protocol rule: its stable `code` says which (for example
   * `ERR_MESSAGE_TOO_LARGE` with close code 1009, `ERR_SEND_QUEUE_FULL`
   * with 1008, `ERR_SERVER_BUSY` with 1013; see the README's table) and its
   * `closeCode` what was sent.
   */
  error?: WebSocketClosingError;
}

/**
 * The engine that carries a connection.
 *
 * @example
 * ```ts
 * import { serve, type WebSocketEngine } from "@netkit/realtime/websocket";
 * const engine: WebSocketEngine = "rfc6455";
 * await using server = serve({ hostname: "127.0.0.1", port: 0, engine });
 * ```
 */
export type WebSocketEngine = "native" | "rfc6455";

/**
 * One WebSocket connection as a pair of web streams plus the usual controls.
 *
 * Messages arrive whole on `readable` (text as `string`, binary as
 * `Uint8Array`). Reading slowly slows the sender: on the `rfc6455` engine the
 * socket stops reading TCP; on the `native` engine (which cannot pause TCP)
 * at most `receiveQueueLimit` unread bytes are held and the connection is
 * then closed with 1008 instead of growing memory.
 *
 * @example Echo every message
 * ```ts
 * import { serve } from "@netkit/realtime/websocket";
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * (async () => {
 *   for await (const conn of server) {
 *     (async () => {
 *       for await (const message of conn.readable) await conn.send(message);
 *     })();
 *   }
 * })();
 * ```
 */
export interface WebSocketConnection extends AsyncDisposable {
  /**
   * Incoming messages, whole: `string` for text, `Uint8Array` for binary.
   * Ends when the connection closes (`closed` tells why). A binary message
   * may be a view into a larger pooled buffer (like Node's pooled Buffers):
   * use `byteOffset`/`byteLength` (or `slice()`), never `message.buffer` alone.
   * Cancelling it — which is what `break` inside `for await` does — closes
   * the connection with 1000; to stop reading for a while, use `getReader()`
   * and `releaseLock()`.
   */
  readonly readable: ReadableStream<string | Uint8Array>;
  /** Outgoing messages: each chunk is one message; `write()` waits like `send()`. Closing it closes the connection with 1000. */
  readonly writable: WritableStream<string | Uint8Array>;
  /**
   * Sends one message (a `string` as text, bytes as binary). Resolves when the
   * bytes were handed to the socket or the send buffer is below its
   * high-water mark, so `await`ing every send applies backpressure.
   *
   * Rejects with `ERR_NOT_OPEN` after close, `ERR_INVALID_DATA` for other
   * values, `ERR_BINARY_STREAM_ACTIVE` while a `beginBinary()` stream is open.
   */
  send(data: string | Uint8Array): Promise<void>;
  /**
   * Sends a ping and resolves with the round trip in milliseconds when the
   * pong arrives. `rfc6455` engine only: the built-in engine rejects with
   * `ERR_UNSUPPORTED_BY_ENGINE`.
   */
  ping(data?: Uint8Array): Promise<number>;
  /**
   * Starts one binary message sent in pieces. On `rfc6455` each chunk goes out
   * as continuation frames of `fragmentSize` bytes; on `native` the chunks are
   * collected and sent as one message when the stream closes (the receiver
   * sees the same message). Other sends reject with
   * `ERR_BINARY_STREAM_ACTIVE` until the stream is closed.
   */
  beginBinary(): WritableStream<Uint8Array>;
  /**
   * Starts the closing handshake and resolves when the connection is closed.
   * `code` must be 1000–1003, 1007–1014 or 3000–4999 (`ERR_INVALID_CLOSE_CODE`),
   * `reason` at most 123 UTF-8 bytes (`ERR_CLOSE_REASON_TOO_LONG`).
   * The native client can only put 1000 or 3000–4999 on the wire; other codes go out as 1000.
   */
  close(code?: number, reason?: string): Promise<void>;
  /** Settles once with the close code and reason; never rejects. */
  readonly closed: Promise<WebSocketCloseInfo>;
  /** Path and query of the request (`/chat?room=7`). */
  readonly path: string;
  /**
   * Handshake headers: on a server connection the request's, on a client
   * connection the response's (empty on the native client, which does not expose them).
   */
  readonly headers: Headers;
  /** The negotiated subprotocol, `""` when none. */
  readonly protocol: string;
  /** The negotiated extensions (`Sec-WebSocket-Extensions`), `""` when none. */
  readonly extensions: string;
  /** `0` CONNECTING, `1` OPEN, `2` CLOSING, `3` CLOSED. */
  readonly readyState: 0 | 1 | 2 | 3;
  /** Bytes queued for sending but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** The peer's address when known (`null` on the native client). */
  readonly remoteAddr: Deno.NetAddr | null;
  /** Which engine carries this connection. */
  readonly engine: WebSocketEngine;
}

/**
 * A connection accepted by `serve()` or `handleUpgrade()`: a
 * `WebSocketConnection` that can join rooms. Rooms are local to the server,
 * or span every server of the `cluster` option (see `@netkit/realtime/cluster`).
 * A closed connection leaves all its rooms.
 *
 * @example Chat rooms
 * ```ts
 * import { serve } from "@netkit/realtime/websocket";
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * (async () => {
 *   for await (const conn of server) {
 *     await conn.join("lobby");
 *     (async () => {
 *       for await (const message of conn.readable) {
 *         await server.to("lobby").except(conn).send(message);
 *       }
 *     })();
 *   }
 * })();
 * ```
 */
export interface ServerWebSocketConnection extends WebSocketConnection {
  /**
   * Joins `room`; resolves once room messages sent from now on reach this
   * connection. Rejects with `ClusterTypeError` `ERR_INVALID_ROOM_NAME` /
   * `ClusterRangeError` `ERR_ROOM_NAME_TOO_LONG` for a bad name, `ERR_NOT_OPEN` once closed.
   */
  join(room: string): Promise<void>;
  /** Leaves `room` (nothing when not in it). */
  leave(room: string): Promise<void>;
  /** The rooms this connection is in (a snapshot). */
  readonly rooms: ReadonlySet<string>;
}
