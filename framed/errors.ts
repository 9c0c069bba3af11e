/**
 * Typed errors of the framed module. Every error carries a stable `code`
 * string; the list lives in the module README.
 *
 * @module
 */

/**
 * Stable codes carried by every error this module creates.
 *
 * @example Telling errors apart by code
 * ```ts
 * import { type FramedErrorCode, MessageTooLargeError } from "./mod.ts";
 *
 * const code: FramedErrorCode = new MessageTooLargeError(20, 10).code;
 * console.log(code); // "ERR_MESSAGE_TOO_LARGE"
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
 * A message is larger than `maxMessageSize`: either a peer announced one in
 * a length header (the connection is then closed, and nothing was allocated
 * for it), or `send()` was given one (only that send fails).
 *
 * @example
 * ```ts
 * import { MessageTooLargeError } from "./mod.ts";
 *
 * const error = new MessageTooLargeError(1_000_000, 65_536);
 * console.log(error.code, error.size, error.limit);
 * ```
 */
export class MessageTooLargeError extends RangeError {
  /** Always `"ERR_MESSAGE_TOO_LARGE"`. */
  readonly code: "ERR_MESSAGE_TOO_LARGE" = "ERR_MESSAGE_TOO_LARGE";
  /** The size in bytes that was announced or attempted. */
  readonly size: number;
  /** The `maxMessageSize` in force. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param size the size in bytes that was announced or attempted
   * @param limit the `maxMessageSize` in force
   */
  constructor(size: number, limit: number) {
    super(`Message of ${size} bytes exceeds maxMessageSize of ${limit} bytes`);
    this.name = "MessageTooLargeError";
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A received message cannot be decoded as the connection's `receiveType`: a
 * numeric payload that is not a whole number of elements, invalid UTF-8, or
 * invalid JSON. The connection is closed with this error.
 *
 * @example
 * ```ts
 * import { InvalidPayloadError } from "./mod.ts";
 *
 * const error = new InvalidPayloadError('Payload of 3 bytes is not a whole number of "int" elements');
 * console.log(error.code); // "ERR_INVALID_PAYLOAD"
 * ```
 */
export class InvalidPayloadError extends TypeError {
  /** Always `"ERR_INVALID_PAYLOAD"`. */
  readonly code: "ERR_INVALID_PAYLOAD" = "ERR_INVALID_PAYLOAD";

  /**
   * Creates the error.
   *
   * @param message what is wrong with the payload
   * @param options the underlying error as `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidPayloadError";
  }
}

/**
 * A value given to `send()` (or written to `writable`) does not fit the
 * connection's `sendType`. Only that send fails; the connection stays open.
 *
 * @example
 * ```ts
 * import { InvalidMessageError } from "./mod.ts";
 *
 * const error = new InvalidMessageError('Expected a number for sendType "int", got "string"');
 * console.log(error.code); // "ERR_INVALID_MESSAGE"
 * ```
 */
export class InvalidMessageError extends TypeError {
  /** Always `"ERR_INVALID_MESSAGE"`. */
  readonly code: "ERR_INVALID_MESSAGE" = "ERR_INVALID_MESSAGE";

  /**
   * Creates the error.
   *
   * @param message what is wrong with the value
   * @param options the underlying error as `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidMessageError";
  }
}

/**
 * An option passed to `listen()` or `connect()` is invalid. Thrown
 * synchronously by `listen()`, or as the rejection of `connect()`.
 *
 * @example
 * ```ts
 * import { InvalidOptionError } from "./mod.ts";
 *
 * const error = new InvalidOptionError('Option "idleTimeout" must be a non-negative number, got -1');
 * console.log(error.code); // "ERR_INVALID_OPTION"
 * ```
 */
export class InvalidOptionError extends TypeError {
  /** Always `"ERR_INVALID_OPTION"`. */
  readonly code: "ERR_INVALID_OPTION" = "ERR_INVALID_OPTION";

  /**
   * Creates the error.
   *
   * @param message which option is wrong and why
   */
  constructor(message: string) {
    super(message);
    this.name = "InvalidOptionError";
  }
}

/**
 * A send could not complete because the connection is closed (by either
 * side, or by an error). The error that closed it, if any, is the `cause`.
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "./mod.ts";
 *
 * const error = new ConnectionClosedError();
 * console.log(error.code); // "ERR_CONNECTION_CLOSED"
 * ```
 */
export class ConnectionClosedError extends TypeError {
  /** Always `"ERR_CONNECTION_CLOSED"`. */
  readonly code: "ERR_CONNECTION_CLOSED" = "ERR_CONNECTION_CLOSED";

  /**
   * Creates the error.
   *
   * @param options the error that closed the connection as `cause`, if any
   */
  constructor(options?: ErrorOptions) {
    super("Connection is closed", options);
    this.name = "ConnectionClosedError";
  }
}

/**
 * A send was refused because the connection is between sockets (reconnecting
 * after a drop) and `discardMessagesBeforeOpen` is `true`.
 *
 * @example
 * ```ts
 * import { NotConnectedError } from "./mod.ts";
 *
 * console.log(new NotConnectedError().code); // "ERR_NOT_CONNECTED"
 * ```
 */
export class NotConnectedError extends TypeError {
  /** Always `"ERR_NOT_CONNECTED"`. */
  readonly code: "ERR_NOT_CONNECTED" = "ERR_NOT_CONNECTED";

  /** Creates the error. */
  constructor() {
    super("Connection is not open; message discarded (discardMessagesBeforeOpen is true)");
    this.name = "NotConnectedError";
  }
}

/**
 * A send was refused because `maxUnsentMessages` messages are already queued
 * while the connection is reconnecting.
 *
 * @example
 * ```ts
 * import { UnsentQueueFullError } from "./mod.ts";
 *
 * console.log(new UnsentQueueFullError(100).code); // "ERR_UNSENT_QUEUE_FULL"
 * ```
 */
export class UnsentQueueFullError extends RangeError {
  /** Always `"ERR_UNSENT_QUEUE_FULL"`. */
  readonly code: "ERR_UNSENT_QUEUE_FULL" = "ERR_UNSENT_QUEUE_FULL";
  /** The `maxUnsentMessages` in force. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param limit the `maxUnsentMessages` in force
   */
  constructor(limit: number) {
    super(`Unsent queue is full (maxUnsentMessages is ${limit})`);
    this.name = "UnsentQueueFullError";
    this.limit = limit;
  }
}

/**
 * `connect()` (or a reconnection after a drop) gave up after every attempt
 * failed. The last attempt's error is the `cause`; `attempts` says how many
 * were made.
 *
 * @example
 * ```ts
 * import { ConnectFailedError } from "./mod.ts";
 *
 * const error = new ConnectFailedError("localhost", 4000, 11, new Error("Connection refused"));
 * console.log(error.code, error.attempts);
 * ```
 */
export class ConnectFailedError extends TypeError {
  /** Always `"ERR_CONNECT_FAILED"`. */
  readonly code: "ERR_CONNECT_FAILED" = "ERR_CONNECT_FAILED";
  /** How many connection attempts were made. */
  readonly attempts: number;

  /**
   * Creates the error.
   *
   * @param hostname the host that was dialled
   * @param port the port that was dialled
   * @param attempts how many attempts were made
   * @param cause the last attempt's error
   */
  constructor(hostname: string, port: number, attempts: number, cause: unknown) {
    super(
      `Failed to connect to "${hostname}:${port}" after ${attempts} attempt${
        attempts === 1 ? "" : "s"
      }: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = "ConnectFailedError";
    this.attempts = attempts;
  }
}

/**
 * A server's receive memory (`maxBufferedBytes`, shared by its connections)
 * is used up, and this connection needed more of it: a bigger receive buffer
 * for a message, or the next piece of a large message. Only that
 * connection is closed; the others keep what they hold.
 *
 * @example
 * ```ts
 * import { BufferLimitError } from "./mod.ts";
 *
 * const error = new BufferLimitError(300 << 20, 256 << 20);
 * console.log(error.code, error.limit); // "ERR_BUFFER_LIMIT" 268435456
 * ```
 */
export class BufferLimitError extends RangeError {
  /** Always `"ERR_BUFFER_LIMIT"`. */
  readonly code: "ERR_BUFFER_LIMIT" = "ERR_BUFFER_LIMIT";
  /** The `maxBufferedBytes` in force. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param wanted the bytes the server would have held with this allocation
   * @param limit the `maxBufferedBytes` in force
   */
  constructor(wanted: number, limit: number) {
    super(
      `Server receive buffers would hold ${wanted} bytes, over maxBufferedBytes of ${limit} bytes`,
    );
    this.name = "BufferLimitError";
    this.limit = limit;
  }
}

/** The time limits a {@linkcode FramedTimeoutError} names. */
export type FramedTimeoutOption =
  | "idleTimeout"
  | "messageTimeout"
  | "sendTimeout"
  | "handshakeTimeout";

/**
 * A time limit closed the connection. It is a `DOMException` named
 * `"TimeoutError"` (like every timeout in netkit); `option` says which limit
 * it was and `timeout` its value in milliseconds.
 *
 * @example
 * ```ts
 * import { FramedTimeoutError } from "./mod.ts";
 *
 * const error = new FramedTimeoutError("idleTimeout", 120_000, "Connection was idle for 120000 ms");
 * console.log(error.name, error.option); // "TimeoutError" "idleTimeout"
 * ```
 */
export class FramedTimeoutError extends DOMException {
  /** The option whose limit passed. */
  readonly option: FramedTimeoutOption;
  /** Its value in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param option the option whose limit passed
   * @param timeout its value in milliseconds
   * @param message what happened
   */
  constructor(option: FramedTimeoutOption, timeout: number, message: string) {
    super(message, "TimeoutError");
    this.option = option;
    this.timeout = timeout;
  }
}
