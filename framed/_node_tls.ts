/**
 * TLS servers that ask for client certificates. `Deno.listenTls` cannot
 * request or verify them, but Deno's `node:tls` server can, so a listener
 * with `clientAuth` runs on it and adapts each socket to the small
 * read/write/close surface the connection engine uses.
 *
 * @module
 */

import tls from "node:tls";
import type { ByteConn } from "./_connection.ts";
import type { PeerCertificate } from "./connection.ts";

/** Bytes buffered from a socket before it is paused until the consumer reads. */
const READ_HIGH_WATER_MARK = 256 * 1024;

/** A `node:tls` socket seen as a {@linkcode ByteConn}. */
export class NodeTlsConn implements ByteConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  readonly peerCertificate: PeerCertificate | null;
  #socket: tls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #ended = false;
  #error: unknown = null;
  #wake: (() => void) | null = null;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
    this.localAddr = {
      transport: "tcp",
      hostname: socket.localAddress ?? "",
      port: socket.localPort ?? 0,
    };
    this.peerCertificate = describeCertificate(socket);
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= READ_HIGH_WATER_MARK) socket.pause();
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
    if (this.#buffered < READ_HIGH_WATER_MARK && this.#socket.isPaused()) this.#socket.resume();
    return copied;
  }

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

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#notify();
  }
}

function describeCertificate(socket: tls.TLSSocket): PeerCertificate | null {
  const cert = socket.getPeerCertificate?.();
  if (!cert || Object.keys(cert).length === 0 || !socket.authorized) return null;
  return {
    subject: { ...cert.subject } as Record<string, string>,
    issuer: { ...cert.issuer } as Record<string, string>,
    serialNumber: String(cert.serialNumber ?? ""),
    fingerprint256: String(cert.fingerprint256 ?? ""),
    validFrom: String(cert.valid_from ?? ""),
    validTo: String(cert.valid_to ?? ""),
  };
}

/** What a `node:tls` listener needs from its owner. */
export interface NodeTlsListenerOptions {
  hostname: string;
  port: number;
  cert: string;
  key: string;
  caCerts?: string[];
  clientAuth: "request" | "required";
  handshakeTimeout: number;
  /** Called for every connection whose client passed the `clientAuth` policy. */
  admit(conn: NodeTlsConn, socket: tls.TLSSocket): void;
  /** Called once if the server fails (for example the port is taken). */
  fail(error: unknown): void;
}

/** A `node:tls` server bound to a port chosen synchronously. */
export interface NodeTlsListener {
  readonly addr: Deno.NetAddr;
  close(): Promise<void>;
}

/**
 * Starts a `node:tls` server. Its port is known at once: port 0 is resolved
 * by briefly binding a Deno listener, since the node server binds
 * asynchronously. A bind failure is reported through `fail`.
 */
export function listenNodeTls(options: NodeTlsListenerOptions): NodeTlsListener {
  let port = options.port;
  let hostname = options.hostname;
  {
    const probe = Deno.listen({ hostname, port });
    const addr = probe.addr as Deno.NetAddr;
    port = addr.port;
    hostname = addr.hostname;
    probe.close();
  }
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({
    key: options.key,
    cert: options.cert,
    ca: options.caCerts,
    requestCert: true,
    rejectUnauthorized: options.clientAuth === "required",
    handshakeTimeout: options.handshakeTimeout,
  }, (socket) => {
    // "request": no certificate is fine, an untrusted one is not.
    const presented = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
    if (!socket.authorized && presented) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    options.admit(new NodeTlsConn(socket), socket);
  });
  server.on("tlsClientError", () => {});
  server.on("error", (error: unknown) => options.fail(error));
  server.listen(port, hostname);
  return {
    addr: { transport: "tcp", hostname, port },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
