/**
 * The client side: {@linkcode connect}.
 *
 * @module
 */

import tls from "node:tls";
import { isIP } from "node:net";
import { TcpDuplex, TlsServerConn } from "../_common/tls_accept.ts";
import type { FramedConnection } from "./connection.ts";
import { FramedError, FramedTypeError } from "./errors.ts";
import { delay } from "../_common/delay.ts";
import type { ConnectOptions } from "./options.ts";
import type { MessageType, ReceiveValueOf, SendValueOf } from "./types.ts";
import { type ByteConn, Connection, tuneSocket } from "./_connection.ts";
import { checkNumber, commonSettings } from "./_settings.ts";

/** @default connectTimeout */
const DEFAULT_CONNECT_TIMEOUT = 6000;
/** @default reconnect.attempts */
const DEFAULT_RECONNECT_ATTEMPTS = 10;
/** @default reconnect.interval */
const DEFAULT_RECONNECT_INTERVAL = 1000;
/** @default maxUnsentMessages */
const DEFAULT_MAX_UNSENT_MESSAGES = 100;

interface DialSettings {
  hostname: string;
  port: number;
  tls: boolean;
  caCerts?: string[];
  cert?: string;
  key?: string;
  noDelay: boolean;
  keepAlive: boolean;
  connectTimeout: number;
  attempts: number;
  interval: number;
}

/**
 * Connects to a framed server over TCP, or TLS when `tls`, `caCerts` or
 * `cert` is given.
 *
 * Each attempt may take `connectTimeout` ms; a failed attempt is retried
 * `reconnect.attempts` times, `reconnect.interval` ms apart (TLS certificate
 * errors are not retried). Rejects with `FramedTypeError` (`ERR_INVALID_OPTION`) for bad options,
 * a `TimeoutError` `DOMException` when the last attempt timed out,
 * `FramedError` `ERR_CONNECT_FAILED` (with `attempts` and the last error as `cause`) when it failed
 * otherwise, and an `AbortError` when `signal` aborts.
 *
 * Needs `--allow-net` for the host.
 *
 * @typeParam S the outgoing payload type
 * @typeParam R the incoming payload type
 * @param options what to dial and how the connection behaves
 * @returns the open connection
 *
 * @example
 * ```ts
 * import { connect, listen } from "./mod.ts";
 *
 * await using server = listen({ hostname: "127.0.0.1", port: 0, sendType: "double" });
 * await using client = await connect({
 *   hostname: "127.0.0.1",
 *   port: server.addr.port,
 *   sendType: "double",
 *   connectTimeout: 2000,
 *   reconnect: { attempts: 3, interval: 200 },
 * });
 * await client.send([0.5, 1.5]);
 * ```
 */
export async function connect<S extends MessageType = "string", R extends MessageType = S>(
  options: ConnectOptions<S, R> = {},
): Promise<FramedConnection<SendValueOf<S>, ReceiveValueOf<R>>> {
  const common = commonSettings(options, "localhost");
  const {
    tls = common.caCerts !== undefined || common.cert !== undefined,
    connectTimeout = DEFAULT_CONNECT_TIMEOUT,
    reconnect = {},
    maxUnsentMessages = DEFAULT_MAX_UNSENT_MESSAGES,
    discardMessagesBeforeOpen = false,
  } = options;
  if (typeof tls !== "boolean") {
    throw new FramedTypeError("ERR_INVALID_OPTION", `Option "tls" must be a boolean`);
  }
  if (typeof discardMessagesBeforeOpen !== "boolean") {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option "discardMessagesBeforeOpen" must be a boolean`,
    );
  }
  if (reconnect !== false && (reconnect === null || typeof reconnect !== "object")) {
    throw new FramedTypeError(
      "ERR_INVALID_OPTION",
      `Option "reconnect" must be an object or false`,
    );
  }
  const {
    attempts = DEFAULT_RECONNECT_ATTEMPTS,
    interval = DEFAULT_RECONNECT_INTERVAL,
    onDrop = false,
  } = reconnect === false ? { attempts: 0 } : reconnect;
  if (typeof onDrop !== "boolean") {
    throw new FramedTypeError("ERR_INVALID_OPTION", `Option "reconnect.onDrop" must be a boolean`);
  }
  const dial: DialSettings = {
    hostname: common.hostname,
    port: common.port,
    tls,
    caCerts: common.caCerts,
    cert: common.cert,
    key: common.key,
    noDelay: common.noDelay,
    keepAlive: common.keepAlive,
    connectTimeout: checkNumber("connectTimeout", connectTimeout, 1, 2 ** 31 - 1, false),
    attempts: checkNumber("reconnect.attempts", attempts, 0, Infinity),
    interval: checkNumber("reconnect.interval", interval, 0, 2 ** 31 - 1, false),
  };
  checkNumber("maxUnsentMessages", maxUnsentMessages, 0, Infinity);
  const signal = common.signal;
  const conn = await dialWithRetries(dial, signal);
  return new Connection<SendValueOf<S>, ReceiveValueOf<R>>(conn, {
    framing: common.framing,
    sendType: common.sendType,
    receiveType: common.receiveType,
    maxMessageSize: common.maxMessageSize,
    idleTimeout: common.idleTimeout,
    messageTimeout: common.messageTimeout,
    sendTimeout: common.sendTimeout,
    maxUnsentMessages,
    discardMessagesBeforeOpen,
    signal,
    redial: onDrop
      ? (stop) => dialWithRetries(dial, signal ? AbortSignal.any([signal, stop]) : stop)
      : undefined,
  });
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("Connection attempt was aborted", "AbortError");
}

/** Whether retrying cannot help (the server's certificate was refused). */
function isPermanent(error: unknown): boolean {
  return error instanceof Deno.errors.InvalidData;
}

async function dialWithRetries(dial: DialSettings, signal?: AbortSignal): Promise<ByteConn> {
  let last: unknown;
  let made = 0;
  for (let attempt = 0; attempt <= dial.attempts; attempt++) {
    if (attempt > 0) await delay(dial.interval, signal);
    signal?.throwIfAborted();
    made++;
    try {
      return await dialOnce(dial, signal);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      last = error;
      if (isPermanent(error)) break;
    }
  }
  if (last instanceof DOMException && last.name === "TimeoutError") {
    throw new DOMException(
      `Connecting to "${dial.hostname}:${dial.port}" timed out after ${dial.connectTimeout} ms (${made} attempt${
        made === 1 ? "" : "s"
      })`,
      "TimeoutError",
    );
  }
  const reason = last instanceof Error ? last.message : String(last);
  throw new FramedError(
    "ERR_CONNECT_FAILED",
    `Failed to connect to "${dial.hostname}:${dial.port}" after ${made} attempt${
      made === 1 ? "" : "s"
    }: ${reason}`,
    { cause: last, attempts: made },
  );
}

/**
 * One attempt: TCP connect (plus TLS handshake) within `connectTimeout`.
 *
 * TLS runs in `node:tls` over our own `Deno.TcpConn` (as the server side does in
 * `_common/tls_accept.ts`), not in `Deno.startTls`/`Deno.connectTls`: in Deno 2.9.6 closing a
 * `Deno.TlsConn` whose handshake is pending does not close its socket, so a server that never
 * answers the ClientHello would hold it past the deadline. Closing the `TcpConn` frees it at once.
 */
async function dialOnce(dial: DialSettings, signal?: AbortSignal): Promise<ByteConn> {
  const attempt = new AbortController();
  const timeout = new DOMException(
    `Connecting to "${dial.hostname}:${dial.port}" timed out after ${dial.connectTimeout} ms`,
    "TimeoutError",
  );
  const timer = setTimeout(() => attempt.abort(timeout), dial.connectTimeout);
  const onAbort = () => attempt.abort(abortError(signal!));
  signal?.addEventListener("abort", onAbort, { once: true });
  let tcp: Deno.TcpConn | undefined;
  try {
    tcp = await Deno.connect({
      hostname: dial.hostname,
      port: dial.port,
      signal: attempt.signal,
    });
    tuneSocket(tcp, dial.noDelay, dial.keepAlive);
    if (!dial.tls) return tcp;
    return await secureClient(tcp, dial, attempt.signal);
  } catch (error) {
    try {
      tcp?.close();
    } catch {
      // Already closed.
    }
    if (attempt.signal.aborted) throw attempt.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Certificate verification failures `node:tls` reports (by `code`), never worth a retry. */
const CERTIFICATE_ERROR = /CERT|VERIFY|SELF_SIGNED|ALTNAME|UNABLE_TO_GET_ISSUER/;

/**
 * The client TLS handshake over `tcp`, verifying the server against `caCerts` (else the default
 * roots) and its name or IP, presenting `cert` when given. On `signal`, an error or a close
 * before the handshake finishes, the TCP socket is closed before this rejects. A refused server
 * certificate rejects with `Deno.errors.InvalidData` (as `Deno.connectTls` does), so it is not
 * retried.
 */
function secureClient(
  tcp: Deno.TcpConn,
  dial: DialSettings,
  signal: AbortSignal,
): Promise<ByteConn> {
  return new Promise((resolve, reject) => {
    const duplex = new TcpDuplex(tcp);
    const socket = tls.connect({
      socket: duplex as unknown as import("node:net").Socket,
      host: dial.hostname,
      // SNI carries names only; an IP address is still checked against the certificate.
      servername: isIP(dial.hostname) ? undefined : dial.hostname,
      ca: dial.caCerts ? [...dial.caCerts] : undefined,
      cert: dial.cert,
      key: dial.key,
      rejectUnauthorized: true,
    });
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      duplex.closeSocket();
      const code = (error as { code?: unknown })?.code;
      reject(
        typeof code === "string" && CERTIFICATE_ERROR.test(code)
          ? new Deno.errors.InvalidData(
            `The server's certificate was refused: ${(error as Error).message}`,
            { cause: error },
          )
          : error,
      );
    };
    const onAbort = () => fail(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("error", fail);
    socket.on("close", () => fail(new Deno.errors.ConnectionReset("closed during TLS handshake")));
    socket.once("secureConnect", () => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket.removeListener("error", fail);
      socket.removeAllListeners("close");
      // The same read/write/close wrapper as the server side; the client reports no
      // peerCertificate (that field is the client's, on the server side).
      resolve(new TlsServerConn(socket, duplex, tcp, false));
    });
  });
}
