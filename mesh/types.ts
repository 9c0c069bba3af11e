/**
 * The message, event, leave-reason and request types of a `Mesh`.
 *
 * @module
 */

import type { MeshAddress, MeshPeer } from "./peer.ts";

/**
 * A message received from another member.
 *
 * @example
 * ```ts
 * import type { MeshMessage } from "./mod.ts";
 *
 * const show = (m: MeshMessage) => console.log(`${m.peer.name}: ${m.type}`, m.content);
 * ```
 */
export interface MeshMessage {
  /** Id of the sending member (authenticated when a secret is in use). */
  from: string;
  /** Application message type. */
  type: string;
  /** The content: a `Uint8Array` if one was sent, else the JSON value. */
  content: unknown;
  /** The sending member. */
  peer: MeshPeer;
}

/**
 * Why a peer left: `"leave"` (it called `leave()`), `"timeout"` (silent for
 * `deadTimeout`), `"replaced"` (a new member with the same name took over).
 *
 * @example
 * ```ts
 * import type { MeshLeaveReason } from "./mod.ts";
 *
 * const reason: MeshLeaveReason = "timeout";
 * ```
 */
export type MeshLeaveReason = "leave" | "timeout" | "replaced";

/**
 * Detail of `peerjoin`, `peersuspect` and `peerleave` events.
 *
 * @example
 * ```ts
 * import type { MeshPeerEventDetail } from "./mod.ts";
 *
 * const log = (d: MeshPeerEventDetail) => console.log(d.name, d.id, d.reason);
 * ```
 */
export interface MeshPeerEventDetail {
  /** The peer. */
  peer: MeshPeer;
  /** Its id (same as `peer.id`). */
  id: string;
  /** Its name (same as `peer.name`). */
  name: string;
  /** Its address (same as `peer.addr`). */
  addr: MeshAddress;
  /** Why it left (`peerleave` only). */
  reason?: MeshLeaveReason;
}

/**
 * Events of a {@linkcode Mesh}.
 *
 * @example
 * ```ts
 * import type { MeshEventMap } from "./mod.ts";
 *
 * type JoinEvent = MeshEventMap["peerjoin"];
 * ```
 */
export interface MeshEventMap {
  /** A message from another member. */
  message: CustomEvent<MeshMessage>;
  /** A member entered (or came back after it had been declared dead). */
  peerjoin: CustomEvent<MeshPeerEventDetail>;
  /** A member has been silent for `suspectTimeout`. */
  peersuspect: CustomEvent<MeshPeerEventDetail>;
  /** A member left, timed out or was replaced. */
  peerleave: CustomEvent<MeshPeerEventDetail>;
  /**
   * This member closed a connection because the other side went over a
   * limit or sent something invalid (only that connection is closed).
   */
  connectionerror: CustomEvent<MeshConnectionErrorDetail>;
}

/**
 * Detail of a `connectionerror` event: why a connection was closed and to
 * whom.
 *
 * @example
 * ```ts
 * import { joinMesh } from "./mod.ts";
 *
 * await using mesh = await joinMesh({ name: "solo" });
 * mesh.addEventListener("connectionerror", (e) => {
 *   console.warn(e.detail.error.code, e.detail.remoteAddr, e.detail.peerId);
 * });
 * ```
 */
export interface MeshConnectionErrorDetail {
  /** The typed error (`MeshRangeError` or `MeshSyntaxError`). */
  error: Error & { code: string };
  /** The other end of the connection. */
  remoteAddr: Deno.NetAddr;
  /** The peer's id, once its handshake told it. */
  peerId?: string;
}

/**
 * Answers a request: gets the content and the asking peer, returns (or
 * resolves to) the answer.
 *
 * @example
 * ```ts
 * import type { MeshRequestHandler } from "./mod.ts";
 *
 * const add: MeshRequestHandler = (content) => {
 *   const [a, b] = content as [number, number];
 *   return a + b;
 * };
 * ```
 */
export type MeshRequestHandler = (
  content: unknown,
  from: MeshPeer,
  signal: AbortSignal,
) => unknown | Promise<unknown>;

/**
 * Options of {@linkcode Mesh.request}.
 *
 * @example
 * ```ts
 * import type { MeshRequestOptions } from "./mod.ts";
 *
 * const options: MeshRequestOptions = { signal: AbortSignal.timeout(1000) };
 * ```
 */
export interface MeshRequestOptions {
  /** Aborts waiting for the answer. */
  signal?: AbortSignal;
}
