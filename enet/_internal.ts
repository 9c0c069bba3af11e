/**
 * Hooks between the public `Peer` class and the host: filled in by the
 * `Peer` class's static block so the hooks can reach its `#private` state
 * without widening its public surface.
 *
 * @module
 */

import type { DisconnectReason, PeerCore } from "./_peer_core.ts";
import type { Peer } from "./peer.ts";
import type { HostCore } from "./_host_core.ts";
import type { Address } from "./_socket.ts";

/** Private operations on a `Peer`. */
export interface PeerInternals {
  create(core: PeerCore, host: HostCore, address: Address): Peer;
  core(peer: Peer): PeerCore | null;
  connected(peer: Peer): void;
  closed(
    peer: Peer,
    reason: DisconnectReason,
    data: number,
    wasConnected: boolean,
    error?: unknown,
  ): void;
  /** Returns true when a claimed channel stream took the packet. */
  deliver(peer: Peer, channelID: number, data: Uint8Array, flags: number): boolean;
  reliableProgress(peer: Peer): void;
  waitConnected(peer: Peer): Promise<void>;
  /** A channel stream handed `bytes` to its reader. */
  consumed(peer: Peer, bytes: number): void;
  /** Resolves when the peer's reliable backlog is under the stream high-water mark (undefined: it is). */
  drained(peer: Peer): Promise<void> | undefined;
}

/** Set by `peer.ts` on load. */
export const peerInternals = {} as PeerInternals;
