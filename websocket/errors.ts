/**
 * Typed errors of the websocket module. Every error carries a stable `code`
 * string (listed in `websocket/README.md`); aborts and timeouts are
 * `DOMException`s named `AbortError` / `TimeoutError` instead.
 *
 * @module
 */

import { truncateUtf8 } from "../_common/utf8.ts";
import { MAX_CLOSE_REASON_BYTES } from "./_frame.ts";

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
 * The standard error options plus the details some websocket errors carry;
 * each becomes a readonly property of the error (`undefined` when not given).
 *
 * @example
 * ```ts
 * import { WebSocketError, type WebSocketErrorOptions } from "@netkit/realtime/websocket";
 * const options: WebSocketErrorOptions = { status: 401, body: "log in first" };
 * const error = new WebSocketError("ERR_UNEXPECTED_STATUS", "Server answered 401", options);
 * console.log(error.status); // 401
 * ```
 */
export interface WebSocketErrorOptions extends ErrorOptions {
  /** The HTTP status of a refused or malformed handshake (401, 404, 400, 431 …). */
  status?: number;
  /**
   * The start of the refusing server's response body (at most 256 bytes of
   * UTF-8, trimmed) with `ERR_UNEXPECTED_STATUS`, e.g. why `authorize` said no.
   */
  body?: string;
  /** The close code this side sent because of the error (1002, 1007, 1009 …). */
  closeCode?: number;
  /**
   * The close reason sent with `closeCode`; when left out, the message cut
   * to 123 UTF-8 bytes.
   */
  reason?: string;
  /** The size in bytes (or count) that broke the limit. */
  size?: number;
  /** The limit in bytes (or count) that was broken. */
  limit?: number;
}

/**
 * A connection in the wrong state or a handshake that was refused: `send()`
 * on a connection that is not open (`ERR_NOT_OPEN`), a send while a
 * `beginBinary()` stream is open (`ERR_BINARY_STREAM_ACTIVE`), a server that
 * answered with `status` instead of 101 (`ERR_UNEXPECTED_STATUS`, with the
 * start of its `body`), picked no subprotocol although some were offered
 * (`ERR_PROTOCOL_NOT_NEGOTIATED`) or one that was not offered
 * (`ERR_UNEXPECTED_PROTOCOL`), a connection that failed
 * (`ERR_HANDSHAKE_FAILED`), or an engine bug that closed the connection
 * (`ERR_INTERNAL`, `closeCode` 1011).
 *
 * @example Handling a 401
 * ```ts
 * import { connect, WebSocketError } from "@netkit/realtime/websocket";
 * try {
 *   await connect("ws://127.0.0.1:9/");
 * } catch (error) {
 *   if (error instanceof WebSocketError && error.status === 401) console.log("log in first");
 * }
 * ```
 */
export class WebSocketError extends Error {
  /** The stable error code. */
  readonly code: WebSocketErrorCode;
  /** The HTTP status the server answered with, when known. */
  readonly status: number | undefined;
  /** The start of the refusing server's response body, when known. */
  readonly body: string | undefined;
  /** The close code this side sent because of the error, when it closed the connection. */
  readonly closeCode: number | undefined;
  /** The close reason sent with `closeCode`. */
  readonly reason: string | undefined;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options plus `status`, `body`, `closeCode` and `reason`
   */
  constructor(code: WebSocketErrorCode, message: string, options?: WebSocketErrorOptions) {
    super(message, options);
    this.name = "WebSocketError";
    this.code = code;
    this.status = options?.status;
    this.body = options?.body;
    this.closeCode = options?.closeCode;
    this.reason = closeReason(message, options);
  }
}

/**
 * A value of the wrong kind: data that is neither a string nor bytes
 * (`ERR_INVALID_DATA`, `ERR_INVALID_ARG_TYPE`), an upgrade request that is
 * not one (`ERR_INVALID_UPGRADE_REQUEST`), an unknown option value
 * (`ERR_INVALID_OPTION`), a call the engine cannot serve
 * (`ERR_UNSUPPORTED_BY_ENGINE`).
 *
 * @example Telling a wrong argument apart
 * ```ts
 * import { WebSocketTypeError } from "@netkit/realtime/websocket";
 * try {
 *   throw new WebSocketTypeError("ERR_INVALID_DATA", "Data must be a string or a Uint8Array");
 * } catch (error) {
 *   if (error instanceof WebSocketTypeError) console.log(error.code); // "ERR_INVALID_DATA"
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
  constructor(code: WebSocketErrorCode, message: string, options?: WebSocketErrorOptions) {
    super(message, options);
    this.name = "WebSocketTypeError";
    this.code = code;
  }
}

/**
 * A number out of its allowed range or a limit exceeded: a close code or
 * reason length, a message or ping too large, an option out of range, and
 * the limits that close a connection (`closeCode` set; see the README).
 *
 * @example
 * ```ts
 * import { WebSocketRangeError } from "@netkit/realtime/websocket";
 * const error = new WebSocketRangeError("ERR_MESSAGE_TOO_LARGE", "Message exceeds 1024 bytes", {
 *   closeCode: 1009,
 *   size: 2048,
 *   limit: 1024,
 * });
 * console.log(error.code, error.closeCode); // "ERR_MESSAGE_TOO_LARGE" 1009
 * ```
 */
export class WebSocketRangeError extends RangeError {
  /** The stable error code. */
  readonly code: WebSocketErrorCode;
  /** The HTTP status answered to an oversize handshake (431), when it was one. */
  readonly status: number | undefined;
  /** The size in bytes (or count) that broke the limit, when known. */
  readonly size: number | undefined;
  /** The limit in bytes (or count) that was broken, when known. */
  readonly limit: number | undefined;
  /** The close code this side sent because of the error, when it closed the connection. */
  readonly closeCode: number | undefined;
  /** The close reason sent with `closeCode`. */
  readonly reason: string | undefined;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options plus `status`, `size`, `limit`, `closeCode` and `reason`
   */
  constructor(code: WebSocketErrorCode, message: string, options?: WebSocketErrorOptions) {
    super(message, options);
    this.name = "WebSocketRangeError";
    this.code = code;
    this.status = options?.status;
    this.size = options?.size;
    this.limit = options?.limit;
    this.closeCode = options?.closeCode;
    this.reason = closeReason(message, options);
  }
}

/**
 * Malformed bytes: a URL that does not parse (`ERR_INVALID_URL`), a
 * malformed HTTP handshake (`ERR_INVALID_UPGRADE_REQUEST` on the server,
 * `ERR_HANDSHAKE_FAILED` on the client, `status` 400 or 431), or a peer's
 * frame that breaks RFC 6455 (`closeCode` 1002 or 1007; see the README).
 *
 * @example
 * ```ts
 * import { WebSocketSyntaxError } from "@netkit/realtime/websocket";
 * const error = new WebSocketSyntaxError("ERR_INVALID_URL", 'URL scheme "ftp:" is not ws: or wss:');
 * console.log(error.code); // "ERR_INVALID_URL"
 * ```
 */
export class WebSocketSyntaxError extends SyntaxError {
  /** The stable error code. */
  readonly code: WebSocketErrorCode;
  /** The HTTP status answered to (or received for) a malformed handshake, when known. */
  readonly status: number | undefined;
  /** The close code this side sent because of the error, when it closed the connection. */
  readonly closeCode: number | undefined;
  /** The close reason sent with `closeCode`. */
  readonly reason: string | undefined;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options plus `status`, `closeCode` and `reason`
   */
  constructor(code: WebSocketErrorCode, message: string, options?: WebSocketErrorOptions) {
    super(message, options);
    this.name = "WebSocketSyntaxError";
    this.code = code;
    this.status = options?.status;
    this.closeCode = options?.closeCode;
    this.reason = closeReason(message, options);
  }
}

/**
 * Any error that made this side close a connection (`closed.error`): its
 * `code` says which rule or limit, its `closeCode` what was sent.
 *
 * @example
 * ```ts
 * import type { WebSocketClosingError } from "@netkit/realtime/websocket";
 * function describe(error: WebSocketClosingError): string {
 *   return `${error.code} (${error.closeCode})`;
 * }
 * ```
 */
export type WebSocketClosingError = WebSocketError | WebSocketRangeError | WebSocketSyntaxError;

/** The close reason of an error that closes a connection: given, or the message cut to fit. */
function closeReason(
  message: string,
  options: WebSocketErrorOptions | undefined,
): string | undefined {
  if (options?.closeCode === undefined) return options?.reason;
  return options.reason ?? truncateUtf8(message, MAX_CLOSE_REASON_BYTES);
}
