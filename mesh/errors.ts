/**
 * Typed errors of the mesh module. Every error carries a stable `code`
 * string from {@linkcode MeshErrorCode}; the list lives in the module
 * README. The class tells the kind: {@linkcode MeshError} for a state or a
 * refusal, {@linkcode MeshTypeError} for a value of the wrong kind,
 * {@linkcode MeshRangeError} for a size or count over its limit and
 * {@linkcode MeshSyntaxError} for malformed bytes from a peer. Aborts and
 * timeouts are plain `DOMException`s named `AbortError` / `TimeoutError`,
 * as everywhere else.
 *
 * @module
 */

/**
 * Every `code` a mesh error can carry. The codes `ERR_SELF`,
 * `ERR_WRONG_PEER`, `ERR_DUPLICATE`, `ERR_DUPLICATE_NAME` and
 * `ERR_MESH_FULL` only travel in handshake refusals between members; a
 * `connectionerror` never carries them.
 *
 * @example Telling errors apart by code
 * ```ts
 * import { MeshError } from "./mod.ts";
 *
 * const error = new MeshError("ERR_NAME_TAKEN", 'Name "alice" is already taken');
 * if (error.code === "ERR_NAME_TAKEN") console.log("pick another name");
 * ```
 */
export type MeshErrorCode =
  | "ERR_NAME_TAKEN"
  | "ERR_BAD_SECRET"
  | "ERR_SEED_UNREACHABLE"
  | "ERR_PROTOCOL_VERSION"
  | "ERR_UNKNOWN_PEER"
  | "ERR_PEER_LEFT"
  | "ERR_MESH_CLOSED"
  | "ERR_NO_HANDLER"
  | "ERR_REMOTE_HANDLER"
  | "ERR_TOO_MANY_REQUESTS"
  | "ERR_MESSAGE_TOO_LARGE"
  | "ERR_INVALID_FRAME"
  | "ERR_BAD_MAC"
  | "ERR_INVALID_OPTION"
  | "ERR_INVALID_CONTENT"
  | "ERR_INVALID_ARGUMENT"
  | "ERR_STATE_LIMIT"
  | "ERR_MEMBER_LIMIT"
  | "ERR_HANDSHAKE_LIMIT"
  | "ERR_SLOW_PEER"
  | "ERR_SELF"
  | "ERR_WRONG_PEER"
  | "ERR_DUPLICATE"
  | "ERR_DUPLICATE_NAME"
  | "ERR_MESH_FULL";

/**
 * The standard error options plus the detail a mesh error may carry.
 *
 * @example
 * ```ts
 * import { MeshRangeError, type MeshErrorOptions } from "./mod.ts";
 *
 * const options: MeshErrorOptions = { size: 20_000_000, limit: 16_777_216 };
 * const error = new MeshRangeError("ERR_MESSAGE_TOO_LARGE", "Message too large", options);
 * console.log(error.size, error.limit);
 * ```
 */
export interface MeshErrorOptions extends ErrorOptions {
  /** The size or count that went over the limit (bytes or items). */
  size?: number;
  /** The limit in force (bytes or items). */
  limit?: number;
}

/**
 * A state or a refusal: `joinMesh()` was refused (`ERR_NAME_TAKEN`,
 * `ERR_BAD_SECRET`, `ERR_PROTOCOL_VERSION`) or reached no seed
 * (`ERR_SEED_UNREACHABLE`); an operation addressed a peer that is not (or no
 * longer) in the mesh (`ERR_UNKNOWN_PEER`, `ERR_PEER_LEFT`); the local
 * member has left (`ERR_MESH_CLOSED`); a request found no handler
 * (`ERR_NO_HANDLER`) or its handler threw (`ERR_REMOTE_HANDLER`, with the
 * remote error's message).
 *
 * @example
 * ```ts
 * import { joinMesh, MeshError } from "./mod.ts";
 *
 * try {
 *   await joinMesh({ name: "bob", seeds: [{ hostname: "127.0.0.1", port: 1 }], timeout: 500 });
 * } catch (error) {
 *   if (error instanceof MeshError) console.log(error.code); // "ERR_SEED_UNREACHABLE"
 * }
 * ```
 */
export class MeshError extends Error {
  /** The stable error code. */
  readonly code: MeshErrorCode;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: MeshErrorCode, message: string, options?: MeshErrorOptions) {
    super(message, options);
    this.name = "MeshError";
    this.code = code;
  }
}

/**
 * A value of the wrong kind: a bad option to `joinMesh()`
 * (`ERR_INVALID_OPTION`), content or a state value that cannot travel as
 * JSON without changing meaning (`ERR_INVALID_CONTENT`: `undefined` passed
 * explicitly, a function, symbol or bigint, a `Map`, `Set` or other built-in
 * that JSON turns into `{}`, a non-finite number, a circular structure, or
 * nesting deeper than 512 levels), or an argument of the wrong type
 * (`ERR_INVALID_ARGUMENT`: a message type or state key that is not a
 * string, a type name over 65 535 bytes, bad request options). Thrown (or
 * the promise rejects) before anything is sent.
 *
 * @example
 * ```ts
 * import { joinMesh, MeshTypeError } from "./mod.ts";
 *
 * await using mesh = await joinMesh({ name: "solo" });
 * try {
 *   mesh.state.set("players", new Map());
 * } catch (error) {
 *   if (error instanceof MeshTypeError) console.log(error.code); // "ERR_INVALID_CONTENT"
 * }
 * ```
 */
export class MeshTypeError extends TypeError {
  /** The stable error code. */
  readonly code: MeshErrorCode;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: MeshErrorCode, message: string, options?: MeshErrorOptions) {
    super(message, options);
    this.name = "MeshTypeError";
    this.code = code;
  }
}

/**
 * A size or count over its limit; `size` and `limit` tell by how much when
 * known. A peer that causes it loses its connection and is told the code:
 *
 * - `ERR_MESSAGE_TOO_LARGE`: a message over `maxMessageSize` (thrown by
 *   `send()`, `broadcast()` and `request()` before anything is written), or
 *   a peer's frame over its phase's limit.
 * - `ERR_STATE_LIMIT`: a replicated state entry over `maxStateValueSize`,
 *   more than `maxStateKeysPerMember` keys written by one member, or the
 *   state over `maxStateBytes` / `maxStateEntries` (also thrown by
 *   `state.set()`).
 * - `ERR_MEMBER_LIMIT`: a member gossiped more than `maxUnreachableMembers`
 *   members that could not be reached.
 * - `ERR_HANDSHAKE_LIMIT`: more than `maxPendingHandshakes` connections were
 *   in their handshake; the oldest one is dropped.
 * - `ERR_SLOW_PEER`: a peer did not read while more than `maxQueuedBytes`
 *   waited for it.
 * - `ERR_TOO_MANY_REQUESTS`: the peer is answering `maxRequestsInFlight`
 *   requests from this member already.
 *
 * @example
 * ```ts
 * import { MeshRangeError } from "./mod.ts";
 *
 * const error = new MeshRangeError("ERR_MESSAGE_TOO_LARGE", "Message too large", {
 *   size: 20_000_000,
 *   limit: 16_777_216,
 * });
 * console.log(error.code, error.size, error.limit);
 * ```
 */
export class MeshRangeError extends RangeError {
  /** The stable error code. */
  readonly code: MeshErrorCode;
  /** The size or count that went over the limit, when known. */
  readonly size?: number;
  /** The limit in force, when known. */
  readonly limit?: number;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`) plus `size` / `limit`
   */
  constructor(code: MeshErrorCode, message: string, options?: MeshErrorOptions) {
    super(message, options);
    this.name = "MeshRangeError";
    this.code = code;
    if (options?.size !== undefined) this.size = options.size;
    if (options?.limit !== undefined) this.limit = options.limit;
  }
}

/**
 * A peer sent something that is not valid mesh protocol
 * (`ERR_INVALID_FRAME`), or a frame whose authentication tag does not verify
 * (`ERR_BAD_MAC`). The connection to that peer is closed; others keep working.
 *
 * @example
 * ```ts
 * import { MeshSyntaxError } from "./mod.ts";
 *
 * const error = new MeshSyntaxError("ERR_BAD_MAC", "Frame authentication failed");
 * console.log(error.code);
 * ```
 */
export class MeshSyntaxError extends SyntaxError {
  /** The stable error code. */
  readonly code: MeshErrorCode;

  /**
   * Creates the error.
   *
   * @param code the stable error code
   * @param message a human-readable message
   * @param options the standard error options (`cause`)
   */
  constructor(code: MeshErrorCode, message: string, options?: MeshErrorOptions) {
    super(message, options);
    this.name = "MeshSyntaxError";
    this.code = code;
  }
}
