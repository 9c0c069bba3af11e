/**
 * Validation and defaults of `ClusterOptions`, and the naming rules of
 * subjects and rooms. Pure; private to the module.
 *
 * @module
 */

import { ClusterRangeError, ClusterTypeError } from "./errors.ts";
import type { ClusterOptions } from "./options.ts";

/** Longest subject in UTF-8 bytes. */
export const MAX_SUBJECT_BYTES = 256;
/** Longest room name in UTF-8 bytes. */
export const MAX_ROOM_BYTES = 128;

/** Validated options with defaults filled in. */
export interface ClusterSettings {
  connectTimeout: number;
  maxMessageSize: number;
  maxPending: number;
  bufferMessages: number;
  bufferBytes: number;
  heartbeatInterval: number;
  presenceTimeout: number;
  signal?: AbortSignal;
}

/** An integer option at or above `min`, or `fallback` when left out; else `ERR_INVALID_OPTION`. */
export function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new ClusterTypeError(
      "ERR_INVALID_OPTION",
      `Option "${name}" must be an integer >= ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/** Checks `options` and fills in the defaults. */
export function clusterSettings(options: ClusterOptions = {}): ClusterSettings {
  if (typeof options !== "object" || options === null) {
    throw new ClusterTypeError("ERR_INVALID_OPTION", "Options must be an object");
  }
  const heartbeatInterval = integer(
    "presence.heartbeatInterval",
    options.presence?.heartbeatInterval,
    1_000,
    10,
  );
  const presenceTimeout = integer("presence.timeout", options.presence?.timeout, 5_000, 20);
  if (presenceTimeout < 2 * heartbeatInterval) {
    throw new ClusterTypeError(
      "ERR_INVALID_OPTION",
      `Option "presence.timeout" (${presenceTimeout}) must be at least twice "presence.heartbeatInterval" (${heartbeatInterval})`,
    );
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ClusterTypeError("ERR_INVALID_OPTION", `Option "signal" must be an AbortSignal`);
  }
  return {
    connectTimeout: integer("connectTimeout", options.connectTimeout, 5_000, 1),
    maxMessageSize: integer("maxMessageSize", options.maxMessageSize, 1_000_000, 1),
    maxPending: integer("maxPending", options.maxPending, 10_000, 1),
    bufferMessages: integer(
      "publishBuffer.maxMessages",
      options.publishBuffer?.maxMessages,
      1_000,
      0,
    ),
    bufferBytes: integer("publishBuffer.maxBytes", options.publishBuffer?.maxBytes, 1 << 20, 0),
    heartbeatInterval,
    presenceTimeout,
    signal: options.signal,
  };
}

const encoder = new TextEncoder();
/** Whitespace, control characters, NATS wildcards, Redis Cluster hash tags. */
// deno-lint-ignore no-control-regex -- control characters are exactly what is refused
const RESERVED = /[\s\u0000-\u001f\u007f*>{}]/u;

function checkName(
  kind: "Subject" | "Room name",
  name: unknown,
  max: number,
  invalid: "ERR_INVALID_SUBJECT" | "ERR_INVALID_ROOM_NAME",
  tooLong: "ERR_SUBJECT_TOO_LONG" | "ERR_ROOM_NAME_TOO_LONG",
): string {
  if (typeof name !== "string" || name === "") {
    throw new ClusterTypeError(invalid, `${kind} must be a non-empty string`);
  }
  const bytes = encoder.encode(name).length;
  if (bytes > max) {
    throw new ClusterRangeError(tooLong, `${kind} is ${bytes} bytes; at most ${max} are allowed`);
  }
  if (RESERVED.test(name)) {
    throw new ClusterTypeError(
      invalid,
      `${kind} "${name}" contains a reserved character (whitespace, control, "*", ">", "{", "}")`,
    );
  }
  if (name.startsWith(".") || name.endsWith(".") || name.includes("..")) {
    throw new ClusterTypeError(invalid, `${kind} "${name}" has an empty "."-separated token`);
  }
  return name;
}

/** Checks a user subject: reserved characters, length, and the internal `_nk.` prefix. */
export function checkSubject(subject: unknown): string {
  checkName("Subject", subject, MAX_SUBJECT_BYTES, "ERR_INVALID_SUBJECT", "ERR_SUBJECT_TOO_LONG");
  if ((subject as string).startsWith("_nk.")) {
    throw new ClusterTypeError(
      "ERR_INVALID_SUBJECT",
      `Subjects starting with "_nk." are reserved for netkit`,
    );
  }
  return subject as string;
}

/** Checks a room name: reserved characters and length. */
export function checkRoom(room: unknown): string {
  return checkName(
    "Room name",
    room,
    MAX_ROOM_BYTES,
    "ERR_INVALID_ROOM_NAME",
    "ERR_ROOM_NAME_TOO_LONG",
  );
}

/** Checks publish data and returns its bytes. */
export function dataBytes(
  data: unknown,
  maxMessageSize: number,
): { bytes: Uint8Array; text: boolean } {
  let bytes: Uint8Array;
  let text: boolean;
  if (typeof data === "string") {
    bytes = encoder.encode(data);
    text = true;
  } else if (data instanceof Uint8Array) {
    bytes = data;
    text = false;
  } else {
    throw new ClusterTypeError("ERR_INVALID_DATA", "Data must be a string or a Uint8Array");
  }
  if (bytes.length > maxMessageSize) {
    throw new ClusterRangeError(
      "ERR_MESSAGE_TOO_LARGE",
      `Message is ${bytes.length} bytes; maxMessageSize is ${maxMessageSize}`,
    );
  }
  return { bytes, text };
}

/** A random node id: 12 base-36 characters. */
export function newNodeId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (byte) => (byte % 36).toString(36)).join("");
}
