/**
 * Client-side helpers and the native client. Private to the module.
 *
 * @module
 */

import { CLOSE_NORMAL } from "./_frame.ts";
import { Connection } from "./_connection.ts";
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_RECEIVE_QUEUE_MESSAGES,
  DEFAULT_SEND_HIGH_WATER_MARK,
} from "./_engine.ts";
import { clientHandshake, refusedError } from "./_handshake.ts";
import { NativeSocket } from "./_native.ts";
import type { ConnectOptions } from "./options.ts";
import { WebSocketError, WebSocketSyntaxError } from "./errors.ts";

/** Validates a `ws:`/`wss:` (or `http:`/`https:`) URL and returns it as `ws:`/`wss:`. */
export function webSocketUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new WebSocketSyntaxError("ERR_INVALID_URL", `Invalid URL "${url}"`, { cause });
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new WebSocketSyntaxError(
      "ERR_INVALID_URL",
      `URL scheme "${parsed.protocol}" is not "ws:" or "wss:"`,
    );
  }
  if (parsed.hash) {
    throw new WebSocketSyntaxError("ERR_INVALID_URL", `URL "${url}" must not have a fragment`);
  }
  return parsed;
}

/**
 * The body of a refusal the built-in client saw only as a status: it does
 * not expose the body, so the same upgrade request (same URL and headers; a
 * GET, which HTTP makes safe to repeat) is sent once more through our own
 * handshake, which reads it. `undefined` when that fails or is accepted.
 */
async function refusalBodyOf(url: URL, options: ConnectOptions): Promise<string | undefined> {
  const { protocols, headers, caCerts } = options;
  const secure = url.protocol === "wss:";
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || (secure ? 443 : 80));
  const signal = AbortSignal.timeout(REFUSAL_PROBE_MS);
  let conn: Deno.Conn;
  try {
    conn = secure
      ? await Deno.connectTls({ hostname, port, caCerts, signal } as Deno.ConnectTlsOptions)
      : await Deno.connect({ hostname, port, signal } as Deno.ConnectOptions);
  } catch {
    return undefined;
  }
  const drop = () => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const timer = setTimeout(drop, REFUSAL_PROBE_MS);
  try {
    await clientHandshake(conn, url, { protocols, headers });
    return undefined; // accepted this time: nothing to quote
  } catch (error) {
    return (error as { body?: string }).body;
  } finally {
    clearTimeout(timer);
    drop();
  }
}

/** How long the native client's second look at a refusal may take. */
const REFUSAL_PROBE_MS = 2_000;

/** Checks the negotiated subprotocol against the offer (RFC 6455 section 4.1, step 6). */
export function protocolProblem(
  offered: string[] | undefined,
  picked: string,
): WebSocketError | null {
  if (!offered || offered.length === 0) {
    return picked === "" ? null : new WebSocketError(
      "ERR_UNEXPECTED_PROTOCOL",
      `Server picked subprotocol "${picked}" although none was offered`,
    );
  }
  if (picked === "") {
    return new WebSocketError(
      "ERR_PROTOCOL_NOT_NEGOTIATED",
      `Server picked none of the offered subprotocols "${offered.join(", ")}"`,
    );
  }
  if (!offered.includes(picked)) {
    return new WebSocketError(
      "ERR_UNEXPECTED_PROTOCOL",
      `Server picked subprotocol "${picked}" which was not offered`,
    );
  }
  return null;
}

/** Connects with the built-in `WebSocket`. */
export async function connectNative(url: URL, options: ConnectOptions): Promise<Connection> {
  const {
    protocols,
    headers,
    caCerts,
    signal,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    receiveQueueLimit = 2 * maxMessageSize,
    receiveQueueMessages = DEFAULT_RECEIVE_QUEUE_MESSAGES,
    sendHighWaterMark = DEFAULT_SEND_HIGH_WATER_MARK,
    closeTimeout = DEFAULT_CLOSE_TIMEOUT,
    handshakeTimeout = 10_000,
  } = options;
  const client = caCerts?.length ? Deno.createHttpClient({ caCerts }) : undefined;
  let ws: WebSocket;
  try {
    ws = new WebSocket(url, {
      protocols: protocols ?? [],
      headers: headers ?? {},
      ...(client ? { client } : {}),
    } as unknown as string[]);
  } catch (cause) {
    client?.close();
    throw new WebSocketError(
      "ERR_HANDSHAKE_FAILED",
      `Could not connect to "${url}": ${(cause as Error).message}`,
      { cause },
    );
  }
  let failure = "";
  const socket = new NativeSocket(ws, {
    role: "client",
    maxMessageSize,
    receiveQueueLimit,
    receiveQueueMessages,
    // A server that stops reading is the client's to give up on (its own timeouts).
    sendTimeout: 0,
    sendHighWaterMark,
    closeTimeout,
  });
  ws.addEventListener("error", (event) => {
    failure = (event as ErrorEvent).message ?? "";
  });
  if (client) socket.closed.then(() => client.close());
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => aborted.reject(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(
    () =>
      aborted.reject(
        new DOMException(`Handshake took longer than ${handshakeTimeout} ms`, "TimeoutError"),
      ),
    handshakeTimeout,
  );
  try {
    await Promise.race([socket.opened, aborted.promise]);
  } catch (error) {
    if (ws.readyState < 2) ws.close();
    await socket.closed;
    if (signal?.aborted) throw signal.reason;
    if (error instanceof DOMException && error.name === "TimeoutError") throw error;
    const status = /status code:? (\d{3})/i.exec(failure)?.[1];
    throw status
      ? refusedError(Number(status), await refusalBodyOf(url, options), error)
      : new WebSocketError(
        "ERR_HANDSHAKE_FAILED",
        `Could not connect to "${url}"${failure ? `: ${failure}` : ""}`,
        { cause: error },
      );
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
  const problem = protocolProblem(protocols, ws.protocol);
  if (problem) {
    ws.close(CLOSE_NORMAL, "Subprotocol mismatch");
    await socket.closed;
    throw problem;
  }
  return new Connection(socket, {
    engine: "native",
    path: url.pathname + url.search,
    headers: new Headers(),
    protocol: ws.protocol,
    extensions: ws.extensions,
    remoteAddr: null,
  });
}
