/**
 * Typed errors raised by the own RFC 6455 engine. Each carries a stable
 * `code` string so callers can branch without parsing messages.
 *
 * @module
 */

/**
 * An HTTP upgrade handshake that cannot proceed: malformed or oversize
 * request/response heads, a missing or invalid `Sec-WebSocket-Key`, a bad
 * `Sec-WebSocket-Accept`, an unoffered subprotocol or extension, or a
 * non-101 answer from a server.
 *
 * @example
 * ```ts
 * import { clientHandshake } from "./_handshake.ts";
 * import { WebSocketHandshakeError } from "./_engine_errors.ts";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 8080 });
 * try {
 *   await clientHandshake(conn, new URL("ws://127.0.0.1:8080/"), {});
 * } catch (err) {
 *   if (err instanceof WebSocketHandshakeError) console.log(err.code, err.status);
 * }
 * ```
 */
export class WebSocketHandshakeError extends SyntaxError {
  /** Stable error code, e.g. `ERR_HANDSHAKE_MALFORMED` or `ERR_HANDSHAKE_STATUS`. */
  readonly code: string;
  /**
   * The HTTP status involved: the status a server should answer with
   * (400, 426, 431) or the status a client received (e.g. 401).
   */
  readonly status: number;
  /** A refusing server's response body, cut to `REFUSAL_BODY_BYTES`. */
  readonly body: string | undefined;
  /** Creates the error. */
  constructor(
    code: string,
    message: string,
    status = 400,
    options?: ErrorOptions & { body?: string },
  ) {
    super(message, options);
    this.name = "WebSocketHandshakeError";
    this.code = code;
    this.status = status;
    this.body = options?.body;
  }
}

/**
 * An operation that needs an open connection was attempted on a closing or
 * closed one (`send`, `ping`, `beginBinary`), or a pending ping was cut short
 * by the connection closing.
 *
 * @example
 * ```ts
 * import { Rfc6455Socket } from "./_rfc6455.ts";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 8080 }); // after the handshake
 * const socket = new Rfc6455Socket(conn, { role: "client", maxMessageSize: 1 << 20 });
 * await socket.close();
 * await socket.send("late").catch((err) => console.log(err.code)); // "ERR_WEBSOCKET_NOT_OPEN"
 * ```
 */
export class WebSocketStateError extends TypeError {
  /** Stable error code: `ERR_WEBSOCKET_NOT_OPEN` or `ERR_WEBSOCKET_CLOSED`. */
  readonly code: string;
  /** Creates the error. */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebSocketStateError";
    this.code = code;
  }
}

/**
 * A frame or message the peer sent violates RFC 6455 / RFC 7692, or exceeds a
 * configured limit. `closeCode` is the close code the engine sent (1002,
 * 1007, 1009, 1010).
 *
 * @example
 * ```ts
 * import { WebSocketProtocolError } from "./_engine_errors.ts";
 * const err = new WebSocketProtocolError("ERR_MESSAGE_TOO_LARGE", "Message exceeds 16777216 bytes", 1009);
 * console.log(err.closeCode); // 1009
 * ```
 */
export class WebSocketProtocolError extends RangeError {
  /** Stable error code, e.g. `ERR_UNMASKED_FRAME`, `ERR_INVALID_UTF8`, `ERR_MESSAGE_TOO_LARGE`. */
  readonly code: string;
  /** The close code sent to the peer because of this error. */
  readonly closeCode: number;
  /** Creates the error. */
  constructor(code: string, message: string, closeCode: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebSocketProtocolError";
    this.code = code;
    this.closeCode = closeCode;
  }
}

/**
 * An invalid argument to an engine method: a close code that may not be
 * sent, a close reason or ping payload over 123/125 bytes, a chunk that is
 * not a `Uint8Array`.
 *
 * @example
 * ```ts
 * import { Rfc6455Socket } from "./_rfc6455.ts";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 8080 }); // after the handshake
 * const socket = new Rfc6455Socket(conn, { role: "client", maxMessageSize: 1 << 20 });
 * await socket.close(1005).catch((err) => console.log(err.code)); // "ERR_INVALID_CLOSE_CODE"
 * ```
 */
export class WebSocketArgumentError extends RangeError {
  /** Stable error code, e.g. `ERR_INVALID_CLOSE_CODE`, `ERR_CLOSE_REASON_TOO_LONG`. */
  readonly code: string;
  /** Creates the error. */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebSocketArgumentError";
    this.code = code;
  }
}
