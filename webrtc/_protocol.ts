/**
 * The signalling wire protocol between master, slaves and clients (see PROTOCOL.md).
 *
 * Every constant and layout lives here, under one name. This file runs in browsers too: it uses
 * only `DataView`, `TextEncoder`/`TextDecoder` and JSON.
 *
 * @module
 */

import { protocolError, tooLarge } from "./_errors.ts";
import { WebRtcRangeError } from "./errors.ts";

/** Packet types: byte 0 of every binary WebSocket message. Types 0–12 are enslavism's. */
export const PacketType = {
  /** slave→master: `userData` JSON (rest of packet). */
  REGISTER: 0,
  /** master→client: repeated `u32 id ‖ u16 len ‖ userData JSON`. */
  ADD_SLAVES: 1,
  /** master→client: JSON array of slave ids. */
  REMOVE_SLAVES: 2,
  /** client→master: `u32 slaveId ‖ SDP offer`. */
  OFFER_TO_SLAVE: 3,
  /** master→slave: `u32 clientId ‖ SDP offer`. */
  OFFER_FROM_CLIENT: 4,
  /** slave→master: `u32 clientId ‖ SDP answer`. */
  ANSWER_TO_CLIENT: 5,
  /** master→client: `u32 slaveId ‖ SDP answer`. */
  ANSWER_FROM_SLAVE: 6,
  /** client→master: `u32 slaveId ‖ candidate`. */
  ICE_CANDIDATE_TO_SLAVE: 7,
  /** master→slave: `u32 clientId ‖ candidate`. */
  ICE_CANDIDATE_FROM_CLIENT: 8,
  /** slave→master: `u32 clientId ‖ candidate`. */
  ICE_CANDIDATE_TO_CLIENT: 9,
  /** master→client: `u32 slaveId ‖ candidate`. */
  ICE_CANDIDATE_FROM_SLAVE: 10,
  /** slave→master: `u32 clientId ‖ [reason UTF-8]`. */
  REJECT_TO_CLIENT: 11,
  /** master→client: `u32 slaveId ‖ [reason UTF-8]`. */
  REJECT_FROM_SLAVE: 12,
  // ---- netkit extensions ----
  /** slave→master: new `userData` JSON (rest of packet). */
  UPDATE_USER_DATA: 13,
  /** master→client: one `u32 id ‖ u16 len ‖ userData JSON` (replaces that slave's userData). */
  UPDATE_SLAVE: 14,
  /** master→slave: `u32 clientId ‖ identity JSON`, sent once before that client's first offer. */
  CLIENT_IDENTITY: 15,
  /** master→slave: `u32 clientId`; that client left the master. */
  CLIENT_LEFT: 16,
  /** client→master: `u32 slaveId ‖ u16 code ‖ reason UTF-8`. */
  CLOSE_TO_SLAVE: 17,
  /** master→slave: `u32 clientId ‖ u16 code ‖ reason UTF-8`. */
  CLOSE_FROM_CLIENT: 18,
  /** slave→master: `u32 clientId ‖ u16 code ‖ reason UTF-8`. */
  CLOSE_TO_CLIENT: 19,
  /** master→client: `u32 slaveId ‖ u16 code ‖ reason UTF-8`. */
  CLOSE_FROM_SLAVE: 20,
} as const;

/** A packet type number. */
export type PacketTypeNumber = typeof PacketType[keyof typeof PacketType];

/** The highest packet type this version knows. */
export const MAX_PACKET_TYPE = 20;

/** Packet types a client may send to the master. */
export const CLIENT_SENDABLE: ReadonlySet<number> = new Set([
  PacketType.OFFER_TO_SLAVE,
  PacketType.ICE_CANDIDATE_TO_SLAVE,
  PacketType.CLOSE_TO_SLAVE,
]);

/** Packet types a slave may send to the master. */
export const SLAVE_SENDABLE: ReadonlySet<number> = new Set([
  PacketType.REGISTER,
  PacketType.ANSWER_TO_CLIENT,
  PacketType.ICE_CANDIDATE_TO_CLIENT,
  PacketType.REJECT_TO_CLIENT,
  PacketType.UPDATE_USER_DATA,
  PacketType.CLOSE_TO_CLIENT,
]);

/** Bytes of the type field. */
export const TYPE_SIZE = 1;
/** Bytes of an id field. */
export const ID_SIZE = 4;
/** Bytes of the userData length field in a slave entry. */
export const USER_DATA_LENGTH_SIZE = 2;
/** Bytes of the sdpMid length field of a candidate. */
export const SDP_MID_LENGTH_SIZE = 1;
/** Bytes of the sdpMLineIndex field of a candidate. */
export const SDP_MLINE_INDEX_SIZE = 2;
/** Bytes of a close code. */
export const CLOSE_CODE_SIZE = 2;
/** Largest sdpMid the u8 length field can carry. */
export const MAX_SDP_MID_LENGTH = 0xff;
/** Largest userData the u16 length field can carry. */
export const MAX_USER_DATA_LENGTH = 0xffff;
/** sdpMLineIndex value that stands for `null`. */
export const NULL_SDP_MLINE_INDEX = 0xffff;
/**
 * Largest slave-list packet (type 1) the master sends: a longer list goes out as several packets,
 * each under Deno's and browsers' frame limits. One entry (at most 6 + 65535 bytes) always fits.
 */
export const MAX_LIST_PACKET_SIZE = 256 * 1024;
/** Largest id. */
export const MAX_ID = 0xffff_ffff;
/** Size of a null (end-of-candidates) candidate packet: type, id, sdpMid length 0. */
export const NULL_CANDIDATE_PACKET_SIZE = TYPE_SIZE + ID_SIZE + SDP_MID_LENGTH_SIZE;

/** Label of the internal channel every connection negotiates first (hidden from users). */
export const CONTROL_CHANNEL_LABEL = "netkit";
/** Sub-protocol of the internal control channel. */
export const CONTROL_CHANNEL_PROTOCOL = "netkit-control";

/** Control-channel message: `u16 code ‖ reason UTF-8`, sent just before a side closes. */
export function encodeControlClose(code: number, reason: string): Uint8Array {
  const text = encoder.encode(reason);
  if (text.length > MAX_CLOSE_REASON_LENGTH) {
    throw tooLarge(text.length, MAX_CLOSE_REASON_LENGTH, "Close reason");
  }
  const bytes = new Uint8Array(CLOSE_CODE_SIZE + text.length);
  new DataView(bytes.buffer).setUint16(0, code);
  bytes.set(text, CLOSE_CODE_SIZE);
  return bytes;
}

/** Reads a control-channel close message; null when malformed. */
export function decodeControlClose(bytes: Uint8Array): { code: number; reason: string } | null {
  if (bytes.length < CLOSE_CODE_SIZE || bytes.length > CLOSE_CODE_SIZE + MAX_CLOSE_REASON_LENGTH) {
    return null;
  }
  try {
    return {
      code: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(0),
      reason: decoder.decode(bytes.subarray(CLOSE_CODE_SIZE)),
    };
  } catch {
    return null;
  }
}

/** Close codes used on the signalling WebSocket and in close packets. */
export const CloseCode = {
  /** Normal closure. */
  NORMAL: 1000,
  /** The master or slave is going away. */
  GOING_AWAY: 1001,
  /** Malformed or unknown packet. */
  PROTOCOL_ERROR: 1002,
  /** A packet type this role may not send, or a limit on counts or rates. */
  POLICY_VIOLATION: 1008,
  /** A packet over its size limit. */
  MESSAGE_TOO_BIG: 1009,
  /** The peer does not read what the master sends (queue full or send timeout); reconnect. */
  TRY_AGAIN_LATER: 1013,
} as const;

/** An ICE candidate as carried on the wire; `null` is end-of-candidates. */
export interface WireCandidate {
  /** The candidate line (`candidate:…`). */
  candidate: string;
  /** Media stream id; `null` when unknown. */
  sdpMid: string | null;
  /** Media line index; `null` when unknown. */
  sdpMLineIndex: number | null;
}

/** One slave as listed to clients. */
export interface WireSlave {
  /** Slave id. */
  id: number;
  /** The slave's userData, as JSON text. */
  userData: string;
}

/** A decoded packet. */
export type Packet =
  | { type: 0 | 13; userData: string }
  | { type: 1; slaves: WireSlave[] }
  | { type: 14; slave: WireSlave }
  | { type: 2; ids: number[] }
  | { type: 3 | 4 | 5 | 6; id: number; sdp: string }
  | { type: 7 | 8 | 9 | 10; id: number; candidate: WireCandidate | null }
  | { type: 11 | 12; id: number; reason: string }
  | { type: 15; id: number; identity: string }
  | { type: 16; id: number }
  | { type: 17 | 18 | 19 | 20; id: number; code: number; reason: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function utf8(bytes: Uint8Array, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw protocolError(`Invalid UTF-8 in ${what}`);
  }
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_ID) {
    throw new RangeError(`Id "${id}" is not a u32`);
  }
}

function header(type: number, id: number, extra: number): { bytes: Uint8Array; view: DataView } {
  checkId(id);
  const bytes = new Uint8Array(TYPE_SIZE + ID_SIZE + extra);
  const view = new DataView(bytes.buffer);
  bytes[0] = type;
  view.setUint32(TYPE_SIZE, id);
  return { bytes, view };
}

/** `type ‖ JSON text` (register and userData update). */
export function encodeUserData(type: 0 | 13, userDataJson: string): Uint8Array {
  const json = encoder.encode(userDataJson);
  if (json.length > MAX_USER_DATA_LENGTH) {
    throw tooLarge(json.length, MAX_USER_DATA_LENGTH, "UserData");
  }
  const bytes = new Uint8Array(TYPE_SIZE + json.length);
  bytes[0] = type;
  bytes.set(json, TYPE_SIZE);
  return bytes;
}

/** `type ‖ (u32 id ‖ u16 len ‖ JSON)*` (slave list and slave update). */
export function encodeSlaves(type: 1 | 14, slaves: readonly WireSlave[]): Uint8Array {
  const parts = slaves.map((s) => {
    checkId(s.id);
    const json = encoder.encode(s.userData);
    if (json.length > MAX_USER_DATA_LENGTH) {
      throw tooLarge(json.length, MAX_USER_DATA_LENGTH, "UserData");
    }
    return { id: s.id, json };
  });
  let size = TYPE_SIZE;
  for (const p of parts) size += ID_SIZE + USER_DATA_LENGTH_SIZE + p.json.length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes[0] = type;
  let at = TYPE_SIZE;
  for (const p of parts) {
    view.setUint32(at, p.id);
    view.setUint16(at + ID_SIZE, p.json.length);
    bytes.set(p.json, at + ID_SIZE + USER_DATA_LENGTH_SIZE);
    at += ID_SIZE + USER_DATA_LENGTH_SIZE + p.json.length;
  }
  return bytes;
}

/** `2 ‖ JSON array of ids` (enslavism's implemented layout). */
export function encodeRemoveSlaves(ids: readonly number[]): Uint8Array {
  ids.forEach(checkId);
  const json = encoder.encode(JSON.stringify(ids));
  const bytes = new Uint8Array(TYPE_SIZE + json.length);
  bytes[0] = PacketType.REMOVE_SLAVES;
  bytes.set(json, TYPE_SIZE);
  return bytes;
}

/** `type ‖ u32 id ‖ SDP` (offers and answers). */
export function encodeSdp(type: 3 | 4 | 5 | 6, id: number, sdp: string): Uint8Array {
  const text = encoder.encode(sdp);
  const { bytes } = header(type, id, text.length);
  bytes.set(text, TYPE_SIZE + ID_SIZE);
  return bytes;
}

/**
 * `type ‖ u32 id ‖ u8 midLen ‖ mid ‖ u16 mLineIndex ‖ candidate`; a null candidate is the
 * 6-byte `type ‖ id ‖ 0`. A null sdpMLineIndex is 0xFFFF.
 */
export function encodeCandidate(
  type: 7 | 8 | 9 | 10,
  id: number,
  candidate: WireCandidate | null,
): Uint8Array {
  if (candidate === null) return header(type, id, SDP_MID_LENGTH_SIZE).bytes;
  const mid = encoder.encode(candidate.sdpMid ?? "");
  if (mid.length > MAX_SDP_MID_LENGTH) {
    throw tooLarge(mid.length, MAX_SDP_MID_LENGTH, "SdpMid");
  }
  const index = candidate.sdpMLineIndex ?? NULL_SDP_MLINE_INDEX;
  if (!Number.isInteger(index) || index < 0 || index > NULL_SDP_MLINE_INDEX) {
    throw new RangeError(`SdpMLineIndex "${index}" is not a u16`);
  }
  const line = encoder.encode(candidate.candidate);
  const { bytes, view } = header(
    type,
    id,
    SDP_MID_LENGTH_SIZE + mid.length + SDP_MLINE_INDEX_SIZE + line.length,
  );
  let at = TYPE_SIZE + ID_SIZE;
  bytes[at] = mid.length;
  at += SDP_MID_LENGTH_SIZE;
  bytes.set(mid, at);
  at += mid.length;
  view.setUint16(at, index);
  at += SDP_MLINE_INDEX_SIZE;
  bytes.set(line, at);
  return bytes;
}

/** `type ‖ u32 id ‖ [reason]` (rejects). */
export function encodeReject(type: 11 | 12, id: number, reason = ""): Uint8Array {
  const text = encoder.encode(reason);
  const { bytes } = header(type, id, text.length);
  bytes.set(text, TYPE_SIZE + ID_SIZE);
  return bytes;
}

/** `15 ‖ u32 clientId ‖ identity JSON`. */
export function encodeIdentity(id: number, identityJson: string): Uint8Array {
  const text = encoder.encode(identityJson);
  const { bytes } = header(PacketType.CLIENT_IDENTITY, id, text.length);
  bytes.set(text, TYPE_SIZE + ID_SIZE);
  return bytes;
}

/** `16 ‖ u32 clientId`. */
export function encodeClientLeft(id: number): Uint8Array {
  return header(PacketType.CLIENT_LEFT, id, 0).bytes;
}

/** `type ‖ u32 id ‖ u16 code ‖ reason` (close with reason; callers cut reasons to `MAX_CLOSE_REASON_LENGTH`). */
export function encodeClose(
  type: 17 | 18 | 19 | 20,
  id: number,
  code: number,
  reason = "",
): Uint8Array {
  if (!Number.isInteger(code) || code < 0 || code > 0xffff) {
    throw new WebRtcRangeError("ERR_INVALID_CLOSE_CODE", `Close code "${code}" is not a u16`);
  }
  const text = encoder.encode(reason);
  if (text.length > MAX_CLOSE_REASON_LENGTH) {
    throw tooLarge(text.length, MAX_CLOSE_REASON_LENGTH, "Close reason");
  }
  const { bytes, view } = header(type, id, CLOSE_CODE_SIZE + text.length);
  view.setUint16(TYPE_SIZE + ID_SIZE, code);
  bytes.set(text, TYPE_SIZE + ID_SIZE + CLOSE_CODE_SIZE);
  return bytes;
}

/** Longest close reason, in bytes (as a WebSocket close reason). */
export const MAX_CLOSE_REASON_LENGTH = 123;

/** Rewrites the type and id of a packet in place (the master's forwarding step). */
export function rewrite(packet: Uint8Array, type: number, id: number): Uint8Array {
  checkId(id);
  packet[0] = type;
  new DataView(packet.buffer, packet.byteOffset, packet.byteLength).setUint32(TYPE_SIZE, id);
  return packet;
}

/** Reads the type byte, or throws `WebRtcSyntaxError` (`ERR_PROTOCOL`) on an empty packet. */
export function packetType(packet: Uint8Array): number {
  if (packet.length < TYPE_SIZE) throw protocolError("Empty packet");
  return packet[0];
}

function need(packet: Uint8Array, size: number, what: string): void {
  if (packet.length < size) {
    throw protocolError(`Truncated ${what}: ${packet.length} bytes, need at least ${size}`);
  }
}

function readJsonText(bytes: Uint8Array, what: string): string {
  const text = utf8(bytes, what);
  try {
    JSON.parse(text);
  } catch {
    throw protocolError(`Invalid JSON in ${what}`);
  }
  return text;
}

/**
 * Decodes one packet. Every length is checked before it is read: a malformed packet throws
 * `WebRtcSyntaxError` with code `ERR_PROTOCOL` (never a `RangeError` from `DataView`).
 */
export function decodePacket(packet: Uint8Array): Packet {
  const type = packetType(packet);
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const id = () => view.getUint32(TYPE_SIZE);
  const rest = (from: number) => packet.subarray(from);
  switch (type) {
    case 0:
    case 13:
      return { type, userData: readJsonText(rest(TYPE_SIZE), "userData") };
    case 1:
    case 14: {
      const slaves: WireSlave[] = [];
      let at = TYPE_SIZE;
      while (at < packet.length) {
        need(packet, at + ID_SIZE + USER_DATA_LENGTH_SIZE, "slave entry");
        const slaveId = view.getUint32(at);
        const length = view.getUint16(at + ID_SIZE);
        const start = at + ID_SIZE + USER_DATA_LENGTH_SIZE;
        need(packet, start + length, "slave userData");
        slaves.push({
          id: slaveId,
          userData: readJsonText(packet.subarray(start, start + length), "slave userData"),
        });
        at = start + length;
      }
      if (type === 14) {
        if (slaves.length !== 1) throw protocolError("Slave update must hold one slave");
        return { type, slave: slaves[0] };
      }
      return { type, slaves };
    }
    case 2: {
      const text = utf8(rest(TYPE_SIZE), "slave id list");
      let ids: unknown;
      try {
        ids = JSON.parse(text);
      } catch {
        throw protocolError("Invalid JSON in slave id list");
      }
      if (
        !Array.isArray(ids) ||
        !ids.every((n) => Number.isInteger(n) && n >= 0 && n <= MAX_ID)
      ) {
        throw protocolError("Slave id list is not an array of u32");
      }
      return { type, ids };
    }
    case 3:
    case 4:
    case 5:
    case 6:
      need(packet, TYPE_SIZE + ID_SIZE, "SDP packet");
      return { type, id: id(), sdp: utf8(rest(TYPE_SIZE + ID_SIZE), "SDP") };
    case 7:
    case 8:
    case 9:
    case 10: {
      need(packet, NULL_CANDIDATE_PACKET_SIZE, "candidate packet");
      const midLength = packet[TYPE_SIZE + ID_SIZE];
      if (midLength === 0 && packet.length === NULL_CANDIDATE_PACKET_SIZE) {
        return { type, id: id(), candidate: null };
      }
      const midStart = NULL_CANDIDATE_PACKET_SIZE;
      need(packet, midStart + midLength + SDP_MLINE_INDEX_SIZE, "candidate packet");
      const sdpMid = utf8(packet.subarray(midStart, midStart + midLength), "sdpMid");
      const index = view.getUint16(midStart + midLength);
      const line = utf8(rest(midStart + midLength + SDP_MLINE_INDEX_SIZE), "candidate");
      return {
        type,
        id: id(),
        candidate: {
          candidate: line,
          sdpMid: midLength === 0 ? null : sdpMid,
          sdpMLineIndex: index === NULL_SDP_MLINE_INDEX ? null : index,
        },
      };
    }
    case 11:
    case 12:
      need(packet, TYPE_SIZE + ID_SIZE, "reject packet");
      return { type, id: id(), reason: utf8(rest(TYPE_SIZE + ID_SIZE), "reject reason") };
    case 15:
      need(packet, TYPE_SIZE + ID_SIZE, "identity packet");
      return { type, id: id(), identity: readJsonText(rest(TYPE_SIZE + ID_SIZE), "identity") };
    case 16:
      need(packet, TYPE_SIZE + ID_SIZE, "client-left packet");
      return { type, id: id() };
    case 17:
    case 18:
    case 19:
    case 20:
      need(packet, TYPE_SIZE + ID_SIZE + CLOSE_CODE_SIZE, "close packet");
      if (packet.length > TYPE_SIZE + ID_SIZE + CLOSE_CODE_SIZE + MAX_CLOSE_REASON_LENGTH) {
        throw protocolError(`Close reason over ${MAX_CLOSE_REASON_LENGTH} bytes`);
      }
      return {
        type,
        id: id(),
        code: view.getUint16(TYPE_SIZE + ID_SIZE),
        reason: utf8(rest(TYPE_SIZE + ID_SIZE + CLOSE_CODE_SIZE), "close reason"),
      };
    default:
      throw protocolError(`Unknown packet type "${type}"`);
  }
}
