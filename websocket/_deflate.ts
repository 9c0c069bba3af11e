/**
 * permessage-deflate (RFC 7692): offer/answer negotiation and the per-message
 * codec.
 *
 * The codec runs on `node:zlib` raw deflate streams rather than the web
 * `CompressionStream("deflate-raw")`: context takeover needs one persistent
 * stream per direction that is flushed with `Z_SYNC_FLUSH` at the end of
 * every message, and the web API has no flush. `node:zlib` also produces
 * output in bounded chunks, which lets the inflater stop as soon as a message
 * grows past `maxMessageSize` (a 1 KiB deflate bomb cannot expand to
 * gigabytes first). This is the same scheme npm `ws` uses, so both sides
 * agree on every byte.
 *
 * @module
 */

import zlib from "node:zlib";
import { WebSocketRangeError, WebSocketSyntaxError } from "./errors.ts";
import { serverBusy } from "./_budget.ts";
import { CLOSE_INVALID_PAYLOAD, CLOSE_MESSAGE_TOO_BIG } from "./_frame.ts";
import type { PerMessageDeflateOptions } from "./options.ts";

/** The extension token. */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

/**
 * Output chunk of the inflater: the limits are checked after each one. 128 KiB
 * rather than zlib's 16 KiB: under a deflate-bomb flood, large chunks come
 * from (and go back to) the system allocator, where 16 KiB ones fragment the
 * heap (measured peak RSS, 200 × 3 bombs: 16 KiB 353–481 MiB, 128 KiB
 * 331–412 MiB).
 */
const INFLATE_STEP = 128 * 1024;

/** The 4 bytes a sync flush ends with; stripped on send, re-added on receive (RFC 7692 §7.2). */
const TRAILER = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

/** What a user may ask of permessage-deflate: the public option type, under the engine's name. */
export type DeflateOptions = PerMessageDeflateOptions;

/**
 * The outcome of a successful negotiation: what both ends agreed to.
 *
 * @example
 * ```ts
 * import type { DeflateParams } from "./_deflate.ts";
 * const params: DeflateParams = {
 *   serverNoContextTakeover: false, clientNoContextTakeover: false,
 *   serverMaxWindowBits: 15, clientMaxWindowBits: 15, threshold: 1024, level: -1,
 * };
 * ```
 */
export interface DeflateParams {
  /** The server resets its compressor after each message. */
  serverNoContextTakeover: boolean;
  /** The client resets its compressor after each message. */
  clientNoContextTakeover: boolean;
  /** Window bits the server compresses with. */
  serverMaxWindowBits: number;
  /** Window bits the client compresses with. */
  clientMaxWindowBits: number;
  /** Local: messages below this size are sent uncompressed. */
  threshold: number;
  /** Local: zlib compression level. */
  level: number;
}

/** Extension parameters by lower-cased name: a value, or `true` for a bare flag. */
export type ParamMap = Map<string, string | true>;

/** Splits a `Sec-WebSocket-Extensions` value into `[name, params][]`; throws on bad syntax. */
export function parseExtensions(header: string): [string, ParamMap][] {
  const out: [string, ParamMap][] = [];
  for (const element of splitOutsideQuotes(header, ",")) {
    if (element.trim() === "") continue;
    const parts = splitOutsideQuotes(element, ";").map((p) => p.trim());
    const name = parts[0].toLowerCase();
    if (!TOKEN.test(name)) throw new SyntaxError(`Invalid extension name "${parts[0]}"`);
    const params: ParamMap = new Map();
    for (const part of parts.slice(1)) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      if (!TOKEN.test(key)) throw new SyntaxError(`Invalid extension parameter "${part}"`);
      if (params.has(key)) throw new SyntaxError(`Duplicate extension parameter "${key}"`);
      if (eq < 0) {
        params.set(key, true);
      } else {
        let value = part.slice(eq + 1).trim();
        if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
          value = value.slice(1, -1);
        }
        if (!TOKEN.test(value)) {
          throw new SyntaxError(`Invalid extension parameter value "${part}"`);
        }
        params.set(key, value);
      }
    }
    out.push([name, params]);
  }
  return out;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function splitOutsideQuotes(text: string, separator: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      out.push(text.slice(from, i));
      from = i + 1;
    }
  }
  out.push(text.slice(from));
  return out;
}

function windowBits(value: string | true | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  if (value === true) return null;
  if (!/^\d{1,2}$/.test(value)) return NaN;
  return Number(value);
}

function resolveOptions(options: DeflateOptions | true): Required<DeflateOptions> {
  const {
    threshold = 1024,
    level = zlib.constants.Z_DEFAULT_COMPRESSION,
    serverNoContextTakeover = false,
    clientNoContextTakeover = false,
    serverMaxWindowBits = 15,
    clientMaxWindowBits = 15,
  } = options === true ? {} : options;
  for (const bits of [serverMaxWindowBits, clientMaxWindowBits]) {
    if (!Number.isInteger(bits) || bits < 9 || bits > 15) {
      throw new RangeError(`Invalid max window bits "${bits}": expected 9 to 15`);
    }
  }
  return {
    threshold,
    level,
    serverNoContextTakeover,
    clientNoContextTakeover,
    serverMaxWindowBits,
    clientMaxWindowBits,
  };
}

/**
 * Server side: picks the first permessage-deflate offer in the client's
 * `Sec-WebSocket-Extensions` header that can be honoured. Returns the agreed
 * params and the response header value (`extensions`; `response` is the same
 * string, kept for older callers), or `null` (no offer, `options` false, or
 * no offer we can honour: offers are declined, never failed).
 */
export function negotiateDeflate(
  offerHeader: string | null,
  options: DeflateOptions | boolean = true,
): { params: DeflateParams; extensions: string; response: string } | null {
  if (!offerHeader || options === false) return null;
  const opts = resolveOptions(options);
  let offers: [string, ParamMap][];
  try {
    offers = parseExtensions(offerHeader);
  } catch {
    return null;
  }
  offer: for (const [name, params] of offers) {
    if (name !== PERMESSAGE_DEFLATE) continue;
    for (const key of params.keys()) {
      if (
        key !== "server_no_context_takeover" && key !== "client_no_context_takeover" &&
        key !== "server_max_window_bits" && key !== "client_max_window_bits"
      ) continue offer;
    }
    if (
      params.has("server_no_context_takeover") && params.get("server_no_context_takeover") !== true
    ) {
      continue;
    }
    if (
      params.has("client_no_context_takeover") && params.get("client_no_context_takeover") !== true
    ) {
      continue;
    }
    const serverBits = windowBits(params.get("server_max_window_bits"));
    const clientBits = windowBits(params.get("client_max_window_bits"));
    // server_max_window_bits needs a value; 8 cannot be honoured by zlib raw
    // deflate (it silently uses 9), so such offers are declined.
    if (serverBits === null || Number.isNaN(serverBits)) continue;
    if (serverBits !== undefined && (serverBits < 9 || serverBits > 15)) continue;
    if (
      clientBits !== undefined && clientBits !== null &&
      (Number.isNaN(clientBits) || clientBits < 8 || clientBits > 15)
    ) {
      continue;
    }
    const serverNoContextTakeover = opts.serverNoContextTakeover ||
      params.has("server_no_context_takeover");
    const clientNoContextTakeover = opts.clientNoContextTakeover ||
      params.has("client_no_context_takeover");
    const serverMaxWindowBits = Math.min(serverBits ?? 15, opts.serverMaxWindowBits);
    let clientMaxWindowBits = 15;
    let clientBitsParam = false;
    if (clientBits !== undefined) {
      // The client supports the parameter; a number caps what we may ask.
      clientMaxWindowBits = Math.min(clientBits ?? 15, opts.clientMaxWindowBits);
      clientBitsParam = clientMaxWindowBits < 15 || clientBits !== null;
    }
    const parts = [PERMESSAGE_DEFLATE];
    if (serverNoContextTakeover) parts.push("server_no_context_takeover");
    if (clientNoContextTakeover) parts.push("client_no_context_takeover");
    if (serverMaxWindowBits < 15 || serverBits !== undefined) {
      parts.push(`server_max_window_bits=${serverMaxWindowBits}`);
    }
    if (clientBitsParam) parts.push(`client_max_window_bits=${clientMaxWindowBits}`);
    return {
      params: {
        serverNoContextTakeover,
        clientNoContextTakeover,
        serverMaxWindowBits,
        clientMaxWindowBits,
        threshold: opts.threshold,
        level: opts.level,
      },
      extensions: parts.join("; "),
      response: parts.join("; "),
    };
  }
  return null;
}

/** Client side: the `Sec-WebSocket-Extensions` offer for `options`. */
export function deflateOffer(options: DeflateOptions | true = true): string {
  const opts = resolveOptions(options);
  const parts = [PERMESSAGE_DEFLATE];
  if (opts.serverNoContextTakeover) parts.push("server_no_context_takeover");
  if (opts.clientNoContextTakeover) parts.push("client_no_context_takeover");
  if (opts.serverMaxWindowBits < 15) {
    parts.push(`server_max_window_bits=${opts.serverMaxWindowBits}`);
  }
  parts.push(
    opts.clientMaxWindowBits < 15
      ? `client_max_window_bits=${opts.clientMaxWindowBits}`
      : "client_max_window_bits",
  );
  return parts.join("; ");
}

/**
 * Client side: validates the server's `Sec-WebSocket-Extensions` answer
 * against our offer. Returns `null` when the server declined; throws a
 * {@linkcode WebSocketSyntaxError} `ERR_HANDSHAKE_FAILED` for anything we did
 * not offer or cannot honour.
 */
export function acceptDeflateResponse(
  header: string | null,
  options: DeflateOptions | true | false | undefined,
): DeflateParams | null {
  if (!header || header.trim() === "") return null;
  const fail = (message: string): never => {
    throw new WebSocketSyntaxError("ERR_HANDSHAKE_FAILED", message, { status: 400 });
  };
  let extensions: [string, ParamMap][] = [];
  try {
    extensions = parseExtensions(header);
  } catch (err) {
    fail(`Invalid Sec-WebSocket-Extensions "${header}": ${(err as Error).message}`);
  }
  if (!options) fail(`Server accepted extensions "${header}" that were not offered`);
  const opts = resolveOptions(options as DeflateOptions | true);
  if (extensions.length !== 1 || extensions[0][0] !== PERMESSAGE_DEFLATE) {
    fail(`Server accepted extensions "${header}" that were not offered`);
  }
  const params = extensions[0][1];
  /** A window size the server answered: 8 to what we offered. */
  const answeredBits = (key: string, value: string | true | undefined, max: number): number => {
    const bits = windowBits(value);
    if (typeof bits !== "number" || Number.isNaN(bits) || bits < 8 || bits > max) {
      fail(`Invalid ${key} "${value}" in the server's answer`);
    }
    return bits as number;
  };
  let serverNoContextTakeover = false;
  let clientNoContextTakeover = opts.clientNoContextTakeover;
  let serverMaxWindowBits = 15;
  let clientMaxWindowBits = opts.clientMaxWindowBits;
  for (const [key, value] of params) {
    if (key === "server_no_context_takeover" && value === true) {
      serverNoContextTakeover = true;
    } else if (key === "client_no_context_takeover" && value === true) {
      clientNoContextTakeover = true;
    } else if (key === "server_max_window_bits") {
      serverMaxWindowBits = answeredBits(key, value, opts.serverMaxWindowBits);
    } else if (key === "client_max_window_bits") {
      const bits = answeredBits(key, value, opts.clientMaxWindowBits);
      if (bits === 8) {
        fail(`Unsupported client_max_window_bits "8": zlib raw deflate needs 9 or more`);
      }
      clientMaxWindowBits = bits;
    } else {
      fail(`Unexpected permessage-deflate parameter "${key}" in the server's answer`);
    }
  }
  if (opts.serverNoContextTakeover && !serverNoContextTakeover) {
    fail("Server did not accept server_no_context_takeover");
  }
  return {
    serverNoContextTakeover,
    clientNoContextTakeover,
    serverMaxWindowBits,
    clientMaxWindowBits,
    threshold: opts.threshold,
    level: opts.level,
  };
}

/**
 * One direction-pair codec for a connection. Calls are serialized per
 * direction by the caller (the socket compresses messages in send order and
 * inflates in receive order).
 */
export class DeflateCodec {
  #params: DeflateParams;
  #role: "client" | "server";
  #deflater: zlib.DeflateRaw | null = null;
  #inflater: zlib.InflateRaw | null = null;
  #closed = false;

  /** Creates a codec for `role` with the negotiated `params`. */
  constructor(params: DeflateParams, role: "client" | "server") {
    this.#params = params;
    this.#role = role;
  }

  /** Messages below this size go out uncompressed. */
  get threshold(): number {
    return this.#params.threshold;
  }

  get #ownNoContextTakeover(): boolean {
    return this.#role === "server"
      ? this.#params.serverNoContextTakeover
      : this.#params.clientNoContextTakeover;
  }

  get #peerNoContextTakeover(): boolean {
    return this.#role === "server"
      ? this.#params.clientNoContextTakeover
      : this.#params.serverNoContextTakeover;
  }

  /** Compresses one whole message; the result has the sync-flush trailer stripped. */
  compress(data: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new TypeError("Codec is closed"));
    if (!this.#deflater) {
      this.#deflater = zlib.createDeflateRaw({
        level: this.#params.level,
        windowBits: this.#role === "server"
          ? this.#params.serverMaxWindowBits
          : this.#params.clientMaxWindowBits,
      });
      // zlib may emit 'error' after a call's own listener is gone (destroy
      // runs on a later tick than the flush callback): never let it be uncaught.
      this.#deflater.on("error", () => {});
    }
    const deflater = this.#deflater;
    const chunks: Uint8Array[] = [];
    let total = 0;
    const onData = (chunk: Uint8Array) => {
      chunks.push(chunk);
      total += chunk.length;
    };
    return new Promise<Uint8Array>((resolve, reject) => {
      const onError = (err: Error) => {
        deflater.removeListener("data", onData);
        reject(err);
      };
      deflater.on("data", onData);
      deflater.once("error", onError);
      deflater.write(data);
      deflater.flush(zlib.constants.Z_SYNC_FLUSH, (err?: Error | null) => {
        deflater.removeListener("data", onData);
        deflater.removeListener("error", onError);
        if (this.#closed) return reject(new TypeError("Codec is closed"));
        if (err || deflater.destroyed) {
          if (this.#deflater === deflater) this.#deflater = null;
          return reject(err ?? new Error("Compressor failed"));
        }
        let out = concat(chunks, total);
        if (endsWithTrailer(out)) out = out.subarray(0, out.length - 4);
        if (this.#ownNoContextTakeover) {
          deflater.close();
          this.#deflater = null;
        }
        resolve(out);
      });
    });
  }

  /**
   * Feeds one compressed fragment of a message to the inflater; `fin` marks
   * the last fragment. `limit` is how many decompressed bytes the message may
   * still grow by; crossing it rejects with a 1009
   * `WebSocketRangeError` and resets the inflater. `reserve`
   * is asked for every output chunk (at most 128 KiB each);
   * `false` stops inflating and rejects with a 1013 `ERR_SERVER_BUSY`.
   */
  decompress(
    data: Uint8Array,
    fin: boolean,
    limit: number,
    reserve?: (bytes: number) => boolean,
  ): Promise<Uint8Array[]> {
    if (this.#closed) return Promise.reject(new TypeError("Codec is closed"));
    if (!this.#inflater) {
      this.#inflater = zlib.createInflateRaw({ windowBits: 15, chunkSize: INFLATE_STEP });
      this.#inflater.on("error", () => {});
    }
    const inflater = this.#inflater;
    const chunks: Uint8Array[] = [];
    let total = 0;
    return new Promise<Uint8Array[]>((resolve, reject) => {
      let failed = false;
      const cleanup = () => {
        inflater.removeListener("data", onData);
        inflater.removeListener("error", onError);
      };
      const abandon = (err: Error) => {
        failed = true;
        cleanup();
        // A half-fed inflater is useless: drop it (a new message needs a new one anyway).
        inflater.close();
        if (this.#inflater === inflater) this.#inflater = null;
        reject(err);
      };
      const onData = (chunk: Uint8Array) => {
        if (failed) return;
        total += chunk.length;
        if (total > limit) {
          abandon(
            new WebSocketRangeError(
              "ERR_MESSAGE_TOO_LARGE",
              `Decompressed message exceeds the limit of ${limit} more bytes`,
              { closeCode: CLOSE_MESSAGE_TOO_BIG, size: total, limit },
            ),
          );
          return;
        }
        if (reserve !== undefined && !reserve(chunk.length)) {
          abandon(serverBusy());
          return;
        }
        chunks.push(chunk);
      };
      const onError = (err: Error) => {
        if (failed) return;
        abandon(
          new WebSocketSyntaxError(
            "ERR_INVALID_COMPRESSED_DATA",
            `Invalid compressed data: ${err.message}`,
            { closeCode: CLOSE_INVALID_PAYLOAD, cause: err },
          ),
        );
      };
      inflater.on("data", onData);
      inflater.on("error", onError);
      inflater.write(data);
      if (fin) inflater.write(TRAILER);
      inflater.flush((err?: Error | null) => {
        if (failed) return;
        if (err || inflater.destroyed) {
          // The stream broke on this input; its 'error' may only come later.
          onError(err ?? new Error("Decompressor failed"));
          return;
        }
        cleanup();
        if (this.#closed) return reject(new TypeError("Codec is closed"));
        if (fin && this.#peerNoContextTakeover) {
          inflater.close();
          this.#inflater = null;
        }
        resolve(chunks);
      });
    });
  }

  /** Releases both zlib streams. */
  close(): void {
    this.#closed = true;
    this.#deflater?.close();
    this.#inflater?.close();
    this.#deflater = null;
    this.#inflater = null;
  }
}

function endsWithTrailer(buf: Uint8Array): boolean {
  const n = buf.length;
  return n >= 4 && buf[n - 4] === 0 && buf[n - 3] === 0 && buf[n - 2] === 0xff &&
    buf[n - 1] === 0xff;
}

/** Concatenates chunks into one buffer (returns the single chunk as is). */
export function concat(chunks: Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const size = total ?? chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
