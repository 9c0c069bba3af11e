/**
 * Typed errors of the websocket module. Every error carries a stable `code`
 * string (listed in `websocket/README.md`); aborts and timeouts are
 * `DOMException`s named `AbortError` / `TimeoutError` instead.
 *
 * @module
 */

/**
 * Every `code` a websocket error can carry.
 *
 * @example
 * ```ts
 * import type { WebSocketErrorCode } from "@netkit/realtime/websocket";
 * const retryable = new Set<WebSocketErrorCode>(["ERR_HANDSHAKE_FAILED", "ERR_NOT_OPEN"]);
 * console.log(retryable.has("ERR_NOT_OPEN")); // true
 * ```
 */
export type WebSocketErrorCode =
  | "ERR_INVALID_URL"
  | "ERR_INVALID_DATA"
  | "ERR_INVALID_ARG_TYPE"
  | "ERR_INVALID_CLOSE_CODE"
  | "ERR_CLOSE_REASON_TOO_LONG"
  | "ERR_INVALID_OPTION"
  | "ERR_NOT_OPEN"
  | "ERR_MESSAGE_TOO_LARGE"
  | "ERR_PING_PAYLOAD_TOO_LARGE"
  | "ERR_BINARY_STREAM_ACTIVE"
  | "ERR_UNSUPPORTED_BY_ENGINE"
  | "ERR_HANDSHAKE_FAILED"
  | "ERR_UNEXPECTED_STATUS"
  | "ERR_PROTOCOL_NOT_NEGOTIATED"
  | "ERR_UNEXPECTED_PROTOCOL"
  | "ERR_INVALID_UPGRADE_REQUEST"
  // Limits and protocol rules that close a connection (see `WebSocketCloseInfo.error`).
  | "ERR_TOO_MANY_FRAGMENTS"
  | "ERR_SERVER_BUSY"
  | "ERR_RECEIVE_QUEUE_FULL"
  | "ERR_SEND_QUEUE_FULL"
  | "ERR_SEND_TIMEOUT"
  | "ERR_HEARTBEAT_TIMEOUT"
  | "ERR_MESSAGE_TIMEOUT"
  | "ERR_UNMASKED_FRAME"
  | "ERR_MASKED_FRAME"
  | "ERR_INVALID_OPCODE"
  | "ERR_RESERVED_BITS"
  | "ERR_FRAGMENTED_CONTROL"
  | "ERR_CONTROL_TOO_LARGE"
  | "ERR_UNEXPECTED_CONTINUATION"
  | "ERR_EXPECTED_CONTINUATION"
  | "ERR_INVALID_CLOSE_FRAME"
  | "ERR_INVALID_UTF8"
  | "ERR_INVALID_COMPRESSED_DATA"
  | "ERR_INTERNAL";

/**
 * A value of the wrong kind (data that is neither a string nor bytes, an
 * upgrade request that is not one, a call the engine cannot serve, a
 * connection that is not open).
 *
 * @example Telling a closed connection apart
 * ```ts
 * import { WebSocketTypeError } from "@netkit/realtime/websocket";
 * try {
 *   throw new WebSocketTypeError("ERR_NOT_OPEN", "Connection is not open (readyState 3)");
 * } catch (error) {
 *   if (error instanceof WebSocketTypeError && error.code === "ERR_NOT_OPEN") { /* reconnect *\/ }
 * }
 * ```
 */
export class WebSocketTypeError extends TypeError {
  /** The stable error code. */
  readonly code: WebSocketErrorCode;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: WebSocketErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebSocketTypeError";
    this.code = code;
  }
}

/**
 * A number out of its allowed range (close code, reason length, message size).
 *
 * @example
 * ```ts
 * import { WebSocketRangeError } from "@netkit/realtime/websocket";
 * const error = new WebSocketRangeError("ERR_INVALID_CLOSE_CODE", 'Close code "1005" may not be sent');
 * console.log(error.code); // "ERR_INVALID_CLOSE_CODE"
 * ```
 */
export class WebSocketRangeError extends RangeError {
  /** The stable error code. */
  readonly code: WebSocketErrorCode;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: WebSocketErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebSocketRangeError";
    this.code = code;
  }
}

/**
 * A malformed string (URL, header value).
 *
 * @example
 * ```ts
 * import { WebSocketSyntaxError } from "@netkit/realtime/websocket";
 * const error = new WebSocketSyntaxError("ERR_INVALID_URL", 'URL scheme "http:" is not ws: or wss:');
 * console.log(error.code); // "ERR_INVALID_URL"
 * ```
 */
export class WebSocketSyntaxError extends SyntaxError {
  /** The stable error code. */
  readonly code: WebSocketErrorCode;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: WebSocketErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebSocketSyntaxError";
    this.code = code;
  }
}

/**
 * The opening handshake of `connect()` failed: the server answered with a
 * status other than 101 (`ERR_UNEXPECTED_STATUS`, `status` set when the engine
 * can see it), picked no subprotocol although some were offered
 * (`ERR_PROTOCOL_NOT_NEGOTIATED`), picked one that was not offered
 * (`ERR_UNEXPECTED_PROTOCOL`), or the connection failed (`ERR_HANDSHAKE_FAILED`).
 *
 * @example Handling a 401
 * ```ts
 * import { connect, WebSocketHandshakeError } from "@netkit/realtime/websocket";
 * try {
 *   await connect("ws://127.0.0.1:9/");
 * } catch (error) {
 *   if (error instanceof WebSocketHandshakeError && error.status === 401) console.log("log in first");
 * }
 * ```
 */
export class WebSocketHandshakeError extends TypeError {
  /** The stable error code. */
  readonly code: WebSocketErrorCode;
  /** The HTTP status the server answered with, when known. */
  readonly status: number | undefined;
  /**
   * The start of the refusing server's response body (at most 256 bytes of
   * UTF-8, trimmed) with `ERR_UNEXPECTED_STATUS`, e.g. why `authorize` said no.
   */
  readonly body: string | undefined;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options plus the HTTP `status` and response `body` when known
   */
  constructor(
    code: WebSocketErrorCode,
    message: string,
    options: ErrorOptions & { status?: number; body?: string } = {},
  ) {
    super(message, options);
    this.name = "WebSocketHandshakeError";
    this.code = code;
    this.status = options.status;
    this.body = options.body;
  }
}
