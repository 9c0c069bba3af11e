/**
 * The errors that close a connection (`closed.error`): public
 * `WebSocketRangeError`s that also carry, under a private symbol, the close
 * code this side sends because of them (the way npm `ws` tags its errors
 * with `kStatusCode`). Private to the module.
 *
 * @module
 */

import { type WebSocketErrorCode, WebSocketRangeError } from "./errors.ts";

/** Where a connection-closing error keeps its close code. */
export const kCloseCode: unique symbol = Symbol("closeCode");

/** A `WebSocketRangeError` that closes the connection with `[kCloseCode]`. */
export type ProtocolError = WebSocketRangeError & { readonly [kCloseCode]: number };

/** Makes the error a peer's frame (or a limit) caused; `closeCode` is sent to the peer. */
export function protocolError(
  code: WebSocketErrorCode,
  message: string,
  closeCode: number,
  options?: ErrorOptions,
): ProtocolError {
  const error = new WebSocketRangeError(code, message, options) as WebSocketRangeError & {
    [kCloseCode]: number;
  };
  error[kCloseCode] = closeCode;
  return error;
}

/** Whether `error` closes a connection (has a close code). */
export function isProtocolError(error: unknown): error is ProtocolError {
  return error instanceof WebSocketRangeError && kCloseCode in error;
}
