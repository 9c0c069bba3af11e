/**
 * Server-side TLS over a plain TCP connection we accepted ourselves, with a
 * handshake deadline that really frees the socket.
 *
 * Why not `Deno.listenTls`: in Deno 2.9.6 `close()` on a `Deno.TlsConn`
 * whose handshake has not finished does not close the socket (the pending
 * handshake keeps it alive until the client sends something or goes away),
 * so a flood of connections that never send a ClientHello is held however
 * short the deadline. Here the TCP socket stays ours: TLS runs in Deno's
 * `node:tls` (`TLSSocket` with `isServer`) over a small duplex adapter around
 * the `Deno.TcpConn`, and when the deadline passes we close the `TcpConn`,
 * which Deno does drop at once (pending reads included). The same path asks
 * for client certificates, which `Deno.listenTls` cannot.
 *
 * Reads follow the consumer: the adapter keeps at most one socket read in
 * flight and only while `node:tls` wants data, and {@linkcode TlsServerConn}
 * pauses the TLS socket once {@linkcode TLS_READ_HIGH_WATER_MARK} decrypted
 * bytes wait unread.
 *
 * Shared by every module that serves TLS (framed, mesh through framed, the
 * websocket rfc6455 engine); not part of the public API.
 *
 * @module
 */

import tls from "node:tls";
import { Duplex } from "node:stream";

/** Decrypted bytes buffered per connection before the TLS socket is paused. */
export const TLS_READ_HIGH_WATER_MARK = 64 * 1024;
/** The first socket read size; it doubles while reads fill it, up to the maximum. */
const SOCKET_READ_INITIAL = 4 * 1024;
const SOCKET_READ_MAX = 64 * 1024;

/** The verified client certificate, as `node:tls` reports it. */
export interface TlsPeerCertificate {
  /** Subject fields, e.g. `{ CN: "alice" }`. */
  subject: Record<string, string>;
  /** Issuer fields. */
  issuer: Record<string, string>;
  /** Serial number in hex. */
  serialNumber: string;
  /** SHA-256 fingerprint, colon-separated hex. */
  fingerprint256: string;
  /** Start of validity, as printed by OpenSSL. */
  validFrom: string;
  /** End of validity, as printed by OpenSSL. */
  validTo: string;
}

/** What every accepted connection is served with. */
export interface TlsAcceptOptions {
  /** Certificate chain in PEM. */
  cert: string;
  /** Private key in PEM. */
  key: string;
  /** Trusted client CAs in PEM (for `clientAuth`). */
  caCerts?: readonly string[];
  /**
   * `"none"`: no client certificate asked; `"request"`: asked, clients
   * without one are admitted, untrusted ones refused; `"required"`: clients
   * without a trusted one are refused.
   */
  clientAuth?: "none" | "request" | "required";
  /** ALPN protocols offered, most preferred first. */
  alpnProtocols?: readonly string[];
  /** Milliseconds from accept until the handshake must have finished. */
  handshakeTimeout: number;
}

/** Accepts one TCP connection as TLS; see {@linkcode createTlsAcceptor}. */
export type TlsAcceptor = (tcp: Deno.TcpConn, signal?: AbortSignal) => Promise<TlsServerConn>;

/**
 * Builds the secure context once and returns a function that runs the
 * server handshake on an accepted TCP connection. It resolves with the
 * secured connection, or rejects (having closed the TCP socket) with a
 * `TimeoutError` `DOMException` when `handshakeTimeout` passes, with
 * `signal`'s reason when it aborts, or with the TLS error.
 *
 * @example
 * ```ts ignore
 * import { createTlsAcceptor } from "./tls_accept.ts";
 *
 * const accept = createTlsAcceptor({ cert, key, handshakeTimeout: 10_000 });
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await accept(await listener.accept());
 * ```
 */
export function createTlsAcceptor(options: TlsAcceptOptions): TlsAcceptor {
  const clientAuth = options.clientAuth ?? "none";
  const secureContext = tls.createSecureContext({
    cert: options.cert,
    key: options.key,
    ca: options.caCerts ? [...options.caCerts] : undefined,
  });
  const alpn = options.alpnProtocols ? [...options.alpnProtocols] : undefined;
  return (tcp, signal) =>
    new Promise<TlsServerConn>((resolve, reject) => {
      const duplex = new TcpDuplex(tcp);
      const socket = new tls.TLSSocket(duplex as unknown as import("node:net").Socket, {
        isServer: true,
        secureContext,
        requestCert: clientAuth !== "none",
        // Enforced below: a hand-made server TLSSocket does not apply it.
        rejectUnauthorized: false,
        ALPNProtocols: alpn,
      });
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        socket.destroy();
        duplex.closeSocket();
        reject(error);
      };
      const timer = setTimeout(
        () =>
          fail(
            new DOMException(
              `TLS handshake did not finish within ${options.handshakeTimeout} ms`,
              "TimeoutError",
            ),
          ),
        options.handshakeTimeout,
      );
      const onAbort = () =>
        fail(signal!.reason ?? new DOMException("TLS accept was aborted", "AbortError"));
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      socket.on("error", fail);
      socket.on(
        "close",
        () => fail(new Deno.errors.ConnectionReset("closed during TLS handshake")),
      );
      socket.once("secure", () => {
        if (settled) return;
        const verdict = clientVerdict(socket);
        if (
          verdict === "untrusted" || (verdict === "none" && clientAuth === "required")
        ) {
          fail(
            new Deno.errors.PermissionDenied(
              verdict === "none"
                ? "Client presented no certificate"
                : "Client certificate is not trusted",
            ),
          );
          return;
        }
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        socket.removeListener("error", fail);
        socket.removeAllListeners("close");
        resolve(new TlsServerConn(socket, duplex, tcp, verdict === "trusted"));
      });
    });
}

/**
 * A `node:stream` duplex over a `Deno.TcpConn`: one read in flight at most,
 * and only while the TLS layer asks for data (so a paused TLS socket stops
 * reading the network). Also under framed's client-side TLS (framed/connect.ts).
 */
export class TcpDuplex extends Duplex {
  #tcp: Deno.TcpConn;
  #reading = false;
  #readSize = SOCKET_READ_INITIAL;
  #closed = false;

  constructor(tcp: Deno.TcpConn) {
    super({ allowHalfOpen: false });
    this.#tcp = tcp;
  }

  override _read(): void {
    if (this.#reading || this.#closed) return;
    this.#reading = true;
    const buffer = new Uint8Array(this.#readSize);
    this.#tcp.read(buffer).then((n) => {
      this.#reading = false;
      if (n === null) {
        this.push(null);
        return;
      }
      if (n === buffer.length) this.#readSize = Math.min(this.#readSize * 2, SOCKET_READ_MAX);
      else if (n < buffer.length / 4) this.#readSize = SOCKET_READ_INITIAL;
      // More is read when the TLS layer calls `_read` again.
      this.push(buffer.subarray(0, n));
    }, (error) => {
      this.#reading = false;
      if (this.#closed) this.push(null);
      else this.destroy(error);
    });
  }

  override _write(
    chunk: Uint8Array,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    this.#writeAll(chunk).then(() => callback(), (error) => callback(error));
  }

  async #writeAll(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      offset += await this.#tcp.write(offset === 0 ? chunk : chunk.subarray(offset));
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#tcp.closeWrite().then(() => callback(), () => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.closeSocket();
    callback(error);
  }

  /** Closes the TCP socket now (idempotent). */
  closeSocket(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#tcp.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * A secured server-side connection with the read/write/close surface of a
 * `Deno.Conn`. Decrypted bytes wait in a small queue; the TLS socket is
 * paused while {@linkcode TLS_READ_HIGH_WATER_MARK} bytes wait unread.
 */
export class TlsServerConn {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** Our address. */
  readonly localAddr: Deno.NetAddr;
  /** The client's verified certificate, or `null`. */
  readonly peerCertificate: TlsPeerCertificate | null;
  /** The ALPN protocol agreed on, or `null`. */
  readonly alpnProtocol: string | null;
  #socket: tls.TLSSocket;
  #duplex: TcpDuplex;
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #ended = false;
  #error: unknown = null;
  #wake: (() => void) | null = null;

  /** Wraps a TLS socket whose handshake has finished. */
  constructor(socket: tls.TLSSocket, duplex: TcpDuplex, tcp: Deno.TcpConn, trusted: boolean) {
    this.#socket = socket;
    this.#duplex = duplex;
    this.remoteAddr = tcp.remoteAddr;
    this.localAddr = tcp.localAddr;
    this.peerCertificate = trusted ? describeCertificate(socket) : null;
    const alpn = socket.alpnProtocol;
    this.alpnProtocol = typeof alpn === "string" ? alpn : null;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= TLS_READ_HIGH_WATER_MARK) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: unknown) => {
      this.#error = error;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Reads decrypted bytes into `target`; `null` at the end of the stream. */
  async read(target: Uint8Array): Promise<number | null> {
    while (this.#buffered === 0) {
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let copied = 0;
    while (copied < target.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const n = Math.min(chunk.length - this.#offset, target.length - copied);
      target.set(chunk.subarray(this.#offset, this.#offset + n), copied);
      copied += n;
      this.#offset += n;
      if (this.#offset === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    this.#buffered -= copied;
    if (this.#buffered < TLS_READ_HIGH_WATER_MARK && this.#socket.isPaused()) {
      this.#socket.resume();
    }
    return copied;
  }

  /** Encrypts and writes all of `bytes`; resolves with its length once the socket took it. */
  write(bytes: Uint8Array): Promise<number> {
    if (this.#socket.destroyed) {
      return Promise.reject(new Deno.errors.BadResource("Socket is closed"));
    }
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (error?: Error | null) => {
        if (error) reject(error);
        else resolve(bytes.length);
      });
    });
  }

  /** Closes the TLS socket and the TCP socket under it at once. */
  close(): void {
    this.#ended = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#socket.destroy();
    this.#duplex.closeSocket();
    this.#notify();
  }
}

/**
 * Whether the client presented a certificate and whether it chains to our
 * CAs. (`socket.authorized` is only set by `tls.Server`; a hand-made server
 * socket asks its handle, whose `verifyError()` is empty when verified.)
 */
function clientVerdict(socket: tls.TLSSocket): "none" | "trusted" | "untrusted" {
  const cert = socket.getPeerCertificate?.();
  if (!cert || Object.keys(cert).length === 0) return "none";
  const handle = (socket as unknown as { _handle?: { verifyError?: () => unknown } })._handle;
  // Fail closed when the handle cannot tell.
  if (typeof handle?.verifyError !== "function") return "untrusted";
  const error = handle.verifyError();
  return error === null || error === undefined || error === "" ? "trusted" : "untrusted";
}

function describeCertificate(socket: tls.TLSSocket): TlsPeerCertificate | null {
  const cert = socket.getPeerCertificate?.();
  if (!cert || Object.keys(cert).length === 0) return null;
  return {
    subject: { ...cert.subject } as Record<string, string>,
    issuer: { ...cert.issuer } as Record<string, string>,
    serialNumber: String(cert.serialNumber ?? ""),
    fingerprint256: String(cert.fingerprint256 ?? ""),
    validFrom: String(cert.valid_from ?? ""),
    validTo: String(cert.valid_to ?? ""),
  };
}
