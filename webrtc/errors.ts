/**
 * Typed errors of the webrtc module. Each carries a stable `code` string (listed in README.md).
 * Browser-safe: no Deno APIs.
 *
 * @module
 */

/**
 * A malformed signalling packet: truncated, unknown type, invalid UTF-8 or JSON.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "@netkit/realtime/webrtc";
 * const err = new ProtocolError("Truncated SDP packet");
 * console.log(err.code); // "ERR_PROTOCOL"
 * ```
 */
export class ProtocolError extends SyntaxError {
  /** Stable error code. */
  readonly code: "ERR_PROTOCOL" = "ERR_PROTOCOL";
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/**
 * The slave refused a client's offer (its `offer` hook called `preventDefault()`, it was full, or
 * the master refused: unknown slave, too many offers).
 *
 * @example
 * ```ts
 * import { RejectedError } from "@netkit/realtime/webrtc";
 * const err = new RejectedError("Slave is full");
 * console.log(err.code, err.reason); // "ERR_REJECTED" "Slave is full"
 * ```
 */
export class RejectedError extends TypeError {
  /** Stable error code. */
  readonly code: "ERR_REJECTED" = "ERR_REJECTED";
  /** The reason the slave or master gave (may be empty). */
  readonly reason: string;
  /** Creates the error. */
  constructor(reason: string) {
    super(reason ? `Connection rejected: "${reason}"` : "Connection rejected");
    this.name = "RejectedError";
    this.reason = reason;
  }
}

/**
 * An operation on a connection or channel that is closed (or closed while waiting).
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "@netkit/realtime/webrtc";
 * const err = new ConnectionClosedError("Data channel is closed", 1000, "");
 * console.log(err.code); // "ERR_CONNECTION_CLOSED"
 * ```
 */
export class ConnectionClosedError extends TypeError {
  /** Stable error code. */
  readonly code: "ERR_CONNECTION_CLOSED" = "ERR_CONNECTION_CLOSED";
  /** Close code, when known. */
  readonly closeCode: number;
  /** Close reason, when known. */
  readonly reason: string;
  /** Creates the error. */
  constructor(message: string, closeCode = 1006, reason = "") {
    super(message);
    this.name = "ConnectionClosedError";
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/**
 * A message over a size limit (channel `maxMessageSize`, signalling limits, receive buffer).
 *
 * @example
 * ```ts
 * import { MessageTooLargeError } from "@netkit/realtime/webrtc";
 * const err = new MessageTooLargeError(300000, 262144);
 * console.log(err.code); // "ERR_MESSAGE_TOO_LARGE"
 * ```
 */
export class MessageTooLargeError extends RangeError {
  /** Stable error code. */
  readonly code: "ERR_MESSAGE_TOO_LARGE" = "ERR_MESSAGE_TOO_LARGE";
  /** Size of the offending message in bytes. */
  readonly size: number;
  /** The limit in bytes. */
  readonly limit: number;
  /** Creates the error. */
  constructor(size: number, limit: number, what = "Message") {
    super(`${what} is ${size} bytes; the limit is "${limit}"`);
    this.name = "MessageTooLargeError";
    this.size = size;
    this.limit = limit;
  }
}

/** The codes of {@linkcode PeerLimitError}: which limit a peer of the master broke. */
export type PeerLimitCode =
  | "ERR_SLOW_CONSUMER"
  | "ERR_RATE_LIMITED"
  | "ERR_TOO_MANY_CANDIDATES"
  | "ERR_SLAVE_LIST_FULL";

/** Every stable `code` of this module's errors (see the README's error table). */
export type WebRtcErrorCode =
  | "ERR_PROTOCOL"
  | "ERR_REJECTED"
  | "ERR_CONNECTION_CLOSED"
  | "ERR_MESSAGE_TOO_LARGE"
  | PeerLimitCode;

/**
 * A peer of the master broke one of its limits; the master closed that peer's signalling socket
 * with `closeCode` (1008 for counts and rates, 1013 for a peer that does not read) and a reason
 * that starts with `code`. The master reports it in its `peererror` event.
 *
 * @example
 * ```ts
 * import { PeerLimitError } from "@netkit/realtime/webrtc";
 * const err = new PeerLimitError("ERR_TOO_MANY_CANDIDATES", "maxCandidatesPerSession", 64, 1008);
 * console.log(err.code, err.limit, err.closeCode); // "ERR_TOO_MANY_CANDIDATES" "maxCandidatesPerSession" 1008
 * ```
 */
export class PeerLimitError extends RangeError {
  /** Stable error code. */
  readonly code: PeerLimitCode;
  /** The option that sets the limit (e.g. `"maxCandidatesPerSession"`). */
  readonly limit: string;
  /** The limit's value. */
  readonly value: number;
  /** The WebSocket close code the peer got. */
  readonly closeCode: number;
  /** Creates the error. */
  constructor(code: PeerLimitCode, limit: string, value: number, closeCode: number, detail = "") {
    super(`${code}: over "${limit}" (${value})${detail ? `: ${detail}` : ""}`);
    this.name = "PeerLimitError";
    this.code = code;
    this.limit = limit;
    this.value = value;
    this.closeCode = closeCode;
  }
}
