/**
 * The HTTP/1.1 upgrade handshake of RFC 6455 §4 on a raw `Deno.Conn`: reading
 * a request head into a standard `Request`, writing a `Response`, the 101
 * answer, and the client side of the exchange.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { decodeUtf8Prefix } from "../_common/utf8.ts";
import {
  WebSocketError,
  WebSocketRangeError,
  WebSocketSyntaxError,
  WebSocketTypeError,
} from "./errors.ts";

/** The code of a handshake error: the server refusing a request, or the client failing. */
type HandshakeFailure = "ERR_INVALID_UPGRADE_REQUEST" | "ERR_HANDSHAKE_FAILED";
import type { ByteStream } from "./_frame.ts";
import {
  acceptDeflateResponse,
  deflateOffer,
  type DeflateOptions,
  type DeflateParams,
} from "./_deflate.ts";

/** The GUID every `Sec-WebSocket-Accept` is derived with (RFC 6455 §1.3). */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_TEXT: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/**
 * Reads bytes from `conn` until the end of an HTTP head (`\r\n\r\n`). Returns
 * the head (without the blank line) and whatever arrived after it.
 */
async function readHead(
  conn: ByteStream,
  maxHeaderBytes: number,
  failure: HandshakeFailure,
): Promise<{ head: string; leftover: Uint8Array }> {
  let buf = new Uint8Array(Math.min(4096, maxHeaderBytes + 4));
  let length = 0;
  let scanFrom = 0;
  while (true) {
    if (length === buf.length) {
      if (buf.length >= maxHeaderBytes + 4) {
        throw headTooLarge(failure, maxHeaderBytes);
      }
      const bigger = new Uint8Array(Math.min(buf.length * 2, maxHeaderBytes + 4));
      bigger.set(buf);
      buf = bigger;
    }
    let n: number | null;
    try {
      n = await conn.read(buf.subarray(length));
    } catch (err) {
      throw new WebSocketError(
        failure,
        `Connection failed during the handshake: ${(err as Error).message}`,
        { status: 400, cause: err },
      );
    }
    if (n === null) {
      throw new WebSocketError(
        failure,
        "Connection closed before the HTTP head was complete",
        { status: 400 },
      );
    }
    length += n;
    for (let i = Math.max(0, scanFrom - 3); i + 3 < length; i++) {
      if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) {
        if (i > maxHeaderBytes) break;
        return {
          head: latin1.decode(buf.subarray(0, i)),
          leftover: buf.slice(i + 4, length),
        };
      }
    }
    scanFrom = length;
    if (length > maxHeaderBytes + 3) {
      throw headTooLarge(failure, maxHeaderBytes);
    }
  }
}

function headTooLarge(failure: HandshakeFailure, maxHeaderBytes: number): WebSocketRangeError {
  return new WebSocketRangeError(failure, `HTTP head exceeds ${maxHeaderBytes} bytes`, {
    status: 431,
    limit: maxHeaderBytes,
  });
}

function parseHeaderLines(lines: string[], failure: HandshakeFailure): Headers {
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) {
      throw new WebSocketSyntaxError(failure, `Malformed header line "${line.slice(0, 64)}"`, {
        status: 400,
      });
    }
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) {
      throw new WebSocketSyntaxError(failure, `Invalid value for header "${name}"`, {
        status: 400,
      });
    }
    try {
      headers.append(name, value);
    } catch {
      throw new WebSocketSyntaxError(failure, `Invalid value for header "${name}"`, {
        status: 400,
      });
    }
  }
  return headers;
}

/**
 * Reads one HTTP/1.1 request head from `conn` and builds a standard
 * `Request` (url `http(s)://host/path?query`, all headers, method; `https`
 * when `secure`, which defaults to whether `conn` is a TLS connection). Rejects
 * with a {@linkcode WebSocketSyntaxError} (status 400) on a malformed head,
 * a {@linkcode WebSocketRangeError} (status 431) on an oversize one, and a
 * {@linkcode WebSocketError} when the connection fails first. `leftover` holds bytes that followed the head
 * (early WebSocket frames).
 */
export async function readHttpRequest(
  conn: ByteStream,
  opts: { maxHeaderBytes: number; secure?: boolean },
): Promise<{ request: Request; leftover: Uint8Array }> {
  const { maxHeaderBytes, secure = "handshake" in conn } = opts;
  const { head, leftover } = await readHead(conn, maxHeaderBytes, "ERR_INVALID_UPGRADE_REQUEST");
  const lines = head.split("\r\n");
  const match = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0]);
  if (!match) {
    throw new WebSocketSyntaxError(
      "ERR_INVALID_UPGRADE_REQUEST",
      `Malformed request line "${lines[0].slice(0, 64)}"`,
      { status: 400 },
    );
  }
  const [, method, target] = match;
  const headers = parseHeaderLines(lines.slice(1), "ERR_INVALID_UPGRADE_REQUEST");
  const host = headers.get("host");
  if (!host || /[\s/?#@]/.test(host)) {
    throw new WebSocketSyntaxError(
      "ERR_INVALID_UPGRADE_REQUEST",
      "Missing or invalid Host header",
      { status: 400 },
    );
  }
  const scheme = secure ? "https" : "http";
  let url: URL;
  try {
    url = target.startsWith("/") ? new URL(`${scheme}://${host}${target}`) : new URL(target);
  } catch {
    throw new WebSocketSyntaxError(
      "ERR_INVALID_UPGRADE_REQUEST",
      `Invalid request target "${target.slice(0, 64)}"`,
      { status: 400 },
    );
  }
  let request: Request;
  try {
    request = new Request(url, { method, headers });
  } catch {
    // Forbidden methods (CONNECT, TRACE, TRACK) cannot even be represented.
    throw new WebSocketSyntaxError(
      "ERR_INVALID_UPGRADE_REQUEST",
      `Invalid method "${method}": a WebSocket upgrade uses GET`,
      { status: 405 },
    );
  }
  return { request, leftover };
}

/**
 * Writes `response` (status line, headers, body) to `conn` as HTTP/1.1. Used
 * to refuse an upgrade (401, 400, 426 …). Adds `Content-Length` and
 * `Connection: close` when missing; the caller closes `conn` afterwards.
 */
export async function writeHttpResponse(conn: ByteStream, response: Response): Promise<void> {
  const body = response.body ? new Uint8Array(await response.arrayBuffer()) : new Uint8Array(0);
  const reason = response.statusText || STATUS_TEXT[response.status] || "Unknown";
  let head = `HTTP/1.1 ${response.status} ${reason}\r\n`;
  for (const [name, value] of response.headers) {
    if (name === "content-length" || name === "transfer-encoding") continue;
    head += `${name}: ${value}\r\n`;
  }
  if (response.status !== 101) {
    if (!response.headers.has("connection")) head += "connection: close\r\n";
    head += `content-length: ${body.length}\r\n`;
  }
  head += "\r\n";
  const headBytes = encoder.encode(head);
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  await writeAll(conn, out);
}

/** The `ERR_UNEXPECTED_STATUS` error of a refused handshake, quoting the body when there is one. */
export function refusedError(
  status: number,
  body: string | undefined,
  cause?: unknown,
): WebSocketError {
  return new WebSocketError(
    "ERR_UNEXPECTED_STATUS",
    `Server answered "${status}" instead of "101"${body ? `: ${body}` : ""}`,
    { status, body: body || undefined, cause },
  );
}

/** Most bytes of a refusing server's body that a client quotes in its error. */
export const REFUSAL_BODY_BYTES = 256;
/** How long a client waits for the body of a refusal before quoting what it has. */
const REFUSAL_BODY_WAIT_MS = 1_000;

/**
 * The start of a refusal's body (after a non-101 status): at most
 * `REFUSAL_BODY_BYTES`, waited for at most `REFUSAL_BODY_WAIT_MS`, so a
 * server that says why it refused ("token expired") is heard, and one that
 * sends a huge or endless body costs nothing. The caller closes `conn`.
 */
async function refusalBody(
  conn: ByteStream,
  leftover: Uint8Array,
  headers: Headers,
): Promise<string> {
  const declared = Number(headers.get("content-length"));
  const chunked = /chunked/i.test(headers.get("transfer-encoding") ?? "");
  // One byte more than quoted tells decodeUtf8Prefix that the body was cut.
  const want = Number.isInteger(declared) && declared >= 0 && !chunked
    ? Math.min(declared, REFUSAL_BODY_BYTES + 1)
    : REFUSAL_BODY_BYTES + 1;
  const body = new Uint8Array(want);
  let length = Math.min(leftover.length, want);
  body.set(leftover.subarray(0, length));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gaveUp = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), REFUSAL_BODY_WAIT_MS);
  });
  try {
    while (length < want) {
      const reading = conn.read(body.subarray(length));
      reading.catch(() => {}); // settles once the caller closes conn
      const n = await Promise.race([reading, gaveUp]).catch(() => null);
      if (n === null) break;
      length += n;
    }
  } finally {
    clearTimeout(timer);
  }
  let bytes = body.subarray(0, length);
  if (chunked) {
    // The first chunk only: "<hex size>\r\n<data>".
    const text = new TextDecoder().decode(bytes);
    const match = /^([0-9a-fA-F]+)[^\r\n]*\r\n/.exec(text);
    const start = match ? match[0].length : 0; // ASCII: characters are bytes
    bytes = match ? bytes.subarray(start, start + parseInt(match[1], 16)) : bytes;
  }
  return decodeUtf8Prefix(bytes, REFUSAL_BODY_BYTES).trim();
}

/** Writes all of `data` to `conn` (handles partial writes). */
export async function writeAll(conn: ByteStream, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) {
    written += await conn.write(data.subarray(written));
  }
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary);
}

/** `Sec-WebSocket-Accept` for `key`: base64(SHA-1(key + GUID)), via `crypto.subtle`. */
export async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + WEBSOCKET_GUID));
  return bytesToBase64(new Uint8Array(digest));
}

function acceptKeySync(key: string): string {
  return createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
}

function headerHasToken(headers: Headers, name: string, token: string): boolean {
  const value = headers.get(name);
  if (!value) return false;
  return value.split(",").some((part) => part.trim().toLowerCase() === token);
}

/** Whether `key` is the base64 form of 16 bytes (RFC 6455 §4.2.1). */
function isValidKey(key: string | null): boolean {
  if (!key || !/^[A-Za-z0-9+/]{22}==$/.test(key)) return false;
  return true;
}

/**
 * Checks that `request` is a valid WebSocket upgrade (GET, `Upgrade:
 * websocket`, `Connection: upgrade`, version 13, a 16-byte base64 key) and
 * returns the bytes of the 101 answer, with `protocol` and `extensions`
 * (already negotiated by the caller) and any extra `headers`. Throws a
 * {@linkcode WebSocketSyntaxError} whose `status` is the answer to send
 * instead (400, or 426 with `Sec-WebSocket-Version: 13` for a wrong version).
 */
export function serverHandshakeResponse(
  request: Request,
  options: { protocol?: string; extensions?: string; headers?: HeadersInit } = {},
): Uint8Array {
  const { protocol = "", extensions = "", headers: extra } = options;
  const headers = request.headers;
  if (request.method !== "GET") {
    throw new WebSocketSyntaxError(
      "ERR_INVALID_UPGRADE_REQUEST",
      `Invalid method "${request.method}": a WebSocket upgrade uses GET`,
      { status: 405 },
    );
  }
  if (!headerHasToken(headers, "upgrade", "websocket")) {
    throw new WebSocketSyntaxError(
      "ERR_INVALID_UPGRADE_REQUEST",
      `Invalid Upgrade header "${headers.get("upgrade") ?? ""}"`,
      { status: 426 },
    );
  }
  if (!headerHasToken(headers, "connection", "upgrade")) {
    throw new WebSocketSyntaxError(
      "ERR_INVALID_UPGRADE_REQUEST",
      `Invalid Connection header "${headers.get("connection") ?? ""}"`,
      { status: 400 },
    );
  }
  const version = headers.get("sec-websocket-version");
  if (version !== "13") {
    throw new WebSocketSyntaxError(
      "ERR_INVALID_UPGRADE_REQUEST",
      `Unsupported Sec-WebSocket-Version "${version ?? ""}": expected "13"`,
      { status: 426 },
    );
  }
  const key = headers.get("sec-websocket-key");
  if (!isValidKey(key)) {
    throw new WebSocketSyntaxError(
      "ERR_INVALID_UPGRADE_REQUEST",
      `Invalid Sec-WebSocket-Key "${(key ?? "").slice(0, 64)}"`,
      { status: 400 },
    );
  }
  let head = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
    `sec-websocket-accept: ${acceptKeySync(key!)}\r\n`;
  if (protocol) head += `sec-websocket-protocol: ${protocol}\r\n`;
  if (extensions) head += `sec-websocket-extensions: ${extensions}\r\n`;
  if (extra) {
    for (const [name, value] of new Headers(extra)) head += `${name}: ${value}\r\n`;
  }
  return encoder.encode(head + "\r\n");
}

/** The headers a client may not set itself: the handshake owns them. */
const RESERVED_CLIENT_HEADERS = new Set([
  "host",
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  "content-length",
  "transfer-encoding",
]);

/**
 * Runs the client side of the handshake on a connected `conn` for `url`:
 * sends the upgrade request (offering `protocols` and, unless `deflate` is
 * false, permessage-deflate), reads the answer and validates it
 * (`101`, `Sec-WebSocket-Accept`, a protocol we offered, extensions we
 * offered). Rejects with a {@linkcode WebSocketError} (a non-101 answer has
 * code `ERR_UNEXPECTED_STATUS` and the received `status`; a subprotocol
 * mismatch `ERR_UNEXPECTED_PROTOCOL` / `ERR_PROTOCOL_NOT_NEGOTIATED`), a
 * {@linkcode WebSocketSyntaxError} `ERR_HANDSHAKE_FAILED` for a malformed
 * answer, or a {@linkcode WebSocketTypeError} for an invalid subprotocol.
 */
export async function clientHandshake(
  conn: ByteStream,
  url: URL,
  opts: {
    protocols?: string[];
    headers?: HeadersInit;
    deflate?: boolean | DeflateOptions;
    maxHeaderBytes?: number;
  } = {},
): Promise<{
  response: { status: number; headers: Headers };
  protocol: string;
  extensions: string;
  deflate: DeflateParams | null;
  leftover: Uint8Array;
}> {
  const { protocols = [], headers: extra, deflate = false, maxHeaderBytes = 16 * 1024 } = opts;
  for (const p of protocols) {
    if (!TOKEN.test(p)) {
      throw new WebSocketTypeError("ERR_HANDSHAKE_FAILED", `Invalid subprotocol "${p}"`);
    }
  }
  if (new Set(protocols).size !== protocols.length) {
    throw new WebSocketTypeError(
      "ERR_HANDSHAKE_FAILED",
      `Duplicate subprotocol in "${protocols.join(", ")}"`,
    );
  }
  const keyBytes = crypto.getRandomValues(new Uint8Array(16));
  const key = bytesToBase64(keyBytes);
  const path = (url.pathname || "/") + url.search;
  const defaultPort = url.protocol === "wss:" || url.protocol === "https:" ? "443" : "80";
  const host = url.port && url.port !== defaultPort ? `${url.hostname}:${url.port}` : url.hostname;
  let head =
    `GET ${path} HTTP/1.1\r\nhost: ${host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
    `sec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n`;
  if (protocols.length) head += `sec-websocket-protocol: ${protocols.join(", ")}\r\n`;
  if (deflate) head += `sec-websocket-extensions: ${deflateOffer(deflate)}\r\n`;
  if (extra) {
    for (const [name, value] of new Headers(extra)) {
      if (!RESERVED_CLIENT_HEADERS.has(name)) head += `${name}: ${value}\r\n`;
    }
  }
  try {
    await writeAll(conn, encoder.encode(head + "\r\n"));
  } catch (err) {
    throw new WebSocketError(
      "ERR_HANDSHAKE_FAILED",
      `Connection failed during the handshake: ${(err as Error).message}`,
      { status: 400, cause: err },
    );
  }
  const { head: answer, leftover } = await readHead(conn, maxHeaderBytes, "ERR_HANDSHAKE_FAILED");
  const lines = answer.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!match) {
    throw new WebSocketSyntaxError(
      "ERR_HANDSHAKE_FAILED",
      `Malformed status line "${lines[0].slice(0, 64)}"`,
      { status: 400 },
    );
  }
  const status = Number(match[1]);
  const headers = parseHeaderLines(lines.slice(1), "ERR_HANDSHAKE_FAILED");
  const response = { status, headers };
  const malformed = (message: string): never => {
    throw new WebSocketSyntaxError("ERR_HANDSHAKE_FAILED", message, { status });
  };
  if (status !== 101) throw refusedError(status, await refusalBody(conn, leftover, headers));
  if (!headerHasToken(headers, "upgrade", "websocket")) {
    malformed(`Invalid Upgrade header "${headers.get("upgrade") ?? ""}"`);
  }
  if (!headerHasToken(headers, "connection", "upgrade")) {
    malformed(`Invalid Connection header "${headers.get("connection") ?? ""}"`);
  }
  const accept = headers.get("sec-websocket-accept");
  if (accept !== acceptKeySync(key)) {
    malformed(`Invalid Sec-WebSocket-Accept "${accept ?? ""}"`);
  }
  const protocol = headers.get("sec-websocket-protocol") ?? "";
  if (protocol && !protocols.includes(protocol)) {
    throw new WebSocketError(
      "ERR_UNEXPECTED_PROTOCOL",
      `Server selected subprotocol "${protocol}" that was not offered`,
      { status },
    );
  }
  if (!protocol && protocols.length) {
    throw new WebSocketError(
      "ERR_PROTOCOL_NOT_NEGOTIATED",
      `Server selected no subprotocol of "${protocols.join(", ")}"`,
      { status },
    );
  }
  const extensions = headers.get("sec-websocket-extensions") ?? "";
  let params: DeflateParams | null;
  try {
    params = acceptDeflateResponse(extensions, deflate);
  } catch (err) {
    throw new WebSocketSyntaxError("ERR_HANDSHAKE_FAILED", (err as Error).message, {
      status,
      cause: err,
    });
  }
  return { response, protocol, extensions, deflate: params, leftover };
}
