/**
 * The client side: {@linkcode connect}.
 *
 * @module
 */

import type { FramedConnection } from "./connection.ts";
import { ConnectFailedError, InvalidOptionError } from "./errors.ts";
import type { ConnectOptions } from "./options.ts";
import type { MessageType, ReceiveValueOf, SendValueOf } from "./types.ts";
import { Connection, tuneSocket } from "./_connection.ts";
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
 * errors are not retried). Rejects with `InvalidOptionError` for bad options,
 * a `TimeoutError` `DOMException` when the last attempt timed out,
 * `ConnectFailedError` (with the last error as `cause`) when it failed
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
  if (typeof tls !== "boolean") throw new InvalidOptionError(`Option "tls" must be a boolean`);
  if (typeof discardMessagesBeforeOpen !== "boolean") {
    throw new InvalidOptionError(`Option "discardMessagesBeforeOpen" must be a boolean`);
  }
  if (reconnect !== false && (reconnect === null || typeof reconnect !== "object")) {
    throw new InvalidOptionError(`Option "reconnect" must be an object or false`);
  }
  const {
    attempts = DEFAULT_RECONNECT_ATTEMPTS,
    interval = DEFAULT_RECONNECT_INTERVAL,
    onDrop = false,
  } = reconnect === false ? { attempts: 0 } : reconnect;
  if (typeof onDrop !== "boolean") {
    throw new InvalidOptionError(`Option "reconnect.onDrop" must be a boolean`);
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

async function dialWithRetries(dial: DialSettings, signal?: AbortSignal): Promise<Deno.Conn> {
  let last: unknown;
  let made = 0;
  for (let attempt = 0; attempt <= dial.attempts; attempt++) {
    if (attempt > 0) await sleep(dial.interval, signal);
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
  throw new ConnectFailedError(dial.hostname, dial.port, made, last);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One attempt: TCP connect (plus TLS handshake) within `connectTimeout`. */
async function dialOnce(dial: DialSettings, signal?: AbortSignal): Promise<Deno.Conn> {
  const attempt = new AbortController();
  const timeout = new DOMException(
    `Connecting to "${dial.hostname}:${dial.port}" timed out after ${dial.connectTimeout} ms`,
    "TimeoutError",
  );
  const timer = setTimeout(() => attempt.abort(timeout), dial.connectTimeout);
  const onAbort = () => attempt.abort(abortError(signal!));
  signal?.addEventListener("abort", onAbort, { once: true });
  // Settles when the attempt is aborted, so a TLS handshake cannot outlive it.
  const aborted = new Promise<never>((_, reject) => {
    attempt.signal.addEventListener("abort", () => reject(attempt.signal.reason), { once: true });
  });
  aborted.catch(() => {});
  let conn: Deno.Conn | undefined;
  try {
    if (dial.tls && dial.cert !== undefined) {
      // Only connectTls can present a client certificate; it takes no signal.
      const pending = Deno.connectTls({
        hostname: dial.hostname,
        port: dial.port,
        caCerts: dial.caCerts,
        cert: dial.cert,
        key: dial.key!,
      });
      pending.then((late) => {
        if (attempt.signal.aborted) late.close();
      }, () => {});
      const tlsConn = await Promise.race([pending, aborted]);
      conn = tlsConn;
      await Promise.race([tlsConn.handshake(), aborted]);
      return tlsConn;
    }
    const tcp = await Deno.connect({
      hostname: dial.hostname,
      port: dial.port,
      signal: attempt.signal,
    });
    conn = tcp;
    tuneSocket(tcp, dial.noDelay, dial.keepAlive);
    if (!dial.tls) return tcp;
    const tlsConn = await Deno.startTls(tcp, { hostname: dial.hostname, caCerts: dial.caCerts });
    conn = tlsConn;
    await Promise.race([tlsConn.handshake(), aborted]);
    return tlsConn;
  } catch (error) {
    try {
      conn?.close();
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
