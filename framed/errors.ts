/**
 * Typed errors of the framed module. Every error carries a stable `code`
 * (listed in `framed/README.md`); timeouts and aborts are `DOMException`s
 * named `TimeoutError` / `AbortError` instead.
 *
 * @module
 */

/**
 * Every `code` a framed error can carry.
 *
 * @example Telling errors apart by code
 * ```ts
 * import type { FramedErrorCode } from "./mod.ts";
 *
 * const local = new Set<FramedErrorCode>(["ERR_INVALID_MESSAGE", "ERR_MESSAGE_TOO_LARGE"]);
 * console.log(local.has("ERR_MESSAGE_TOO_LARGE")); // true
 * ```
 */
export type FramedErrorCode =
  | "ERR_MESSAGE_TOO_LARGE"
  | "ERR_INVALID_PAYLOAD"
  | "ERR_INVALID_MESSAGE"
  | "ERR_INVALID_OPTION"
  | "ERR_CONNECTION_CLOSED"
  | "ERR_NOT_CONNECTED"
  | "ERR_UNSENT_QUEUE_FULL"
  | "ERR_CONNECT_FAILED"
  | "ERR_BUFFER_LIMIT";

/**
 * The standard error options (`cause`) plus the details an error may carry.
 *
 * @example
 * ```ts
 * import { FramedRangeError, type FramedErrorOptions } from "./mod.ts";
 *
 * const options: FramedErrorOptions = { size: 70_000, limit: 65_536 };
 * console.log(new FramedRangeError("ERR_MESSAGE_TOO_LARGE", "Too large", options).size); // 70000
 * ```
 */
export interface FramedErrorOptions extends ErrorOptions {
  /** Bytes (or a count) that were announced, attempted or wanted. */
  size?: number;
  /** The limit in force, in bytes or a count. */
  limit?: number;
  /** How many connection attempts were made (`ERR_CONNECT_FAILED`). */
  attempts?: number;
}

/**
 * A state error: the connection is closed (`ERR_CONNECTION_CLOSED`), not
 * open while `discardMessagesBeforeOpen` is set (`ERR_NOT_CONNECTED`), or
 * every connection attempt failed (`ERR_CONNECT_FAILED`, with `attempts`
 * and the last attempt's error as `cause`).
 *
 * @example
 * ```ts
 * import { connect, FramedError } from "./mod.ts";
 *
 * try {
 *   await connect({ hostname: "127.0.0.1", port: 9, reconnect: { attempts: 0 } });
 * } catch (error) {
 *   if (error instanceof FramedError) console.log(error.code, error.attempts); // "ERR_CONNECT_FAILED" 1
 * }
 * ```
 */
export class FramedError extends Error {
  /** The stable error code. */
  readonly code: FramedErrorCode;
  /** Bytes (or a count) that were announced, attempted or wanted, if known. */
  readonly size?: number;
  /** The limit in force, if any. */
  readonly limit?: number;
  /** How many connection attempts were made, for `ERR_CONNECT_FAILED`. */
  readonly attempts?: number;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options `cause` and the details of the error
   */
  constructor(code: FramedErrorCode, message: string, options?: FramedErrorOptions) {
    super(message, options);
    this.name = "FramedError";
    this.code = code;
    if (options?.size !== undefined) this.size = options.size;
    if (options?.limit !== undefined) this.limit = options.limit;
    if (options?.attempts !== undefined) this.attempts = options.attempts;
  }
}

/**
 * A value of the wrong kind: an invalid option (`ERR_INVALID_OPTION`,
 * thrown by `listen()` or the rejection of `connect()`), or a value given to
 * `send()` that does not fit the `sendType` (`ERR_INVALID_MESSAGE`; only that
 * send fails).
 *
 * @example
 * ```ts
 * import { FramedTypeError, listen } from "./mod.ts";
 *
 * try {
 *   listen({ port: 0, idleTimeout: -1 });
 * } catch (error) {
 *   if (error instanceof FramedTypeError) console.log(error.code); // "ERR_INVALID_OPTION"
 * }
 * ```
 */
export class FramedTypeError extends TypeError {
  /** The stable error code. */
  readonly code: FramedErrorCode;
  /** Bytes (or a count) that were announced, attempted or wanted, if known. */
  readonly size?: number;
  /** The limit in force, if any. */
  readonly limit?: number;
  /** How many connection attempts were made, if known. */
  readonly attempts?: number;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options `cause` and the details of the error
   */
  constructor(code: FramedErrorCode, message: string, options?: FramedErrorOptions) {
    super(message, options);
    this.name = "FramedTypeError";
    this.code = code;
    if (options?.size !== undefined) this.size = options.size;
    if (options?.limit !== undefined) this.limit = options.limit;
    if (options?.attempts !== undefined) this.attempts = options.attempts;
  }
}

/**
 * A size or count over its limit, with `size` and `limit`: a message over
 * `maxMessageSize` (`ERR_MESSAGE_TOO_LARGE`; announced by a peer it closes
 * the connection before anything is allocated, given to `send()` only that
 * send fails), the unsent queue full (`ERR_UNSENT_QUEUE_FULL`), or a
 * server's shared receive memory used up (`ERR_BUFFER_LIMIT`; only the
 * connection that needed more is closed).
 *
 * @example
 * ```ts
 * import { FramedRangeError } from "./mod.ts";
 *
 * const error = new FramedRangeError("ERR_MESSAGE_TOO_LARGE", "Message of 70000 bytes exceeds 65536", {
 *   size: 70_000,
 *   limit: 65_536,
 * });
 * console.log(error.code, error.size, error.limit); // "ERR_MESSAGE_TOO_LARGE" 70000 65536
 * ```
 */
export class FramedRangeError extends RangeError {
  /** The stable error code. */
  readonly code: FramedErrorCode;
  /** Bytes (or a count) that were announced, attempted or wanted. */
  readonly size?: number;
  /** The limit in force. */
  readonly limit?: number;
  /** How many connection attempts were made, if known. */
  readonly attempts?: number;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options `cause` and the details of the error
   */
  constructor(code: FramedErrorCode, message: string, options?: FramedErrorOptions) {
    super(message, options);
    this.name = "FramedRangeError";
    this.code = code;
    if (options?.size !== undefined) this.size = options.size;
    if (options?.limit !== undefined) this.limit = options.limit;
    if (options?.attempts !== undefined) this.attempts = options.attempts;
  }
}

/**
 * Malformed bytes from the peer: a received payload that cannot be decoded
 * as the `receiveType` (`ERR_INVALID_PAYLOAD`: not a whole number of
 * elements, invalid UTF-8 or JSON, a stream that ends inside a message).
 * The connection is closed with it.
 *
 * @example
 * ```ts
 * import { FramedSyntaxError } from "./mod.ts";
 *
 * const error = new FramedSyntaxError("ERR_INVALID_PAYLOAD", "Payload of 3 bytes is not valid JSON");
 * console.log(error.code); // "ERR_INVALID_PAYLOAD"
 * ```
 */
export class FramedSyntaxError extends SyntaxError {
  /** The stable error code. */
  readonly code: FramedErrorCode;
  /** Bytes (or a count) that were announced, attempted or wanted, if known. */
  readonly size?: number;
  /** The limit in force, if any. */
  readonly limit?: number;
  /** How many connection attempts were made, if known. */
  readonly attempts?: number;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options `cause` and the details of the error
   */
  constructor(code: FramedErrorCode, message: string, options?: FramedErrorOptions) {
    super(message, options);
    this.name = "FramedSyntaxError";
    this.code = code;
    if (options?.size !== undefined) this.size = options.size;
    if (options?.limit !== undefined) this.limit = options.limit;
    if (options?.attempts !== undefined) this.attempts = options.attempts;
  }
}
