/**
 * The internal engine interface: what a WebSocket engine (Deno's built-in
 * socket, or our RFC 6455 socket) must provide so that one
 * `WebSocketConnection` can sit on top of either. Private to the module.
 *
 * @module
 */

import { isValidCloseCode } from "./_frame.ts";
import { WebSocketRangeError } from "./errors.ts";

/** How a connection ended: the close code and reason (RFC 6455 section 7.1.5/7.1.6). */
export interface CloseInfo {
  /** Close code; 1005 when the peer sent none, 1006 when the transport was lost. */
  code: number;
  /** Close reason, `""` when none. */
  reason: string;
  /** The limit or protocol rule that made this side close, when it was one. */
  error?: WebSocketRangeError;
}

/** `0` CONNECTING, `1` OPEN, `2` CLOSING, `3` CLOSED. */
export type ReadyState = 0 | 1 | 2 | 3;

/** One message as it travels through the module: text as a string, binary as bytes. */
export type Message = string | Uint8Array;

/** What either engine provides for one connection. */
export interface EngineSocket {
  /** Incoming messages, whole. */
  readonly readable: ReadableStream<Message>;
  /** Sends one message; resolves when the transport took it (or the buffer fell below its high-water mark). */
  send(data: Message): Promise<void>;
  /** One binary message sent in pieces. */
  beginBinary(): WritableStream<Uint8Array>;
  /** Sends a ping and resolves with the round trip in milliseconds. */
  ping(data?: Uint8Array): Promise<number>;
  /** Starts (or completes) the closing handshake; resolves when closed. */
  close(code?: number, reason?: string): Promise<void>;
  /** Settles once when the connection is closed; never rejects. */
  readonly closed: Promise<CloseInfo>;
  /** The current state. */
  readonly readyState: ReadyState;
  /** Bytes queued but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** Drops the transport without a close frame, when the engine can. */
  terminate?(): void;
}

/** Close codes an endpoint may put on the wire (RFC 6455 section 7.4). */
export function assertSendableCloseCode(code: number): void {
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new WebSocketRangeError(
      "ERR_INVALID_CLOSE_CODE",
      `Close code "${code}" may not be sent (use 1000-1003, 1007-1014 or 3000-4999)`,
    );
  }
}

/** The largest close reason in UTF-8 bytes: a control frame payload is at most 125 bytes. */
export const MAX_CLOSE_REASON_BYTES = 123;

const encoder = new TextEncoder();

/** Throws `ERR_CLOSE_REASON_TOO_LONG` when `reason` exceeds 123 UTF-8 bytes. */
export function assertCloseReason(reason: string): void {
  if (reason.length > MAX_CLOSE_REASON_BYTES / 3 && encoder.encode(reason).byteLength > 123) {
    throw new WebSocketRangeError(
      "ERR_CLOSE_REASON_TOO_LONG",
      `Close reason is longer than "${MAX_CLOSE_REASON_BYTES}" UTF-8 bytes`,
    );
  }
}

/**
 * The UTF-8 size of a message, computed cheaply: exact for bytes; for strings
 * exact only when the bound matters (`limit` between length and 3 × length).
 */
export function messageSize(data: Message, limit = Infinity): number {
  if (typeof data !== "string") return data.byteLength;
  if (data.length > limit || data.length * 3 <= limit) return data.length;
  return encoder.encode(data).byteLength;
}

/** Default largest incoming message: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;
/** Default send high-water mark: `send()` waits while more than this is buffered. */
export const DEFAULT_SEND_HIGH_WATER_MARK = 1024 * 1024;
/** Default `maxBufferedBytes` of a server: 128 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 128 * 1024 * 1024;
/** Bytes a connection holds without charging its server's budget (its read-ahead). */
export const UNCHARGED_BYTES = 64 * 1024;
/** Default `receiveQueueMessages` of the native engine. */
export const DEFAULT_RECEIVE_QUEUE_MESSAGES = 4096;
/** Default `sendTimeout`: how long a peer may go without reading what we send. */
export const DEFAULT_SEND_TIMEOUT = 30_000;
/** Default wait for the peer's close frame before giving up with 1006. */
export const DEFAULT_CLOSE_TIMEOUT = 5_000;
