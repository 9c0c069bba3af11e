/**
 * A raw WebSocket peer for the tests: does the HTTP handshake and reads and
 * writes frames by hand on a plain TCP socket, so wire behaviour (pings,
 * close frames, abrupt loss, not reading) is under the test's control.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One frame as read off the wire. */
export interface RawFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** A raw client connection after a successful handshake. */
export class RawPeer implements Disposable {
  readonly conn: Deno.TcpConn;
  #buffer: Uint8Array = new Uint8Array(0);
  #closed = false;

  constructor(conn: Deno.TcpConn, leftover: Uint8Array) {
    this.conn = conn;
    this.#buffer = leftover;
  }

  /** Connects and performs the client handshake; throws on a non-101 answer. */
  static async connect(
    port: number,
    { path = "/", headers = {} }: { path?: string; headers?: Record<string, string> } = {},
  ): Promise<RawPeer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    await writeAll(
      conn,
      encoder.encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
          `Sec-WebSocket-Version: 13\r\n${extra}\r\n`,
      ),
    );
    let head: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    while (true) {
      const end = indexOfHeadEnd(head);
      if (end >= 0) {
        const text = decoder.decode(head.subarray(0, end));
        if (!text.startsWith("HTTP/1.1 101")) {
          conn.close();
          throw new Error(`Handshake failed: ${text.split("\r\n")[0]}`);
        }
        return new RawPeer(conn, head.slice(end + 4));
      }
      const n = await conn.read(chunk);
      if (n === null) {
        conn.close();
        throw new Error("Connection closed during handshake");
      }
      head = concat(head, chunk.subarray(0, n));
    }
  }

  /**
   * Accepts one TCP connection on `listener` and answers its WebSocket
   * handshake with a 101, acting as a raw server.
   */
  static async accept(listener: Deno.Listener<Deno.TcpConn>): Promise<RawPeer> {
    const conn = await listener.accept();
    let head: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    while (indexOfHeadEnd(head) < 0) {
      const n = await conn.read(chunk);
      if (n === null) {
        conn.close();
        throw new Error("Connection closed during handshake");
      }
      head = concat(head, chunk.subarray(0, n));
    }
    const end = indexOfHeadEnd(head);
    const request = decoder.decode(head.subarray(0, end));
    const key = /sec-websocket-key: *(.+)/i.exec(request)?.[1].trim() ?? "";
    const digest = await crypto.subtle.digest(
      "SHA-1",
      encoder.encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await writeAll(
      conn,
      encoder.encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
      ),
    );
    return new RawPeer(conn, head.slice(end + 4));
  }

  /**
   * Writes one frame, masked unless `mask: false` (clients must mask).
   * `rsv` sets the reserved bits (0x40, 0x20, 0x10); `claimedLength` writes a
   * header announcing that length while sending only `payload`.
   */
  async writeFrame(
    opcode: number,
    payload: Uint8Array = new Uint8Array(0),
    { fin = true, mask = true, rsv = 0, claimedLength }: {
      fin?: boolean;
      mask?: boolean;
      rsv?: number;
      claimedLength?: number;
    } = {},
  ) {
    const key = crypto.getRandomValues(new Uint8Array(4));
    const len = claimedLength ?? payload.byteLength;
    const maskBit = mask ? 0x80 : 0;
    const header: number[] = [(fin ? 0x80 : 0) | rsv | opcode];
    if (len < 126) header.push(maskBit | len);
    else if (len < 65536) header.push(maskBit | 126, len >> 8, len & 0xff);
    else {
      const high = Math.floor(len / 2 ** 32);
      header.push(maskBit | 127, (high >>> 24) & 0xff, (high >>> 16) & 0xff, (high >>> 8) & 0xff);
      header.push(high & 0xff);
      header.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
    }
    const keyLength = mask ? 4 : 0;
    const frame = new Uint8Array(header.length + keyLength + payload.byteLength);
    frame.set(header, 0);
    if (mask) frame.set(key, header.length);
    const at = header.length + keyLength;
    for (let i = 0; i < payload.byteLength; i++) {
      frame[at + i] = mask ? payload[i] ^ key[i & 3] : payload[i];
    }
    await writeAll(this.conn, frame);
  }

  /** Reads frames until a close frame (returned) or the end of TCP (`null`), skipping others. */
  async readClose(): Promise<{ code: number; reason: string } | null> {
    while (true) {
      const frame = await this.readFrame();
      if (frame === null) return null;
      if (frame.opcode === 8) return closePayload(frame.payload);
    }
  }

  /** Reads one frame, or `null` when the server closed TCP. */
  async readFrame(): Promise<RawFrame | null> {
    while (true) {
      const frame = parseFrame(this.#buffer);
      if (frame) {
        this.#buffer = this.#buffer.slice(frame.size);
        return frame.frame;
      }
      const chunk = new Uint8Array(65536);
      const n = await this.conn.read(chunk).catch(() => null);
      if (n === null) return null;
      this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
    }
  }

  /** Closes TCP without a close frame. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function parseFrame(buf: Uint8Array): { frame: RawFrame; size: number } | null {
  if (buf.byteLength < 2) return null;
  let len = buf[1] & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.byteLength < 4) return null;
    len = (buf[2] << 8) | buf[3];
    offset = 4;
  } else if (len === 127) {
    if (buf.byteLength < 10) return null;
    len = new DataView(buf.buffer, buf.byteOffset).getUint32(6);
    offset = 10;
  }
  const masked = (buf[1] & 0x80) !== 0;
  if (masked) offset += 4;
  if (buf.byteLength < offset + len) return null;
  const payload = buf.slice(offset, offset + len);
  if (masked) {
    const mask = buf.subarray(offset - 4, offset);
    for (let i = 0; i < len; i++) payload[i] ^= mask[i & 3];
  }
  return {
    frame: { fin: (buf[0] & 0x80) !== 0, opcode: buf[0] & 0x0f, payload },
    size: offset + len,
  };
}

function indexOfHeadEnd(buf: Uint8Array): number {
  for (let i = 0; i + 3 < buf.byteLength; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.byteLength) written += await conn.write(data.subarray(written));
}

/** The close code and reason carried by a close frame's payload. */
export function closePayload(payload: Uint8Array): { code: number; reason: string } {
  if (payload.byteLength < 2) return { code: 1005, reason: "" };
  return { code: (payload[0] << 8) | payload[1], reason: decoder.decode(payload.subarray(2)) };
}

/** Opcodes. */
export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;
