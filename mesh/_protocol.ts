/**
 * The mesh wire protocol: every constant, frame kind and layout lives here.
 *
 * Each frame travels as one length-framed `framed/` message:
 *
 * ```
 * frame   = kind:u8 body [mac:16]            mac only after an authenticated handshake
 * HELLO   = 0x01 json{v,id,name,host,port,nonce,auth,to?}
 * ACK     = 0x02 proof:32 json{id,name,host,port,nonce}
 * PROOF   = 0x03 proof:32
 * READY   = 0x04
 * REJECT  = 0x05 json{code,message}
 * MSG     = 0x10 enc:u8 typeLen:u16 type body
 * REQUEST = 0x11 enc:u8 id:u32 typeLen:u16 type body
 * REPLY   = 0x12 enc:u8 id:u32 status:u8 body
 * PING    = 0x14 time:f64         PONG = 0x15 time:f64 (echoed)
 * MEMBERS = 0x16 json[[id,name,host,port,beat,state]]   state: 0 live+dialled, 1 left, 2 live, 3 heard of
 * STATE   = 0x17 json{full,entries:[[key,clock,node,deleted,value]]}
 * LEAVE   = 0x18
 * CLOSE   = 0x19 json{code,message}   why the sender is closing this link
 * FRAGMENT= 0x1e last:u8 piece        a frame over FRAGMENT_SIZE travels in pieces
 * BATCH   = 0x1f (len:u32 frame)*    several frames written at once; one mac
 * ```
 *
 * The mac is HMAC-SHA256 (truncated to 16 bytes) over `seq:u64 frame` with a
 * key per direction derived from the shared secret and the handshake
 * transcript, so a frame cannot be forged, replayed or reordered.
 *
 * @module
 */

import { checkJson, checkString } from "./_content.ts";
import { type MeshErrorCode, MeshRangeError, MeshSyntaxError, MeshTypeError } from "./errors.ts";
import type { MeshStateEntry } from "./state.ts";

/** The `ERR_MESSAGE_TOO_LARGE` error for `size` bytes over `limit`. */
export function messageTooLarge(size: number, limit: number): MeshRangeError {
  return new MeshRangeError(
    "ERR_MESSAGE_TOO_LARGE",
    `Message of ${size} bytes exceeds maxMessageSize of ${limit} bytes`,
    { size, limit },
  );
}

/** Protocol version carried in HELLO; a mismatch is refused. */
export const PROTOCOL_VERSION = 2;

export const KIND_HELLO = 0x01;
export const KIND_ACK = 0x02;
export const KIND_PROOF = 0x03;
export const KIND_READY = 0x04;
export const KIND_REJECT = 0x05;
export const KIND_MSG = 0x10;
export const KIND_REQUEST = 0x11;
export const KIND_REPLY = 0x12;
export const KIND_PING = 0x14;
export const KIND_PONG = 0x15;
export const KIND_MEMBERS = 0x16;
export const KIND_STATE = 0x17;
export const KIND_LEAVE = 0x18;
export const KIND_CLOSE = 0x19;
export const KIND_FRAGMENT = 0x1e;
export const KIND_BATCH = 0x1f;

/** Content encodings of MSG / REQUEST / REPLY bodies. */
export const ENC_JSON = 0;
export const ENC_BYTES = 1;
export const ENC_UNDEFINED = 2;

/** REPLY status byte. */
export const REPLY_OK = 0;
export const REPLY_NO_HANDLER = 1;
export const REPLY_ERROR = 2;
/** The peer is answering `maxRequestsInFlight` requests of ours already. */
export const REPLY_BUSY = 3;

/** Bytes of a handshake proof (HMAC-SHA256). */
export const PROOF_SIZE = 32;
/** Bytes of the per-frame authentication tag (truncated HMAC-SHA256). */
export const MAC_SIZE = 16;
/** Bytes of a nonce in HELLO / ACK. */
export const NONCE_SIZE = 32;
/** Longest message type name, in UTF-8 bytes. */
export const MAX_TYPE_LENGTH = 0xffff;
/** Largest control JSON body (MEMBERS, STATE pieces) accepted, in bytes. */
export const MAX_CONTROL_SIZE = 1 << 20;
/** Largest handshake frame (HELLO, ACK, REJECT) accepted, in bytes. */
export const MAX_HANDSHAKE_SIZE = 8 * 1024;
/** Longest host name in a HELLO, ACK or member entry. */
export const MAX_HOST_LENGTH = 255;
/**
 * Frames above this many bytes travel in FRAGMENT pieces of at most this
 * size, so the transport's frame limit ({@linkcode WIRE_FRAME_LIMIT}) stays
 * small in every phase: a peer cannot make a member buffer more than that
 * before the handshake has authenticated it.
 */
export const FRAGMENT_SIZE = 64 * 1024;
/** The `framed/` `maxMessageSize` of every mesh connection: one piece, its header and mac. */
export const WIRE_FRAME_LIMIT = FRAGMENT_SIZE + 64;
/** Frames are batched up to this many bytes per write. */
export const BATCH_BYTES = 64 * 1024;
/** Frames larger than this are written alone, never copied into a batch. */
export const BATCH_FRAME_LIMIT = 16 * 1024;
/** Headroom over `maxMessageSize` for kind, type name, request id and mac. */
export const FRAME_OVERHEAD = MAX_TYPE_LENGTH + 64;

/**
 * Member entry states on the wire: connected to the sender, which dialled
 * its address (the sender vouches for it); left; connected to the sender,
 * which did not dial it (address not vouched for); heard of from a member
 * that vouched for it (passed on once, never further).
 */
export const MEMBER_LIVE = 0;
/** See {@linkcode MEMBER_LIVE}. */
export const MEMBER_LEFT = 1;
/** See {@linkcode MEMBER_LIVE}. */
export const MEMBER_LINKED = 2;
/** See {@linkcode MEMBER_LIVE}. */
export const MEMBER_HEARD = 3;
/** One of the member entry states above. */
export type MemberState = 0 | 1 | 2 | 3;

/** A member entry as gossiped in MEMBERS frames. */
export interface WireMember {
  id: string;
  name: string;
  /** Host to dial it at ("" when the sender does not know it). */
  host: string;
  port: number;
  /** Its heartbeat counter. */
  beat: number;
  state: MemberState;
}

/** How a {@linkcode WireMember} travels: `[id, name, host, port, beat, state]`. */
export type WireMemberTuple = [string, string, string, number, number, MemberState];

/** Member entries per MEMBERS frame (each at most ~2 KiB: far under the control limit). */
export const MEMBERS_PER_FRAME = 256;

/** State entry as replicated: key, clock, node id, deleted flag, value. */
export type WireStateEntry = MeshStateEntry;

export interface Hello {
  v: number;
  id: string;
  name: string;
  host: string;
  port: number;
  nonce: string;
  auth: boolean;
  to?: string;
}

export interface Ack {
  id: string;
  name: string;
  host: string;
  port: number;
  nonce: string;
}

/** Why a handshake is refused (REJECT frames): the mesh codes that may travel in one. */
export type RejectCode = Extract<
  MeshErrorCode,
  | "ERR_INVALID_FRAME"
  | "ERR_PROTOCOL_VERSION"
  | "ERR_BAD_SECRET"
  | "ERR_MESH_CLOSED"
  | "ERR_SELF"
  | "ERR_WRONG_PEER"
  | "ERR_NAME_TAKEN"
  | "ERR_DUPLICATE"
  | "ERR_DUPLICATE_NAME"
  | "ERR_MESH_FULL"
  | "ERR_HANDSHAKE_LIMIT"
>;

/** A REJECT frame's body (the code is the peer's word: any string may come). */
export interface Reject {
  code: RejectCode | (string & Record<never, never>);
  message: string;
  /** The refusing member's id (`ERR_WRONG_PEER`). */
  id?: string;
}

const JOIN_ENDING_CODES = ["ERR_NAME_TAKEN", "ERR_BAD_SECRET", "ERR_PROTOCOL_VERSION"] as const;

/** Refusals that end a join: retrying cannot help. */
export type JoinEndingCode = typeof JOIN_ENDING_CODES[number] & RejectCode;

const JOIN_ENDING: ReadonlySet<string> = new Set<JoinEndingCode>(JOIN_ENDING_CODES);

/** Whether a refusal with `code` ends a join (name taken, wrong secret, wrong version). */
export function endsJoin(code: string): code is JoinEndingCode {
  return JOIN_ENDING.has(code);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Strings up to this length take the ASCII fast paths below. */
const SHORT_TEXT = 2048;

/** UTF-8 bytes of a string; short ASCII strings skip the (costlier) TextEncoder call. */
export function utf8(text: string): Uint8Array {
  if (text.length > SHORT_TEXT) return encoder.encode(text);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return encoder.encode(text);
    out[i] = code;
  }
  return out;
}

/** Text of UTF-8 bytes (throws on invalid UTF-8); short ASCII runs skip TextDecoder. */
export function text(bytes: Uint8Array): string {
  if (bytes.length > SHORT_TEXT) return decoder.decode(bytes);
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 0x7f) return decoder.decode(bytes);
  }
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/** Encodes a frame made of its kind byte and a JSON body. */
export function encodeJsonFrame(kind: number, value: unknown, prefix?: Uint8Array): Uint8Array {
  const json = utf8(JSON.stringify(value));
  const extra = prefix?.length ?? 0;
  const frame = new Uint8Array(1 + extra + json.length);
  frame[0] = kind;
  if (prefix) frame.set(prefix, 1);
  frame.set(json, 1 + extra);
  return frame;
}

/** Decodes the JSON body of a frame starting at `offset` (at most `limit` bytes). */
export function decodeJsonBody(frame: Uint8Array, offset = 1, limit = MAX_CONTROL_SIZE): unknown {
  if (frame.length - offset > limit) {
    throw new MeshSyntaxError("ERR_INVALID_FRAME", "Control frame is too large");
  }
  try {
    return JSON.parse(text(frame.subarray(offset)));
  } catch {
    throw new MeshSyntaxError("ERR_INVALID_FRAME", "Control frame is not valid JSON");
  }
}

/** The encoded body of a user content value. */
export interface EncodedContent {
  enc: number;
  body: Uint8Array;
}

/**
 * Encodes user content: bytes pass through, `undefined` (content left out)
 * is empty, the rest must be JSON that round-trips
 * ({@linkcode MeshTypeError} `ERR_INVALID_CONTENT` otherwise).
 */
export function encodeContent(content: unknown): EncodedContent {
  if (content instanceof Uint8Array) return { enc: ENC_BYTES, body: content };
  if (content === undefined) return { enc: ENC_UNDEFINED, body: new Uint8Array(0) };
  checkJson(content, "Content");
  return { enc: ENC_JSON, body: utf8(JSON.stringify(content)) };
}

/** Decodes user content written by {@linkcode encodeContent}. */
export function decodeContent(enc: number, body: Uint8Array): unknown {
  switch (enc) {
    case ENC_BYTES:
      // Large bodies arrive in a buffer of their own: hand it over without a copy.
      return body.length > BATCH_FRAME_LIMIT ? body : body.slice();
    case ENC_UNDEFINED:
      return undefined;
    case ENC_JSON:
      try {
        return JSON.parse(text(body));
      } catch {
        throw new MeshSyntaxError("ERR_INVALID_FRAME", "Message content is not valid JSON");
      }
    default:
      throw new MeshSyntaxError("ERR_INVALID_FRAME", `Unknown content encoding "${enc}"`);
  }
}

const typeCache = new Map<string, Uint8Array>();

/** UTF-8 bytes of a message type, checked against {@linkcode MAX_TYPE_LENGTH}. */
export function encodeType(type: string): Uint8Array {
  let bytes = typeCache.get(type);
  if (bytes) return bytes;
  bytes = utf8(type);
  if (bytes.length > MAX_TYPE_LENGTH) {
    throw new MeshTypeError(
      "ERR_INVALID_ARGUMENT",
      `Message type of ${bytes.length} bytes exceeds ${MAX_TYPE_LENGTH} bytes`,
    );
  }
  if (typeCache.size >= 1024) typeCache.clear();
  if (bytes.length <= 256) typeCache.set(type, bytes);
  return bytes;
}

/**
 * Checks and encodes the type and content of an application message
 * (`explicit`: the content argument was given, so `undefined` is refused).
 *
 * @throws {MeshTypeError} on a bad type or content
 * @throws {MeshRangeError} `ERR_MESSAGE_TOO_LARGE` above `maxMessageSize`
 */
export function encodeUserMessage(
  type: string,
  content: unknown,
  explicit: boolean,
  maxMessageSize: number,
): { type: Uint8Array; encoded: EncodedContent } {
  checkString(type, "Message type");
  if (explicit && content === undefined) {
    throw new MeshTypeError(
      "ERR_INVALID_CONTENT",
      "Content is undefined (leave the argument out to send no content)",
    );
  }
  const typeBytes = encodeType(type);
  const encoded = encodeContent(content);
  const size = typeBytes.length + encoded.body.length;
  if (size > maxMessageSize) throw messageTooLarge(size, maxMessageSize);
  return { type: typeBytes, encoded };
}

/** MSG or REQUEST frame (REQUEST when `requestId` is given). */
export function encodeMessage(
  type: Uint8Array,
  content: EncodedContent,
  requestId?: number,
): Uint8Array {
  const head = requestId === undefined ? 4 : 8;
  const frame = new Uint8Array(head + type.length + content.body.length);
  frame[0] = requestId === undefined ? KIND_MSG : KIND_REQUEST;
  frame[1] = content.enc;
  let offset = 2;
  if (requestId !== undefined) {
    frame[2] = requestId >>> 24;
    frame[3] = requestId >>> 16;
    frame[4] = requestId >>> 8;
    frame[5] = requestId;
    offset = 6;
  }
  frame[offset] = type.length >>> 8;
  frame[offset + 1] = type.length;
  frame.set(type, offset + 2);
  frame.set(content.body, offset + 2 + type.length);
  return frame;
}

/** A decoded MSG or REQUEST frame. */
export interface DecodedMessage {
  type: string;
  enc: number;
  body: Uint8Array;
  requestId?: number;
}

/** Decodes a MSG or REQUEST frame. */
export function decodeMessage(frame: Uint8Array): DecodedMessage {
  const isRequest = frame[0] === KIND_REQUEST;
  let offset = isRequest ? 6 : 2;
  if (frame.length < offset + 2) throw truncated();
  const requestId = isRequest
    ? ((frame[2] << 24) | (frame[3] << 16) | (frame[4] << 8) | frame[5]) >>> 0
    : undefined;
  const typeLength = (frame[offset] << 8) | frame[offset + 1];
  offset += 2;
  if (frame.length < offset + typeLength) throw truncated();
  let type: string;
  try {
    type = text(frame.subarray(offset, offset + typeLength));
  } catch {
    throw new MeshSyntaxError("ERR_INVALID_FRAME", "Message type is not valid UTF-8");
  }
  return { type, enc: frame[1], body: frame.subarray(offset + typeLength), requestId };
}

/** REPLY frame. */
export function encodeReply(
  requestId: number,
  status: number,
  content: EncodedContent,
): Uint8Array {
  const frame = new Uint8Array(7 + content.body.length);
  frame[0] = KIND_REPLY;
  frame[1] = content.enc;
  new DataView(frame.buffer).setUint32(2, requestId);
  frame[6] = status;
  frame.set(content.body, 7);
  return frame;
}

/** A decoded REPLY frame. */
export interface DecodedReply {
  requestId: number;
  status: number;
  enc: number;
  body: Uint8Array;
}

/** Decodes a REPLY frame. */
export function decodeReply(frame: Uint8Array): DecodedReply {
  if (frame.length < 7) throw truncated();
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  return { requestId: view.getUint32(2), status: frame[6], enc: frame[1], body: frame.subarray(7) };
}

/** PING or PONG frame carrying a timestamp. */
export function encodeTime(kind: number, time: number): Uint8Array {
  const frame = new Uint8Array(9);
  frame[0] = kind;
  new DataView(frame.buffer).setFloat64(1, time);
  return frame;
}

/** Timestamp of a PING or PONG frame. */
export function decodeTime(frame: Uint8Array): number {
  if (frame.length !== 9) throw truncated();
  return new DataView(frame.buffer, frame.byteOffset, 9).getFloat64(1);
}

/** Packs several frames into one BATCH frame. */
export function encodeBatch(frames: readonly Uint8Array[], size: number): Uint8Array {
  const batch = new Uint8Array(1 + 4 * frames.length + size);
  const view = new DataView(batch.buffer);
  batch[0] = KIND_BATCH;
  let offset = 1;
  for (const frame of frames) {
    view.setUint32(offset, frame.length);
    batch.set(frame, offset + 4);
    offset += 4 + frame.length;
  }
  return batch;
}

/** Calls `each` with every frame of a BATCH frame (views, no copy), in order. */
export function forEachFrame(batch: Uint8Array, each: (frame: Uint8Array) => void): void {
  let offset = 1;
  while (offset < batch.length) {
    if (offset + 4 > batch.length) throw truncated();
    const length = ((batch[offset] << 24) | (batch[offset + 1] << 16) | (batch[offset + 2] << 8) |
      batch[offset + 3]) >>> 0;
    offset += 4;
    if (length === 0 || offset + length > batch.length) throw truncated();
    if (batch[offset] === KIND_BATCH) {
      throw new MeshSyntaxError("ERR_INVALID_FRAME", "Nested batch frame");
    }
    each(batch.subarray(offset, offset + length));
    offset += length;
  }
}

function truncated(): MeshSyntaxError {
  return new MeshSyntaxError("ERR_INVALID_FRAME", "Frame is truncated");
}

/** Checks that a gossiped member entry has the right shape. */
export function isWireMemberTuple(value: unknown): value is WireMemberTuple {
  return Array.isArray(value) && value.length === 6 && typeof value[0] === "string" &&
    value[0].length > 0 && value[0].length <= 64 && typeof value[1] === "string" &&
    value[1].length <= 256 && typeof value[2] === "string" &&
    value[2].length <= MAX_HOST_LENGTH && Number.isInteger(value[3]) && value[3] >= 0 &&
    value[3] <= 65535 && Number.isSafeInteger(value[4]) &&
    (value[5] === 0 || value[5] === 1 || value[5] === 2 || value[5] === 3);
}

/** A MEMBERS frame of at most {@linkcode MEMBERS_PER_FRAME} entries. */
export function encodeMembersFrame(members: readonly WireMember[]): Uint8Array {
  return encodeJsonFrame(
    KIND_MEMBERS,
    members.map((m): WireMemberTuple => [m.id, m.name, m.host, m.port, m.beat, m.state]),
  );
}

/** The entries of a MEMBERS frame; `ERR_INVALID_FRAME` when any is malformed. */
export function decodeMembersFrame(frame: Uint8Array): WireMember[] {
  const body = decodeJsonBody(frame, 1, MAX_CONTROL_SIZE);
  if (!Array.isArray(body) || body.length > MEMBERS_PER_FRAME) {
    throw new MeshSyntaxError("ERR_INVALID_FRAME", "Malformed MEMBERS frame");
  }
  return body.map((entry) => {
    if (!isWireMemberTuple(entry)) {
      throw new MeshSyntaxError("ERR_INVALID_FRAME", "Malformed member");
    }
    const [id, name, host, port, beat, state] = entry;
    return { id, name, host, port, beat, state };
  });
}

/** Checks the fields HELLO and ACK share: who the sender is and where it listens. */
function isPeerInfo(value: unknown): value is Ack {
  const info = value as Partial<Ack> | null;
  return typeof info === "object" && info !== null && typeof info.id === "string" &&
    info.id.length > 0 && info.id.length <= 64 && typeof info.name === "string" &&
    info.name.length > 0 && info.name.length <= 256 && typeof info.host === "string" &&
    info.host.length <= MAX_HOST_LENGTH && Number.isInteger(info.port) && info.port! >= 0 &&
    info.port! <= 65535;
}

/** Checks a decoded HELLO body (its version is checked apart: it has its own refusal). */
export function isHello(value: unknown): value is Hello {
  return isPeerInfo(value) && typeof (value as Partial<Hello>).nonce === "string";
}

/** Checks a decoded ACK body. */
export function isAck(value: unknown): value is Ack {
  return isPeerInfo(value);
}

/** HELLO frame: the dialer's introduction. */
export function encodeHelloFrame(hello: Hello): Uint8Array {
  return encodeJsonFrame(KIND_HELLO, hello);
}

/** ACK frame: the acceptor's proof, then its JSON (kept as bytes: it is part of the transcript). */
export function encodeAckFrame(proof: Uint8Array, ackJson: Uint8Array): Uint8Array {
  const frame = new Uint8Array(1 + PROOF_SIZE + ackJson.length);
  frame[0] = KIND_ACK;
  frame.set(proof, 1);
  frame.set(ackJson, 1 + PROOF_SIZE);
  return frame;
}

/** PROOF frame: the dialer's proof. */
export function encodeProofFrame(proof: Uint8Array): Uint8Array {
  const frame = new Uint8Array(1 + PROOF_SIZE);
  frame[0] = KIND_PROOF;
  frame.set(proof, 1);
  return frame;
}

/** A frame of its kind byte alone (READY, LEAVE). */
export function encodeSignal(kind: number): Uint8Array {
  return new Uint8Array([kind]);
}

/** REJECT frame. */
export function encodeReject(code: RejectCode, message: string, extra: object = {}): Uint8Array {
  return encodeJsonFrame(KIND_REJECT, { code, message, ...extra });
}

/** CLOSE frame: why this side ends an established link (read back with {@linkcode decodeReject}). */
export function encodeClose(code: string, message: string): Uint8Array {
  return encodeJsonFrame(KIND_CLOSE, { code, message });
}

/** Body of a REJECT (or CLOSE) frame. */
export function decodeReject(frame: Uint8Array): Reject {
  return decodeJsonBody(frame, 1, MAX_HANDSHAKE_SIZE) as Reject;
}

/** Checks that a replicated state entry has the right shape. */
export function isWireStateEntry(value: unknown): value is WireStateEntry {
  return Array.isArray(value) && value.length === 5 && typeof value[0] === "string" &&
    Number.isSafeInteger(value[1]) && value[1] >= 0 && typeof value[2] === "string" &&
    value[2].length > 0 && value[2].length <= 64 && (value[3] === 0 || value[3] === 1);
}
