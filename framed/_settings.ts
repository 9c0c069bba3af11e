/**
 * Option validation and defaults shared by `listen()` and `connect()`.
 * Defaults are copied per call, never merged into a shared object (the
 * seed's `util._extend` leaked one instance's options into the next).
 *
 * @module
 */

import { FramedTypeError } from "./errors.ts";
import type { FramedOptions } from "./options.ts";
import { type MessageType, supportedSendTypes } from "./types.ts";
import { MAX_WIRE_LENGTH } from "./_wire.ts";

/** @default maxMessageSize */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;
/** @default port */
export const DEFAULT_PORT = 4000;
/** @default idleTimeout (uWebSockets' default; nginx uses 60 s) */
export const DEFAULT_IDLE_TIMEOUT = 120_000;
/** @default messageTimeout */
export const DEFAULT_MESSAGE_TIMEOUT = 30_000;
/** @default sendTimeout */
export const DEFAULT_SEND_TIMEOUT = 30_000;

/** The options both sides share, validated, with defaults filled in. */
export interface CommonSettings {
  hostname: string;
  port: number;
  framing: "length" | "raw";
  sendType: MessageType;
  receiveType: MessageType;
  maxMessageSize: number;
  idleTimeout: number;
  messageTimeout: number;
  sendTimeout: number;
  noDelay: boolean;
  keepAlive: boolean;
  cert?: string;
  key?: string;
  caCerts?: string[];
  signal?: AbortSignal;
}

const TYPES = new Set<string>(supportedSendTypes());

function checkType(name: string, value: unknown): MessageType {
  if (typeof value !== "string" || !TYPES.has(value)) {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option "${name}" must be one of ${[...TYPES].map((t) => `"${t}"`).join(", ")}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value as MessageType;
}

/** Throws unless `value` is a number in [min, max] (and an integer when asked). */
export function checkNumber(
  name: string,
  value: unknown,
  min: number,
  max: number,
  integer = true,
): number {
  if (
    typeof value !== "number" || Number.isNaN(value) || value < min || value > max ||
    (integer && Number.isFinite(value) && !Number.isInteger(value))
  ) {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option "${name}" must be ${integer ? "an integer" : "a number"} from ${min} to ${max}, got ${
        String(value)
      }`,
    );
  }
  return value;
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option "${name}" must be a boolean, got ${String(value)}`,
    );
  }
  return value;
}

function checkPem(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0) {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option "${name}" must be a non-empty PEM string`,
    );
  }
  return value;
}

/** Validates the shared options and fills in their defaults. */
export function commonSettings(
  options: FramedOptions<MessageType, MessageType>,
  defaultHostname: string,
): CommonSettings {
  if (options === null || typeof options !== "object") {
    throw new FramedTypeError("ERR_INVALID_OPTION", "Options must be an object");
  }
  const {
    hostname = defaultHostname,
    port = DEFAULT_PORT,
    framing = "length",
    sendType = "string",
    receiveType = sendType,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    idleTimeout = DEFAULT_IDLE_TIMEOUT,
    messageTimeout = DEFAULT_MESSAGE_TIMEOUT,
    sendTimeout = DEFAULT_SEND_TIMEOUT,
    noDelay = true,
    keepAlive = true,
    cert,
    key,
    caCerts,
    signal,
  } = options;
  if (typeof hostname !== "string" || hostname.length === 0) {
    throw new FramedTypeError("ERR_INVALID_OPTION", `Option "hostname" must be a non-empty string`);
  }
  if (framing !== "length" && framing !== "raw") {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option "framing" must be "length" or "raw", got ${JSON.stringify(framing)}`,
    );
  }
  const receive = checkType("receiveType", receiveType);
  if (framing === "raw" && receive === "json") {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option receiveType "json" needs framing "length": raw bytes have no message boundaries`,
    );
  }
  if (caCerts !== undefined) {
    if (!Array.isArray(caCerts)) {
      throw new FramedTypeError(
        "ERR_INVALID_OPTION",
        `Option "caCerts" must be an array of PEM strings`,
      );
    }
    caCerts.forEach((pem, i) => checkPem(`caCerts[${i}]`, pem));
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Options "cert" and "key" must be given together`,
    );
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new FramedTypeError("ERR_INVALID_OPTION", `Option "signal" must be an AbortSignal`);
  }
  return {
    hostname,
    port: checkNumber("port", port, 0, 65535),
    framing,
    sendType: checkType("sendType", sendType),
    receiveType: receive,
    maxMessageSize: checkNumber("maxMessageSize", maxMessageSize, 0, MAX_WIRE_LENGTH),
    idleTimeout: checkNumber("idleTimeout", idleTimeout, 0, 2 ** 31 - 1, false),
    messageTimeout: checkNumber("messageTimeout", messageTimeout, 0, 2 ** 31 - 1, false),
    sendTimeout: checkNumber("sendTimeout", sendTimeout, 0, 2 ** 31 - 1, false),
    noDelay: checkBoolean("noDelay", noDelay),
    keepAlive: checkBoolean("keepAlive", keepAlive),
    cert: checkPem("cert", cert),
    key: checkPem("key", key),
    caCerts: caCerts ? [...caCerts] : undefined,
    signal,
  };
}
