/**
 * What each frame kind on an established link means: one frame (or each
 * frame of a BATCH) is decoded and handed to the matching method of a
 * {@linkcode FrameHandler}. An unknown kind, a malformed body or a nested
 * batch is `ERR_INVALID_FRAME`; a CLOSE ends the link with
 * {@linkcode LinkClosedByPeer}.
 *
 * @module
 */

import { MeshSyntaxError } from "./errors.ts";
import type { MeshStateEntry } from "./state.ts";
import { LinkClosedByPeer } from "./_link.ts";
import { decodeStateFrame } from "./_state_sync.ts";
import {
  decodeContent,
  type DecodedReply,
  decodeMembersFrame,
  decodeMessage,
  decodeReject,
  decodeReply,
  decodeTime,
  forEachFrame,
  KIND_BATCH,
  KIND_CLOSE,
  KIND_LEAVE,
  KIND_MEMBERS,
  KIND_MSG,
  KIND_PING,
  KIND_PONG,
  KIND_REPLY,
  KIND_REQUEST,
  KIND_STATE,
  type Reject,
  type WireMember,
} from "./_protocol.ts";

/** Receives the decoded frames of one link. */
export interface FrameHandler {
  /** MSG: an application message. */
  message(type: string, content: unknown): void;
  /** REQUEST: content still encoded (it is decoded only if a handler takes it). */
  request(requestId: number, type: string, enc: number, body: Uint8Array): void;
  /** REPLY to one of our requests. */
  reply(reply: DecodedReply): void;
  /** PING with the sender's time (to echo in a PONG). */
  ping(time: number): void;
  /** PONG echoing our time. */
  pong(time: number): void;
  /** MEMBERS: one piece of a member list. */
  members(entries: WireMember[]): void;
  /** STATE: replicated entries. */
  state(entries: MeshStateEntry[]): void;
  /** LEAVE: the peer is leaving the mesh. */
  leave(): void;
  /** CLOSE: the peer closes this link, saying why (the link then ends). */
  close(reason: Partial<Reject>): void;
}

/** Hands `frame` (a BATCH: each of its frames, in order) to `handler`. */
export function dispatchFrame(
  frame: Uint8Array,
  handler: FrameHandler,
  stateFrameLimit: number,
): void {
  if (frame[0] === KIND_BATCH) {
    forEachFrame(frame, (inner) => dispatchOne(inner, handler, stateFrameLimit));
  } else {
    dispatchOne(frame, handler, stateFrameLimit);
  }
}

function dispatchOne(frame: Uint8Array, handler: FrameHandler, stateFrameLimit: number): void {
  switch (frame[0]) {
    case KIND_MSG: {
      const message = decodeMessage(frame);
      handler.message(message.type, decodeContent(message.enc, message.body));
      return;
    }
    case KIND_REQUEST: {
      const message = decodeMessage(frame);
      handler.request(message.requestId!, message.type, message.enc, message.body);
      return;
    }
    case KIND_REPLY:
      handler.reply(decodeReply(frame));
      return;
    case KIND_PING:
      handler.ping(decodeTime(frame));
      return;
    case KIND_PONG:
      handler.pong(decodeTime(frame));
      return;
    case KIND_MEMBERS:
      handler.members(decodeMembersFrame(frame));
      return;
    case KIND_STATE:
      handler.state(decodeStateFrame(frame, stateFrameLimit));
      return;
    case KIND_LEAVE:
      handler.leave();
      return;
    case KIND_CLOSE:
      // The peer closes this link because of something we did (a limit).
      handler.close(decodeReject(frame) as Partial<Reject>);
      throw new LinkClosedByPeer();
    default:
      throw new MeshSyntaxError("ERR_INVALID_FRAME", `Unknown frame kind ${frame[0]}`);
  }
}
