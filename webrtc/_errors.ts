/**
 * Builders for the webrtc errors thrown in more than one place, so each message and detail is
 * spelled once. Browser-safe. Not part of the public API.
 *
 * @module
 */

import {
  WebRtcError,
  type WebRtcErrorCode,
  type WebRtcErrorOptions,
  WebRtcRangeError,
  WebRtcSyntaxError,
} from "./errors.ts";

/** `ERR_PROTOCOL`: a malformed packet; `closeCode` when the master closes the sender for it. */
export function protocolError(
  message: string,
  closeCode?: number,
  cause?: unknown,
): WebRtcSyntaxError {
  return new WebRtcSyntaxError("ERR_PROTOCOL", message, { closeCode, cause });
}

/**
 * `ERR_CONNECTION_CLOSED`. Without details the close code is 1006 (the connection just went away)
 * and the reason empty.
 */
export function connectionClosed(message: string, details: WebRtcErrorOptions = {}): WebRtcError {
  return new WebRtcError("ERR_CONNECTION_CLOSED", message, {
    closeCode: 1006,
    reason: "",
    ...details,
  });
}

/** `ERR_MESSAGE_TOO_LARGE`: `what` is `size` bytes, over `limit`. */
export function tooLarge(
  size: number,
  limit: number,
  what = "Message",
  closeCode?: number,
): WebRtcRangeError {
  return new WebRtcRangeError(
    "ERR_MESSAGE_TOO_LARGE",
    `${what} is ${size} bytes; the limit is "${limit}"`,
    { size, limit, closeCode },
  );
}

/** The codes of a limit the master enforces on one of its peers. */
export type PeerLimitCode = Extract<
  WebRtcErrorCode,
  "ERR_SLOW_CONSUMER" | "ERR_RATE_LIMITED" | "ERR_TOO_MANY_CANDIDATES" | "ERR_SLAVE_LIST_FULL"
>;

/** A master peer went over `option` (`limit`); it was closed with `closeCode`. */
export function peerLimit(
  code: PeerLimitCode,
  option: string,
  limit: number,
  closeCode: number,
  detail = "",
): WebRtcRangeError {
  return new WebRtcRangeError(
    code,
    `${code}: over "${option}" (${limit})${detail ? `: ${detail}` : ""}`,
    { option, limit, closeCode },
  );
}
