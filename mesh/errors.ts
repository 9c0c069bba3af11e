/**
 * Typed errors of the mesh module. Every error carries a stable `code`
 * string; the list lives in the module README. Aborts and timeouts are
 * `DOMException`s named `AbortError` / `TimeoutError`, as everywhere else.
 *
 * @module
 */

/**
 * Stable codes carried by the errors this module creates.
 *
 * @example Telling errors apart by code
 * ```ts
 * import { MeshJoinError } from "./mod.ts";
 *
 * const error = new MeshJoinError("ERR_NAME_TAKEN", 'Name "alice" is already taken');
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
  | "ERR_SLOW_PEER";

/**
 * `joinMesh()` was refused: the name is held by a live member
 * (`ERR_NAME_TAKEN`), the shared secret did not match (`ERR_BAD_SECRET`), no
 * seed answered (`ERR_SEED_UNREACHABLE`), or a member speaks another protocol
 * version (`ERR_PROTOCOL_VERSION`).
 *
 * @example
 * ```ts
 * import { joinMesh, MeshJoinError } from "./mod.ts";
 *
 * try {
 *   await joinMesh({ name: "bob", seeds: [{ hostname: "127.0.0.1", port: 1 }], timeout: 500 });
 * } catch (error) {
 *   if (error instanceof MeshJoinError) console.log(error.code);
 * }
 * ```
 */
export class MeshJoinError extends TypeError {
  /** Why the member was refused. */
  readonly code:
    | "ERR_NAME_TAKEN"
    | "ERR_BAD_SECRET"
    | "ERR_SEED_UNREACHABLE"
    | "ERR_PROTOCOL_VERSION";

  /**
   * Creates the error.
   *
   * @param code why the member was refused
   * @param message human-readable description
   */
  constructor(
    code: "ERR_NAME_TAKEN" | "ERR_BAD_SECRET" | "ERR_SEED_UNREACHABLE" | "ERR_PROTOCOL_VERSION",
    message: string,
  ) {
    super(message);
    this.name = "MeshJoinError";
    this.code = code;
  }
}

/**
 * An operation addressed a peer that is not (or no longer) in the mesh
 * (`ERR_UNKNOWN_PEER`, `ERR_PEER_LEFT`), or the local member has left
 * (`ERR_MESH_CLOSED`).
 *
 * @example
 * ```ts
 * import { MeshPeerError } from "./mod.ts";
 *
 * const error = new MeshPeerError("ERR_UNKNOWN_PEER", 'No peer with id "x" in the mesh');
 * console.log(error.code);
 * ```
 */
export class MeshPeerError extends TypeError {
  /** What went wrong with the addressed peer. */
  readonly code: "ERR_UNKNOWN_PEER" | "ERR_PEER_LEFT" | "ERR_MESH_CLOSED";

  /**
   * Creates the error.
   *
   * @param code what went wrong
   * @param message human-readable description
   */
  constructor(code: "ERR_UNKNOWN_PEER" | "ERR_PEER_LEFT" | "ERR_MESH_CLOSED", message: string) {
    super(message);
    this.name = "MeshPeerError";
    this.code = code;
  }
}

/**
 * `request()` reached the peer but got no answer: no handler is registered
 * for the type there (`ERR_NO_HANDLER`), the handler threw
 * (`ERR_REMOTE_HANDLER`; `message` is the remote error's message), or the
 * peer is answering `maxRequestsInFlight` requests from this member already
 * (`ERR_TOO_MANY_REQUESTS`).
 *
 * @example
 * ```ts
 * import { MeshRequestError } from "./mod.ts";
 *
 * const error = new MeshRequestError("ERR_NO_HANDLER", 'No handler for request type "ask"');
 * console.log(error.code);
 * ```
 */
export class MeshRequestError extends TypeError {
  /** Why the request failed on the remote side. */
  readonly code: "ERR_NO_HANDLER" | "ERR_REMOTE_HANDLER" | "ERR_TOO_MANY_REQUESTS";

  /**
   * Creates the error.
   *
   * @param code why the request failed
   * @param message human-readable description
   */
  constructor(
    code: "ERR_NO_HANDLER" | "ERR_REMOTE_HANDLER" | "ERR_TOO_MANY_REQUESTS",
    message: string,
  ) {
    super(message);
    this.name = "MeshRequestError";
    this.code = code;
  }
}

/**
 * A message is larger than `maxMessageSize`. Thrown by `send()`,
 * `broadcast()` and `request()` before anything is written.
 *
 * @example
 * ```ts
 * import { MeshMessageTooLargeError } from "./mod.ts";
 *
 * const error = new MeshMessageTooLargeError(20_000_000, 16_777_216);
 * console.log(error.code, error.size, error.limit);
 * ```
 */
export class MeshMessageTooLargeError extends RangeError {
  /** Always `"ERR_MESSAGE_TOO_LARGE"`. */
  readonly code: "ERR_MESSAGE_TOO_LARGE" = "ERR_MESSAGE_TOO_LARGE";
  /** The encoded size in bytes. */
  readonly size: number;
  /** The `maxMessageSize` in force. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param size the encoded size in bytes
   * @param limit the `maxMessageSize` in force
   */
  constructor(size: number, limit: number) {
    super(`Message of ${size} bytes exceeds maxMessageSize of ${limit} bytes`);
    this.name = "MeshMessageTooLargeError";
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A peer sent something that is not valid mesh protocol
 * (`ERR_INVALID_FRAME`), or a frame whose authentication tag does not verify
 * (`ERR_BAD_MAC`). The connection to that peer is closed; others keep working.
 *
 * @example
 * ```ts
 * import { MeshProtocolError } from "./mod.ts";
 *
 * const error = new MeshProtocolError("ERR_BAD_MAC", "Frame authentication failed");
 * console.log(error.code);
 * ```
 */
export class MeshProtocolError extends SyntaxError {
  /** What was wrong with the frame. */
  readonly code: "ERR_INVALID_FRAME" | "ERR_BAD_MAC";

  /**
   * Creates the error.
   *
   * @param code what was wrong
   * @param message human-readable description
   */
  constructor(code: "ERR_INVALID_FRAME" | "ERR_BAD_MAC", message: string) {
    super(message);
    this.name = "MeshProtocolError";
    this.code = code;
  }
}

/**
 * An option given to `joinMesh()` is out of range or of the wrong type.
 *
 * @example
 * ```ts
 * import { MeshOptionError } from "./mod.ts";
 *
 * const error = new MeshOptionError('Option "name" must be a non-empty string');
 * console.log(error.code); // "ERR_INVALID_OPTION"
 * ```
 */
export class MeshOptionError extends TypeError {
  /** Always `"ERR_INVALID_OPTION"`. */
  readonly code: "ERR_INVALID_OPTION" = "ERR_INVALID_OPTION";

  /**
   * Creates the error.
   *
   * @param message human-readable description
   */
  constructor(message: string) {
    super(message);
    this.name = "MeshOptionError";
  }
}

/**
 * A value handed to `send()`, `broadcast()`, `request()` or `state.set()`
 * cannot travel as JSON without changing meaning (`ERR_INVALID_CONTENT`:
 * `undefined` passed explicitly, a function, symbol or bigint, a `Map`,
 * `Set` or other built-in that JSON turns into `{}`, a non-finite number, a
 * circular structure, or nesting deeper than 512 levels), or an argument is
 * of the wrong type (`ERR_INVALID_ARGUMENT`: a message type or state key
 * that is not a string, or a type name over 65 535 bytes). Thrown (or the
 * promise rejects) before anything is sent.
 *
 * @example
 * ```ts
 * import { joinMesh, MeshContentError } from "./mod.ts";
 *
 * await using mesh = await joinMesh({ name: "solo" });
 * try {
 *   mesh.state.set("players", new Map());
 * } catch (error) {
 *   if (error instanceof MeshContentError) console.log(error.code); // "ERR_INVALID_CONTENT"
 * }
 * ```
 */
export class MeshContentError extends TypeError {
  /** What was wrong with the value. */
  readonly code: "ERR_INVALID_CONTENT" | "ERR_INVALID_ARGUMENT";

  /**
   * Creates the error.
   *
   * @param code what was wrong
   * @param message human-readable description
   */
  constructor(code: "ERR_INVALID_CONTENT" | "ERR_INVALID_ARGUMENT", message: string) {
    super(message);
    this.name = "MeshContentError";
    this.code = code;
  }
}

/**
 * A peer (or a local call) went over one of the limits that keep a member's
 * memory and member table bounded; the connection to that peer is closed
 * and the peer is told the code:
 *
 * - `ERR_STATE_LIMIT`: a replicated state entry over `maxStateValueSize`,
 *   more than `maxStateKeysPerMember` keys written by one member, or the
 *   state over `maxStateBytes` / `maxStateEntries` (also thrown by
 *   `state.set()`).
 * - `ERR_MEMBER_LIMIT`: a member gossiped more than `maxUnreachableMembers`
 *   members that could not be reached.
 * - `ERR_HANDSHAKE_LIMIT`: more than `maxPendingHandshakes` connections were
 *   in their handshake; the oldest one is dropped.
 * - `ERR_SLOW_PEER`: a peer did not read while more than
 *   `maxQueuedBytes` waited for it.
 *
 * @example
 * ```ts
 * import { MeshLimitError } from "./mod.ts";
 *
 * const error = new MeshLimitError("ERR_STATE_LIMIT", "State over maxStateBytes");
 * console.log(error.code);
 * ```
 */
export class MeshLimitError extends RangeError {
  /** Which limit was reached. */
  readonly code: "ERR_STATE_LIMIT" | "ERR_MEMBER_LIMIT" | "ERR_HANDSHAKE_LIMIT" | "ERR_SLOW_PEER";

  /**
   * Creates the error.
   *
   * @param code which limit was reached
   * @param message human-readable description
   */
  constructor(
    code: "ERR_STATE_LIMIT" | "ERR_MEMBER_LIMIT" | "ERR_HANDSHAKE_LIMIT" | "ERR_SLOW_PEER",
    message: string,
  ) {
    super(message);
    this.name = "MeshLimitError";
    this.code = code;
  }
}
