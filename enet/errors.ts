/**
 * Typed errors of the ENet engine. Every error carries a stable `code`
 * (listed in `enet/README.md`); aborts and timeouts are `DOMException`s named
 * `AbortError` / `TimeoutError` instead. Malformed datagrams from a peer are
 * dropped as C drops them, never thrown, so there is no `EnetSyntaxError`.
 *
 * @module
 */

/**
 * Every `code` an ENet error can carry. `ERR_CONNECT_TIMEOUT` is not carried
 * by a class: it is named in the message of the `TimeoutError` `DOMException`
 * that `connect()` rejects with when no handshake completes in time.
 *
 * @example
 * ```ts
 * import type { EnetErrorCode } from "@netkit/realtime/enet";
 * const retryable = new Set<EnetErrorCode>(["ERR_PEER_TABLE_FULL", "ERR_CONNECT_REFUSED"]);
 * console.log(retryable.has("ERR_PEER_TABLE_FULL")); // true
 * ```
 */
export type EnetErrorCode =
  | "ERR_INVALID_OPTION"
  | "ERR_INVALID_DATA"
  | "ERR_INVALID_ADDRESS"
  | "ERR_CHANNEL_OUT_OF_RANGE"
  | "ERR_PACKET_TOO_LARGE"
  | "ERR_PEER_NOT_CONNECTED"
  | "ERR_HOST_CLOSED"
  | "ERR_CONNECT_REFUSED"
  | "ERR_PEER_DISCONNECTED"
  | "ERR_PEER_TABLE_FULL"
  | "ERR_CONNECT_TIMEOUT";

/**
 * Options of the ENet error constructors: the standard `cause` plus the
 * details an error reports.
 *
 * @example
 * ```ts
 * import { EnetRangeError, type EnetErrorOptions } from "@netkit/realtime/enet";
 * const options: EnetErrorOptions = { size: 40_000_000, limit: 33_554_432 };
 * console.log(new EnetRangeError("ERR_PACKET_TOO_LARGE", "Packet too large", options).limit);
 * ```
 */
export interface EnetErrorOptions extends ErrorOptions {
  /** The size in bytes (or the count) that was attempted. */
  size?: number;
  /** The limit in bytes (or the count) in force. */
  limit?: number;
}

/**
 * An operation that the current state of a host or peer does not allow:
 * sending to a peer that is not connected (`ERR_PEER_NOT_CONNECTED`), using
 * a closed host (`ERR_HOST_CLOSED`), a handshake the remote refused
 * (`ERR_CONNECT_REFUSED`), a stream write pending when the peer went away
 * (`ERR_PEER_DISCONNECTED`), `connect()` with every peer slot in use
 * (`ERR_PEER_TABLE_FULL`, `limit` = the host's `peerCount`).
 *
 * @example
 * ```ts
 * import { createHost, EnetError } from "@netkit/realtime/enet";
 *
 * const host = await createHost({ address: { hostname: "127.0.0.1", port: 0 } });
 * await host.close();
 * try {
 *   host.broadcast(0, "hello");
 * } catch (error) {
 *   if (error instanceof EnetError) console.log(error.code); // "ERR_HOST_CLOSED"
 * }
 * ```
 */
export class EnetError extends Error {
  /** The stable error code. */
  readonly code: EnetErrorCode;
  /** The size in bytes (or the count) that was attempted, when the error reports one. */
  readonly size?: number;
  /** The limit in force, when the error reports one. */
  readonly limit?: number;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`) and the details `size` / `limit`
   */
  constructor(code: EnetErrorCode, message: string, options?: EnetErrorOptions) {
    super(message, options);
    this.name = "EnetError";
    this.code = code;
    if (options?.size !== undefined) this.size = options.size;
    if (options?.limit !== undefined) this.limit = options.limit;
  }
}

/**
 * A value of the wrong kind: an option that is not an allowed value
 * (`ERR_INVALID_OPTION`), packet data that is not a string, an
 * `ArrayBufferView` or an `ArrayBuffer` (`ERR_INVALID_DATA`), an address
 * whose name does not resolve to an IP address the host's socket can reach
 * (`ERR_INVALID_ADDRESS`).
 *
 * @example
 * ```ts
 * import { EnetTypeError } from "@netkit/realtime/enet";
 *
 * const error = new EnetTypeError("ERR_INVALID_DATA", "Packet data must be bytes or a string, got number");
 * console.log(error.code, error instanceof TypeError); // "ERR_INVALID_DATA" true
 * ```
 */
export class EnetTypeError extends TypeError {
  /** The stable error code. */
  readonly code: EnetErrorCode;
  /** The size in bytes (or the count) that was attempted, when the error reports one. */
  readonly size?: number;
  /** The limit in force, when the error reports one. */
  readonly limit?: number;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`) and the details `size` / `limit`
   */
  constructor(code: EnetErrorCode, message: string, options?: EnetErrorOptions) {
    super(message, options);
    this.name = "EnetTypeError";
    this.code = code;
    if (options?.size !== undefined) this.size = options.size;
    if (options?.limit !== undefined) this.limit = options.limit;
  }
}

/**
 * A value beyond a limit of the protocol or of the host's options: a
 * channel ID at or beyond the negotiated channel count
 * (`ERR_CHANNEL_OUT_OF_RANGE`, `limit` = the channel count), a packet larger
 * than `maximumPacketSize` (`ERR_PACKET_TOO_LARGE`, `size` and `limit` in
 * bytes).
 *
 * @example
 * ```ts
 * import { EnetRangeError } from "@netkit/realtime/enet";
 *
 * const error = new EnetRangeError("ERR_PACKET_TOO_LARGE", "Packet too large", {
 *   size: 40_000_000,
 *   limit: 33_554_432,
 * });
 * console.log(error.code, error.size, error.limit, error instanceof RangeError);
 * ```
 */
export class EnetRangeError extends RangeError {
  /** The stable error code. */
  readonly code: EnetErrorCode;
  /** The size in bytes (or the count) that was attempted, when the error reports one. */
  readonly size?: number;
  /** The limit in force, when the error reports one. */
  readonly limit?: number;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`) and the details `size` / `limit`
   */
  constructor(code: EnetErrorCode, message: string, options?: EnetErrorOptions) {
    super(message, options);
    this.name = "EnetRangeError";
    this.code = code;
    if (options?.size !== undefined) this.size = options.size;
    if (options?.limit !== undefined) this.limit = options.limit;
  }
}
