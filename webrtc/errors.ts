/**
 * Typed errors of the webrtc module. Every error carries a stable `code` (listed in
 * `webrtc/README.md`); timeouts and aborts are `DOMException`s named `TimeoutError` /
 * `AbortError` instead. Browser-safe: no Deno APIs.
 *
 * @module
 */

/**
 * Every `code` a webrtc error can carry.
 *
 * @example
 * ```ts
 * import type { WebRtcErrorCode } from "@netkit/realtime/webrtc";
 * const limits = new Set<WebRtcErrorCode>(["ERR_RATE_LIMITED", "ERR_SLOW_CONSUMER"]);
 * console.log(limits.has("ERR_RATE_LIMITED")); // true
 * ```
 */
export type WebRtcErrorCode =
  // Arguments and options.
  | "ERR_INVALID_URL"
  | "ERR_INVALID_OPTION"
  | "ERR_RTC_UNAVAILABLE"
  | "ERR_RESERVED_LABEL"
  | "ERR_INVALID_CLOSE_CODE"
  | "ERR_INVALID_DATA"
  // Sizes.
  | "ERR_MESSAGE_TOO_LARGE"
  // Connections and negotiations.
  | "ERR_CONNECTION_CLOSED"
  | "ERR_REJECTED"
  | "ERR_PROTOCOL"
  // Limits the master enforces on each of its peers (see `PeerErrorDetail`).
  | "ERR_SLOW_CONSUMER"
  | "ERR_RATE_LIMITED"
  | "ERR_TOO_MANY_CANDIDATES"
  | "ERR_SLAVE_LIST_FULL";

/**
 * The standard error options plus the details some webrtc errors carry; each becomes a readonly
 * property of the classes that list it (`undefined` when not given).
 *
 * @example
 * ```ts
 * import { WebRtcError, type WebRtcErrorOptions } from "@netkit/realtime/webrtc";
 * const options: WebRtcErrorOptions = { status: 401, reason: "Log in first", closeCode: 1006 };
 * const error = new WebRtcError("ERR_CONNECTION_CLOSED", "Master refused (401: Log in first)", options);
 * console.log(error.status, error.reason); // 401 "Log in first"
 * ```
 */
export interface WebRtcErrorOptions extends ErrorOptions {
  /** Size of the offending message or field, in bytes. */
  size?: number;
  /** The limit that was exceeded: bytes, a count, or a rate per second. */
  limit?: number;
  /** The option that sets `limit` (e.g. `"maxCandidatesPerSession"`). */
  option?: string;
  /** The close code of the connection (the peer's, or the one this side sent). */
  closeCode?: number;
  /** The close reason, or the reason a slave or master gave for a refusal (may be empty). */
  reason?: string;
  /** The HTTP status of a refused signalling upgrade (401 from an authorization hook, 403 …). */
  status?: number;
}

/**
 * A state error: a connection or channel that is closed (or closed while you waited), a master
 * that refused or could not be reached (`ERR_CONNECTION_CLOSED`), an offer the slave or master
 * refused (`ERR_REJECTED`).
 *
 * @example Telling a refusal apart
 * ```ts
 * import { connectMaster, WebRtcError } from "@netkit/realtime/webrtc/client";
 * try {
 *   await connectMaster("ws://127.0.0.1:9", { reconnect: false });
 * } catch (error) {
 *   if (error instanceof WebRtcError && error.status === 401) console.log("log in:", error.reason);
 * }
 * ```
 */
export class WebRtcError extends Error {
  /** The stable error code. */
  readonly code: WebRtcErrorCode;
  /** The close code of the connection, when known (1006 when it just went away). */
  readonly closeCode: number | undefined;
  /** The close reason, or the reason given for a refusal (may be empty). */
  readonly reason: string | undefined;
  /** The HTTP status of a refused signalling upgrade, when known. */
  readonly status: number | undefined;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options `cause`, `closeCode`, `reason`, `status`
   */
  constructor(code: WebRtcErrorCode, message: string, options?: WebRtcErrorOptions) {
    super(message, options);
    this.name = "WebRtcError";
    this.code = code;
    this.closeCode = options?.closeCode;
    this.reason = options?.reason;
    this.status = options?.status;
  }
}

/**
 * A value of the wrong kind: data that is neither a string, an `ArrayBufferView` nor an
 * `ArrayBuffer` (`ERR_INVALID_DATA`), no master URL, a reserved channel label, no
 * `RTCPeerConnection` to use.
 *
 * @example
 * ```ts
 * import { WebRtcTypeError } from "@netkit/realtime/webrtc";
 * const error = new WebRtcTypeError("ERR_INVALID_DATA", "Expected a string or bytes, got number");
 * console.log(error.code); // "ERR_INVALID_DATA"
 * ```
 */
export class WebRtcTypeError extends TypeError {
  /** The stable error code. */
  readonly code: WebRtcErrorCode;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: WebRtcErrorCode, message: string, options?: WebRtcErrorOptions) {
    super(message, options);
    this.name = "WebRtcTypeError";
    this.code = code;
  }
}

/**
 * A size, count, rate or limit exceeded: a message over `maxMessageSize`
 * (`ERR_MESSAGE_TOO_LARGE`), a master option below its minimum (`ERR_INVALID_OPTION`), a close
 * code that is not a u16, or a master peer that broke one of its limits (`ERR_SLOW_CONSUMER`,
 * `ERR_RATE_LIMITED`, `ERR_TOO_MANY_CANDIDATES`, `ERR_SLAVE_LIST_FULL`; `closeCode` is what the
 * peer got).
 *
 * @example
 * ```ts
 * import { WebRtcRangeError } from "@netkit/realtime/webrtc";
 * const error = new WebRtcRangeError("ERR_TOO_MANY_CANDIDATES", "Over maxCandidatesPerSession", {
 *   option: "maxCandidatesPerSession",
 *   limit: 64,
 *   closeCode: 1008,
 * });
 * console.log(error.code, error.option, error.limit); // "ERR_TOO_MANY_CANDIDATES" "maxCandidatesPerSession" 64
 * ```
 */
export class WebRtcRangeError extends RangeError {
  /** The stable error code. */
  readonly code: WebRtcErrorCode;
  /** Size of the offending message or field in bytes, when it has one. */
  readonly size: number | undefined;
  /** The limit that was exceeded (bytes, a count, or a rate per second). */
  readonly limit: number | undefined;
  /** The option that sets `limit`, when one does. */
  readonly option: string | undefined;
  /** The close code the connection got because of the error, when it was closed. */
  readonly closeCode: number | undefined;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options `cause`, `size`, `limit`, `option`, `closeCode`
   */
  constructor(code: WebRtcErrorCode, message: string, options?: WebRtcErrorOptions) {
    super(message, options);
    this.name = "WebRtcRangeError";
    this.code = code;
    this.size = options?.size;
    this.limit = options?.limit;
    this.option = options?.option;
    this.closeCode = options?.closeCode;
  }
}

/**
 * A malformed signalling packet (`ERR_PROTOCOL`): truncated, unknown type, invalid UTF-8 or JSON;
 * on the master also a packet type the peer's role may not send. `closeCode` is what the peer got
 * when the master closed it.
 *
 * @example
 * ```ts
 * import { WebRtcSyntaxError } from "@netkit/realtime/webrtc";
 * const error = new WebRtcSyntaxError("ERR_PROTOCOL", "Truncated SDP packet", { closeCode: 1002 });
 * console.log(error.code, error.closeCode); // "ERR_PROTOCOL" 1002
 * ```
 */
export class WebRtcSyntaxError extends SyntaxError {
  /** The stable error code. */
  readonly code: WebRtcErrorCode;
  /** The close code the connection got because of the error, when it was closed. */
  readonly closeCode: number | undefined;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options `cause`, `closeCode`
   */
  constructor(code: WebRtcErrorCode, message: string, options?: WebRtcErrorOptions) {
    super(message, options);
    this.name = "WebRtcSyntaxError";
    this.code = code;
    this.closeCode = options?.closeCode;
  }
}
