/**
 * Helpers for the framed/ tests: a listener with one connected client, and
 * readers that fail with a reason instead of hanging.
 *
 * @module
 */

import { connect, listen } from "../framed/mod.ts";
import type {
  ConnectOptions,
  FramedConnection,
  FramedListener,
  MessageType,
  ReceiveValueOf,
  SendValueOf,
} from "../framed/mod.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

/** A listener, a client connected to it, and the server side of that connection. */
export interface Pair<S extends MessageType, R extends MessageType> extends AsyncDisposable {
  server: FramedListener<SendValueOf<S>, ReceiveValueOf<R>>;
  client: FramedConnection<SendValueOf<S>, ReceiveValueOf<R>>;
  peer: FramedConnection<SendValueOf<S>, ReceiveValueOf<R>>;
}

/** Waits for the next connection of `server`. */
export async function accept<S, R>(
  server: FramedListener<S, R>,
  ms = 5000,
): Promise<FramedConnection<S, R>> {
  const next = (async () => {
    for await (const connection of server) return connection;
    throw new Error("Listener ended before a connection arrived");
  })();
  return await deadline(next, ms, "a connection");
}

/** Opens a loopback pair with the same options on both sides. */
export async function pair<S extends MessageType = "string", R extends MessageType = S>(
  options: ConnectOptions<S, R> = {},
): Promise<Pair<S, R>> {
  const { reconnect: _r, connectTimeout: _c, ...serverOptions } = options;
  const server = listen<S, R>({ ...serverOptions, hostname: LOOPBACK4, port: 0 });
  const accepted = accept(server);
  const client = await connect<S, R>({ ...options, hostname: LOOPBACK4, port: server.addr.port });
  const peer = await accepted;
  return {
    server,
    client,
    peer,
    async [Symbol.asyncDispose]() {
      await client.close();
      await server.close();
    },
  };
}

/** Reads `count` messages (fewer if the stream ends), failing after `ms`. */
export async function take<T>(
  connection: { readable: ReadableStream<T> },
  count = 1,
  ms = 10_000,
): Promise<T[]> {
  const reader = connection.readable.getReader();
  const out: T[] = [];
  try {
    await deadline(
      (async () => {
        while (out.length < count) {
          const { value, done } = await reader.read();
          if (done) break;
          out.push(value);
        }
      })(),
      ms,
      `${count} messages (got ${out.length})`,
    );
  } finally {
    reader.releaseLock();
  }
  return out;
}

/** Reads until the stream ends or errors; returns what arrived and the error, if any. */
export async function drain<T>(
  connection: { readable: ReadableStream<T> },
  ms = 10_000,
): Promise<{ values: T[]; error: unknown }> {
  const values: T[] = [];
  let error: unknown = undefined;
  const reader = connection.readable.getReader();
  try {
    await deadline(
      (async () => {
        while (true) {
          const { value, done } = await reader.read();
          if (done) return;
          values.push(value);
        }
      })(),
      ms,
      "the end of the stream",
    );
  } catch (e) {
    error = e;
  } finally {
    reader.releaseLock();
  }
  return { values, error };
}

/** A raw TCP client to `port`, for talking to our server byte by byte. */
export async function rawClient(port: number): Promise<Deno.TcpConn> {
  return await Deno.connect({ hostname: LOOPBACK4, port });
}

/** Writes all of `bytes`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Reads exactly `n` bytes (or fewer if the stream ends). */
export async function readExactly(conn: Deno.Conn, n: number, ms = 10_000): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let filled = 0;
  await deadline(
    (async () => {
      while (filled < n) {
        const got = await conn.read(out.subarray(filled));
        if (got === null) break;
        filled += got;
      }
    })(),
    ms,
    `${n} bytes`,
  );
  return out.subarray(0, filled);
}

/** The seed's frame for `payload`, built by hand. */
export function frame(payload: Uint8Array): Uint8Array {
  const header = payload.length < 255 ? [payload.length] : [
    0xff,
    payload.length >>> 24,
    (payload.length >>> 16) & 0xff,
    (payload.length >>> 8) & 0xff,
    payload.length & 0xff,
  ];
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  out.set(payload, header.length);
  return out;
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Deterministic pseudo-random bytes. */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
