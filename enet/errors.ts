/**
 * Typed errors of the ENet engine. Each carries a stable `code` string
 * (listed in `enet/README.md`); aborts and timeouts are `DOMException`s named
 * `AbortError` / `TimeoutError` instead.
 *
 * @module
 */

/** Codes of {@linkcode EnetStateError}. */
export type EnetStateErrorCode =
  | "ERR_PEER_NOT_CONNECTED"
  | "ERR_HOST_CLOSED"
  | "ERR_CONNECT_REFUSED"
  | "ERR_PEER_DISCONNECTED";

/**
 * An operation that the current state of a host or peer does not allow:
 * sending to a peer that is not connected, using a closed host.
 *
 * @example
 * ```ts
 * import { EnetStateError } from "@netkit/realtime/enet";
 *
 * try {
 *   throw new EnetStateError("ERR_PEER_NOT_CONNECTED", 'Peer is "disconnected"');
 * } catch (error) {
 *   if (error instanceof EnetStateError) console.log(error.code);
 * }
 * ```
 */
export class EnetStateError extends TypeError {
  /** Stable machine-readable code. */
  readonly code: EnetStateErrorCode;

  /** Creates the error with its `code` and message. */
  constructor(code: EnetStateErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EnetStateError";
    this.code = code;
  }
}

/** Codes of {@linkcode EnetRangeError}. */
export type EnetRangeErrorCode =
  | "ERR_CHANNEL_OUT_OF_RANGE"
  | "ERR_PACKET_TOO_LARGE"
  | "ERR_PEER_TABLE_FULL"
  | "ERR_INVALID_OPTION";

/**
 * A value outside the limits of the protocol or of the host's options: a
 * channel ID beyond the negotiated channel count, a packet larger than
 * `maximumPacketSize`, a full peer table, an option out of range.
 *
 * @example
 * ```ts
 * import { EnetRangeError } from "@netkit/realtime/enet";
 *
 * const error = new EnetRangeError("ERR_PACKET_TOO_LARGE", 'Packet of "40000000" bytes exceeds "33554432"');
 * console.log(error.code, error instanceof RangeError);
 * ```
 */
export class EnetRangeError extends RangeError {
  /** Stable machine-readable code. */
  readonly code: EnetRangeErrorCode;

  /** Creates the error with its `code` and message. */
  constructor(code: EnetRangeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EnetRangeError";
    this.code = code;
  }
}

/** Codes of {@linkcode EnetTypeError}. */
export type EnetTypeErrorCode =
  | "ERR_INVALID_DATA"
  | "ERR_INVALID_ADDRESS";

/**
 * A value of the wrong kind: packet data that is not a string, an
 * `ArrayBufferView` or an `ArrayBuffer`; an address whose name does not
 * resolve to an IP address the host's socket can reach.
 *
 * @example
 * ```ts
 * import { EnetTypeError } from "@netkit/realtime/enet";
 *
 * const error = new EnetTypeError("ERR_INVALID_DATA", "Packet data must be bytes or a string, got number");
 * console.log(error.code, error instanceof TypeError);
 * ```
 */
export class EnetTypeError extends TypeError {
  /** Stable machine-readable code. */
  readonly code: EnetTypeErrorCode;

  /** Creates the error with its `code` and message. */
  constructor(code: EnetTypeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EnetTypeError";
    this.code = code;
  }
}
