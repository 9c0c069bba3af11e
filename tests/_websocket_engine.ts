/**
 * Test helpers for the own RFC 6455 engine: a tiny server built from the
 * engine's handshake + socket, and a raw TCP peer that speaks hand-made
 * frames (its framing code is written here, independently of the engine's).
 *
 * @module
 */

import { type DeflateOptions, negotiateDeflate } from "../websocket/_deflate.ts";
import {
  clientHandshake,
  readHttpRequest,
  serverHandshakeResponse,
  writeHttpResponse,
} from "../websocket/_handshake.ts";
import { type Rfc6455Options, Rfc6455Socket } from "../websocket/_rfc6455.ts";
import { LOOPBACK4 } from "./_loopback.ts";

export type Handler = (socket: Rfc6455Socket, request: Request) => Promise<void> | void;

/** Echoes every message back until the peer closes. */
export async function echo(socket: Rfc6455Socket): Promise<void> {
  for await (const message of socket.readable) {
    await socket.send(message).catch(() => {});
  }
}

export interface EngineServer extends AsyncDisposable {
  port: number;
  /** Every socket accepted so far. */
  sockets: Rfc6455Socket[];
  /** Resolves with the next accepted socket. */
  nextSocket(): Promise<Rfc6455Socket>;
}

/** A server on 127.0.0.1:0 that upgrades every connection with our engine. */
export function engineServer(
  handler: Handler = echo,
  options: Partial<Omit<Rfc6455Options, "deflate">> & {
    deflate?: DeflateOptions | true | false;
    protocols?: string[];
  } = {},
): EngineServer {
  const { deflate = false, protocols = [], ...socketOptions } = options;
  const listener = Deno.listen({ hostname: LOOPBACK4, port: 0 });
  const sockets: Rfc6455Socket[] = [];
  const tasks: Promise<unknown>[] = [];
  let waiter: PromiseWithResolvers<Rfc6455Socket> | null = null;
  const accept = async () => {
    for await (const conn of listener) {
      tasks.push((async () => {
        try {
          const { request, leftover } = await readHttpRequest(conn, { maxHeaderBytes: 16384 });
          const negotiated = deflate
            ? negotiateDeflate(
              request.headers.get("sec-websocket-extensions"),
              deflate === true ? {} : deflate,
            )
            : null;
          const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",")
            .map((p) => p.trim()).filter(Boolean);
          const protocol = offered.find((p) => protocols.includes(p)) ?? "";
          const head = serverHandshakeResponse(request, {
            protocol,
            extensions: negotiated?.response ?? "",
          });
          await conn.write(head);
          const socket = new Rfc6455Socket(conn, {
            role: "server",
            maxMessageSize: 16 * 1024 * 1024 + 1024,
            ...socketOptions,
            deflate: negotiated?.params ?? null,
            leftover,
            protocol,
            extensions: negotiated?.response ?? "",
          });
          sockets.push(socket);
          waiter?.resolve(socket);
          waiter = null;
          await handler(socket, request);
          await socket.closed;
        } catch (err) {
          // A refused or malformed request head carries the HTTP status to answer with.
          const status = (err as { status?: number }).status;
          if (status !== undefined) {
            await writeHttpResponse(conn, new Response((err as Error).message, { status }))
              .catch(() => {});
          }
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })());
    }
  };
  const acceptTask = accept().catch(() => {});
  return {
    port: listener.addr.port,
    sockets,
    nextSocket() {
      waiter = Promise.withResolvers();
      return waiter.promise;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await acceptTask;
      for (const socket of sockets) {
        if (socket.readyState === 1) socket.close(1001).catch(() => {});
      }
      await Promise.all(tasks);
    },
  };
}

/** Our engine as a client of `ws://127.0.0.1:port/path`. */
export async function engineClient(
  port: number,
  options: Partial<Omit<Rfc6455Options, "deflate">> & {
    deflate?: DeflateOptions | boolean;
    protocols?: string[];
    path?: string;
  } = {},
): Promise<Rfc6455Socket> {
  const { deflate = false, protocols, path = "/", ...socketOptions } = options;
  const conn = await Deno.connect({ hostname: LOOPBACK4, port });
  try {
    const result = await clientHandshake(conn, new URL(`ws://127.0.0.1:${port}${path}`), {
      protocols,
      deflate,
    });
    return new Rfc6455Socket(conn, {
      role: "client",
      maxMessageSize: 32 * 1024 * 1024,
      ...socketOptions,
      deflate: result.deflate,
      leftover: result.leftover,
      protocol: result.protocol,
      extensions: result.extensions,
    });
  } catch (err) {
    conn.close();
    throw err;
  }
}

/** A frame as the raw peer sees it. */
export interface RawFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** Hand-made frame bytes (independent of the engine's encoder). */
export function rawFrame(
  opcode: number,
  payload: Uint8Array | string,
  { fin = true, rsv = 0, mask = true, claimedLength }: {
    fin?: boolean;
    rsv?: number;
    mask?: boolean;
    claimedLength?: number;
  } = {},
): Uint8Array {
  const data = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  const length = claimedLength ?? data.length;
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) head.push(maskBit | length);
  else if (length < 65536) head.push(maskBit | 126, length >> 8, length & 255);
  else {
    head.push(maskBit | 127);
    const big = BigInt(length);
    for (let i = 7; i >= 0; i--) head.push(Number((big >> BigInt(i * 8)) & 255n));
  }
  const key = [0x37, 0xfa, 0x21, 0x3d];
  if (mask) head.push(...key);
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  for (let i = 0; i < data.length; i++) {
    out[head.length + i] = mask ? data[i] ^ key[i & 3] : data[i];
  }
  return out;
}

/** A raw TCP WebSocket peer: hand-written handshake and frames. */
export class RawPeer {
  conn: Deno.Conn;
  #buf = new Uint8Array(0);

  constructor(conn: Deno.Conn, leftover = new Uint8Array(0)) {
    this.conn = conn;
    this.#buf = leftover;
  }

  /** Connects to our server and performs a minimal client handshake. */
  static async connect(port: number, extraHeaders = ""): Promise<RawPeer> {
    const conn = await Deno.connect({ hostname: LOOPBACK4, port });
    conn.setNoDelay(true);
    const peer = new RawPeer(conn);
    await peer.write(
      "GET /raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        extraHeaders + "\r\n",
    );
    const head = await peer.readHead();
    if (!head.startsWith("HTTP/1.1 101")) throw new Error(`Handshake refused: ${head}`);
    if (!head.includes("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) throw new Error(`Bad accept: ${head}`);
    return peer;
  }

  async write(data: Uint8Array | string): Promise<void> {
    let bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    while (bytes.length) bytes = bytes.subarray(await this.conn.write(bytes));
  }

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk).catch(() => null);
    if (n === null) return false;
    const merged = new Uint8Array(this.#buf.length + n);
    merged.set(this.#buf);
    merged.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = merged;
    return true;
  }

  /** Reads an HTTP head (up to the blank line). */
  async readHead(): Promise<string> {
    while (true) {
      const text = new TextDecoder().decode(this.#buf);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.#buf = this.#buf.subarray(end + 4);
        return text.slice(0, end);
      }
      if (!await this.#more()) throw new Error("EOF before the HTTP head ended");
    }
  }

  async #need(n: number): Promise<boolean> {
    while (this.#buf.length < n) if (!await this.#more()) return false;
    return true;
  }

  /** The next frame, or null at EOF. */
  async readFrame(): Promise<RawFrame | null> {
    if (!await this.#need(2)) return null;
    const b = this.#buf;
    let length = b[1] & 0x7f;
    let at = 2;
    if (length === 126) {
      if (!await this.#need(4)) return null;
      length = (this.#buf[2] << 8) | this.#buf[3];
      at = 4;
    } else if (length === 127) {
      if (!await this.#need(10)) return null;
      length = Number(new DataView(this.#buf.buffer, this.#buf.byteOffset + 2, 8).getBigUint64(0));
      at = 10;
    }
    const masked = (b[1] & 0x80) !== 0;
    if (masked) at += 4;
    if (!await this.#need(at + length)) return null;
    const buf = this.#buf;
    const payload = buf.slice(at, at + length);
    if (masked) {
      for (let i = 0; i < length; i++) payload[i] ^= buf[at - 4 + (i & 3)];
    }
    this.#buf = buf.subarray(at + length);
    return {
      fin: (buf[0] & 0x80) !== 0,
      rsv: (buf[0] >> 4) & 7,
      opcode: buf[0] & 15,
      masked,
      payload,
    };
  }

  /** Reads frames until a close frame; returns its code (1005 for none) and reason. */
  async readClose(): Promise<{ code: number; reason: string; others: RawFrame[] }> {
    const others: RawFrame[] = [];
    while (true) {
      const frame = await this.readFrame();
      if (!frame) throw new Error("EOF before a close frame");
      if (frame.opcode === 8) {
        const p = frame.payload;
        return {
          code: p.length >= 2 ? (p[0] << 8) | p[1] : 1005,
          reason: new TextDecoder().decode(p.subarray(2)),
          others,
        };
      }
      others.push(frame);
    }
  }

  /** Resolves true once the other side closed TCP. */
  async readEof(): Promise<boolean> {
    while (await this.#more()) { /* discard */ }
    return true;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** `n` pseudo-random bytes (xorshift; crypto.getRandomValues caps at 64 KiB per call). */
export function randomBytes(n: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
