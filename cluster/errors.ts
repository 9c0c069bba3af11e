/**
 * Typed errors of the cluster module. Every error carries a stable `code`
 * (listed in `cluster/README.md`); aborts and timeouts are `DOMException`s
 * named `AbortError` / `TimeoutError` instead.
 *
 * @module
 */

/**
 * Every `code` a cluster error can carry.
 *
 * @example
 * ```ts
 * import type { ClusterErrorCode } from "@netkit/realtime/cluster";
 * const retryable = new Set<ClusterErrorCode>(["ERR_ENGINE_UNAVAILABLE"]);
 * console.log(retryable.has("ERR_ENGINE_UNAVAILABLE")); // true
 * ```
 */
export type ClusterErrorCode =
  | "ERR_INVALID_URL"
  | "ERR_UNSUPPORTED_SCHEME"
  | "ERR_INVALID_OPTION"
  | "ERR_INVALID_SUBJECT"
  | "ERR_SUBJECT_TOO_LONG"
  | "ERR_INVALID_ROOM_NAME"
  | "ERR_ROOM_NAME_TOO_LONG"
  | "ERR_INVALID_DATA"
  | "ERR_MESSAGE_TOO_LARGE"
  | "ERR_ENGINE_UNREACHABLE"
  | "ERR_ENGINE_UNAVAILABLE"
  | "ERR_CLUSTER_CLOSED"
  | "ERR_SUBSCRIPTION_OVERFLOW"
  | "ERR_INVALID_ENTRY"
  | "ERR_META_TOO_LARGE"
  | "ERR_DUPLICATE_ID"
  | "ERR_UNKNOWN_ID"
  | "ERR_NOT_OWNER"
  | "ERR_DIRECTORY_CONFLICT";

/**
 * A value of the wrong kind: a URL that is not one, a scheme no engine
 * serves, a subject or room name with reserved characters, data that is
 * neither a string nor bytes.
 *
 * @example
 * ```ts
 * import { ClusterTypeError, connectCluster } from "@netkit/realtime/cluster";
 * try {
 *   await connectCluster("amqp://127.0.0.1");
 * } catch (error) {
 *   if (error instanceof ClusterTypeError) console.log(error.code); // "ERR_UNSUPPORTED_SCHEME"
 * }
 * ```
 */
export class ClusterTypeError extends TypeError {
  /** The stable error code. */
  readonly code: ClusterErrorCode;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: ClusterErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClusterTypeError";
    this.code = code;
  }
}

/**
 * A size out of its allowed range: a subject or room name too long, a
 * message too large, a subscriber that fell too far behind.
 *
 * @example
 * ```ts
 * import { ClusterRangeError } from "@netkit/realtime/cluster";
 * const error = new ClusterRangeError("ERR_ROOM_NAME_TOO_LONG", "Room name exceeds 128 bytes");
 * console.log(error.code); // "ERR_ROOM_NAME_TOO_LONG"
 * ```
 */
export class ClusterRangeError extends RangeError {
  /** The stable error code. */
  readonly code: ClusterErrorCode;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: ClusterErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClusterRangeError";
    this.code = code;
  }
}

/**
 * The engine could not be reached or is away: unreachable at start
 * (`ERR_ENGINE_UNREACHABLE`), away with the publish buffer full
 * (`ERR_ENGINE_UNAVAILABLE`), or the cluster was closed (`ERR_CLUSTER_CLOSED`).
 *
 * @example
 * ```ts
 * import { ClusterError, connectCluster } from "@netkit/realtime/cluster";
 * try {
 *   await connectCluster("nats://127.0.0.1:9", { connectTimeout: 500 });
 * } catch (error) {
 *   if (error instanceof ClusterError) console.log(error.code); // "ERR_ENGINE_UNREACHABLE"
 * }
 * ```
 */
export class ClusterError extends Error {
  /** The stable error code. */
  readonly code: ClusterErrorCode;
  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: ClusterErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClusterError";
    this.code = code;
  }
}
