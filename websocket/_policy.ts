/**
 * Server-side handshake decisions shared by both engines and
 * `handleUpgrade()`: is this a valid upgrade, is it authorized, which
 * subprotocol. Private to the module.
 *
 * @module
 */

import { NATIVE_MAX_MESSAGE_SIZE } from "./_native.ts";
import { WebSocketRangeError } from "./errors.ts";
import type { UpgradeOptions } from "./options.ts";

/** Why an upgrade request is not acceptable, as the HTTP response to send. */
export function upgradeProblem(request: Request): Response | null {
  const upgrade = request.headers.get("upgrade")?.toLowerCase();
  if (request.method !== "GET" || upgrade !== "websocket") {
    return new Response("Expected a WebSocket upgrade request", {
      status: 426,
      headers: { upgrade: "websocket", connection: "Upgrade" },
    });
  }
  const key = request.headers.get("sec-websocket-key") ?? "";
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) {
    return new Response("Missing or malformed Sec-WebSocket-Key", { status: 400 });
  }
  if (request.headers.get("sec-websocket-version")?.trim() !== "13") {
    return new Response("Unsupported WebSocket version", {
      status: 426,
      headers: { "sec-websocket-version": "13" },
    });
  }
  return null;
}

/** The subprotocols a request offers, in order. */
export function offeredProtocols(request: Request): string[] {
  const header = request.headers.get("sec-websocket-protocol");
  if (!header) return [];
  return header.split(",").map((name) => name.trim()).filter((name) => name !== "");
}

/** Options that decide the subprotocol. */
export interface ProtocolChoice {
  protocols?: string[];
  selectProtocol?: (request: Request, offered: string[]) => string | undefined | null;
}

/**
 * The subprotocol to answer with, `""` for none: the first offered one that is
 * in `protocols`, or what `selectProtocol` returns. A name that was not
 * offered would break the handshake (RFC 6455 section 4.2.2), so it is
 * treated as none.
 */
export function chooseProtocol(request: Request, choice: ProtocolChoice): string {
  const offered = offeredProtocols(request);
  if (offered.length === 0) return "";
  let picked: string | undefined | null;
  if (choice.selectProtocol) picked = choice.selectProtocol(request, offered);
  else if (choice.protocols) picked = offered.find((name) => choice.protocols!.includes(name));
  return picked && offered.includes(picked) ? picked : "";
}

/** What `authorize` may return. */
export type AuthorizeResult = boolean | Response;

/**
 * Runs `authorize` and turns its answer into a rejection response, or `null`
 * to go ahead. A thrown error rejects with 500 rather than crashing the server.
 */
export async function authorizeProblem(
  request: Request,
  authorize: ((request: Request) => AuthorizeResult | Promise<AuthorizeResult>) | undefined,
): Promise<Response | null> {
  if (!authorize) return null;
  let verdict: AuthorizeResult;
  try {
    verdict = await authorize(request);
  } catch {
    return new Response("Authorization failed", { status: 500 });
  }
  if (verdict instanceof Response) return verdict;
  return verdict ? null : new Response("Unauthorized", { status: 401 });
}

/** Numeric options every entry point checks up front, so a bad value fails loudly, not per connection. */
export function assertOptions(options: {
  engine?: string;
  maxMessageSize?: number;
  receiveQueueLimit?: number;
  sendHighWaterMark?: number;
  fragmentSize?: number;
  handshakeTimeout?: number;
  closeTimeout?: number;
  maxConnections?: number;
  maxHeaderBytes?: number;
  receiveQueueMessages?: number;
  maxFragments?: number;
  maxBufferedBytes?: number;
  inflateConcurrency?: number;
  sendQueueMessages?: number;
  sendQueueBytes?: number;
  sendTimeout?: number;
  messageTimeout?: number;
  sendQueueOverflow?: string;
}): void {
  for (
    const name of [
      "maxMessageSize",
      "receiveQueueLimit",
      "fragmentSize",
      "handshakeTimeout",
      "closeTimeout",
      "maxConnections",
      "maxHeaderBytes",
      "receiveQueueMessages",
      "maxFragments",
      "maxBufferedBytes",
      "inflateConcurrency",
      "sendQueueMessages",
      "sendQueueBytes",
    ] as const
  ) {
    const value = options[name];
    if (value !== undefined && !(typeof value === "number" && value > 0)) {
      throw new WebSocketRangeError(
        "ERR_INVALID_OPTION",
        `Option "${name}" must be positive, got "${value}"`,
      );
    }
  }
  if (
    (options.engine ?? "native") === "native" && options.maxMessageSize !== undefined &&
    options.maxMessageSize > NATIVE_MAX_MESSAGE_SIZE
  ) {
    // The built-in socket drops anything over 64 MiB without a close frame: a larger
    // limit would be a promise this engine cannot keep.
    throw new WebSocketRangeError(
      "ERR_INVALID_OPTION",
      `Option "maxMessageSize" of the native engine can be at most ${NATIVE_MAX_MESSAGE_SIZE} (the built-in cap); use engine "rfc6455" for more`,
    );
  }
  for (const name of ["sendHighWaterMark", "sendTimeout", "messageTimeout"] as const) {
    const value = options[name];
    if (value !== undefined && !(typeof value === "number" && value >= 0)) {
      throw new WebSocketRangeError(
        "ERR_INVALID_OPTION",
        `Option "${name}" must be zero or more, got "${value}"`,
      );
    }
  }
  const overflow = options.sendQueueOverflow;
  if (overflow !== undefined && overflow !== "close" && overflow !== "drop") {
    throw new WebSocketRangeError(
      "ERR_INVALID_OPTION",
      `Option "sendQueueOverflow" must be "close" or "drop", got "${overflow}"`,
    );
  }
}

/** Whether `request` asks for a WebSocket upgrade at all (anything else is plain HTTP). */
export function isUpgradeRequest(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/**
 * A 403 for a cross-site upgrade (cross-site WebSocket hijacking: a page on
 * another site opening a socket with the victim's cookies), `null` to go on.
 * Requests without `Origin` (non-browsers) and same-origin ones (the
 * `Origin` host equals the request's `Host`) always pass; others only when
 * listed in `allowedOrigins` or when it is `"*"`. The same rule as
 * `webrtc/`'s master.
 */
export function originProblem(
  request: Request,
  allowedOrigins: readonly string[] | "*" = [],
): Response | null {
  const origin = request.headers.get("origin");
  if (origin === null || allowedOrigins === "*" || allowedOrigins.includes(origin)) return null;
  try {
    if (new URL(origin).host === new URL(request.url).host) return null;
  } catch { /* a malformed Origin is not same-origin */ }
  return new Response("Origin not allowed", { status: 403 });
}

/** The heartbeat settings with defaults applied, `null` when disabled. */
export function heartbeatOf(
  heartbeat: UpgradeOptions["heartbeat"],
): { interval: number; timeout: number } | null {
  if (heartbeat === false) return null;
  const { interval = 15_000, timeout = 15_000 } = heartbeat ?? {};
  if (!(interval > 0) || !(timeout > 0)) {
    throw new WebSocketRangeError(
      "ERR_INVALID_OPTION",
      `Heartbeat interval "${interval}" and timeout "${timeout}" must be positive`,
    );
  }
  return { interval, timeout };
}
