/**
 * The connection object both sides get.
 *
 * @module
 */

/**
 * One framed TCP/TLS connection: incoming messages on `readable`, outgoing
 * through `send()` or `writable`.
 *
 * - `readable` yields one chunk per message (with `framing: "raw"`, one per
 *   TCP read, or one per element for numeric types). Messages are parsed
 *   only while its queue holds less than 64 KiB (each message counted as its
 *   decoded size plus 256 bytes, so empty messages fill it too); the rest
 *   stay as bytes, and the socket is not read again until the consumer
 *   catches up, so a slow reader slows the peer down (TCP backpressure)
 *   instead of buffering without bound. Small `bytes` messages parsed
 *   together may share one `ArrayBuffer` of at most 4 KiB (each its own
 *   view): mind `byteOffset`, and do not transfer their `buffer`. Cancelling it (or
 *   `break`ing out of a `for await`) closes the connection.
 * - `send()` resolves once the message has been written to the socket.
 *   Messages sent without waiting are written together, several per system
 *   call, and settle in order. A payload up to 256 KiB is copied during the
 *   call (reuse its buffer at once); a larger one is written from the
 *   caller's memory, so leave it unchanged until the promise settles.
 *   `writable` does the same with stream backpressure (at most 256 KiB
 *   queued), and closing it closes the connection.
 * - `closed` resolves when the connection ends normally (either side closed
 *   it) and rejects with the error that ended it otherwise
 *   (`FramedRangeError` `ERR_MESSAGE_TOO_LARGE` or `ERR_BUFFER_LIMIT`,
 *   `FramedSyntaxError` `ERR_INVALID_PAYLOAD`, a `TimeoutError`
 *   `DOMException` naming `idleTimeout` / `messageTimeout` / `sendTimeout`,
 *   an `AbortError` from `signal`, a socket error, or `FramedError`
 *   `ERR_CONNECT_FAILED` when reconnection gives up). The same error ends
 *   `readable` once the messages received before it have been read.
 *
 * @typeParam Send values `send()` and `writable` take
 * @typeParam Receive values `readable` yields
 *
 * @example Echo every message back
 * ```ts
 * import { connect, listen } from "./mod.ts";
 *
 * await using server = listen({ hostname: "127.0.0.1", port: 0 });
 * (async () => {
 *   for await (const connection of server) {
 *     connection.readable.pipeTo(connection.writable).catch(() => {});
 *   }
 * })();
 *
 * await using client = await connect({ hostname: "127.0.0.1", port: server.addr.port });
 * await client.send("hello");
 * const reader = client.readable.getReader();
 * console.log((await reader.read()).value); // "hello"
 * reader.releaseLock();
 * ```
 */
export interface FramedConnection<Send = unknown, Receive = unknown> extends AsyncDisposable {
  /** Incoming messages, one chunk per message. */
  readonly readable: ReadableStream<Receive>;
  /** Outgoing messages, one chunk per message; closing it closes the connection. */
  readonly writable: WritableStream<Send>;
  /** Settles when the connection has ended (see the interface description). */
  readonly closed: Promise<void>;
  /** The peer's address (of the current socket, after a reconnection). */
  readonly remoteAddr: Deno.NetAddr;
  /** Our end's address (of the current socket, after a reconnection). */
  readonly localAddr: Deno.NetAddr;
  /**
   * The client's verified certificate, on the server side of a listener with
   * `clientAuth` when the client presented one; `null` otherwise.
   */
  readonly peerCertificate?: PeerCertificate | null;
  /**
   * Sends one message. Resolves when it has been written to the socket;
   * rejects with `FramedTypeError` `ERR_INVALID_MESSAGE` or
   * `FramedRangeError` `ERR_MESSAGE_TOO_LARGE` (the connection stays open),
   * `FramedError` `ERR_CONNECTION_CLOSED` or `ERR_NOT_CONNECTED`, or
   * `FramedRangeError` `ERR_UNSENT_QUEUE_FULL`.
   */
  send(value: Send): Promise<void>;
  /**
   * Writes what is queued (waiting at most 10 s for a peer that does not
   * read), then closes the socket. Never rejects; a second call waits for
   * the first.
   */
  close(): Promise<void>;
}

/**
 * A verified TLS client certificate, as a server with `clientAuth` sees it.
 *
 * @example
 * ```ts
 * import type { FramedConnection } from "./mod.ts";
 *
 * function who(connection: FramedConnection): string {
 *   return connection.peerCertificate?.subject.CN ?? "anonymous";
 * }
 * ```
 */
export interface PeerCertificate {
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
