/**
 * The public view of another member of the mesh.
 *
 * @module
 */

/**
 * Where a member can be reached.
 *
 * @example
 * ```ts
 * import type { MeshAddress } from "./mod.ts";
 *
 * const seed: MeshAddress = { hostname: "127.0.0.1", port: 4100 };
 * ```
 */
export interface MeshAddress {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port. */
  port: number;
}

/** Live figures of a peer, read by {@linkcode MeshPeer}'s getters. @internal */
export interface MeshPeerStats {
  /** Smoothed round-trip time in ms. */
  rtt: number;
  /** Silent longer than `suspectTimeout`. */
  suspect: boolean;
  /** A connection is open. */
  connected: boolean;
  /** Bytes queued, not yet written. */
  bufferedAmount: number;
  /** `performance.now()` of the last frame received. */
  lastHeard: number;
}

/**
 * Another member of the mesh, as seen from this one. Found in `mesh.peers`
 * (keyed by {@linkcode MeshPeer.id}) and in `peerjoin` / `peerleave` events.
 *
 * @example
 * ```ts
 * import { joinMesh } from "./mod.ts";
 *
 * await using mesh = await joinMesh({ name: "solo" });
 * for (const peer of mesh.peers.values()) {
 *   console.log(peer.name, peer.id, peer.addr, `${peer.rtt.toFixed(1)} ms`);
 * }
 * ```
 */
export class MeshPeer {
  /** Random id chosen by the member when it joined (unique per process run). */
  readonly id: string;
  /** Display name, unique across the mesh. */
  readonly name: string;
  /** Address other members dial to reach it. */
  readonly addr: MeshAddress;
  #stats: () => MeshPeerStats;

  /**
   * Created by the mesh; applications receive instances.
   *
   * @param id the member's id
   * @param name the member's name
   * @param addr the member's advertised address
   * @param stats reads the live figures
   */
  constructor(id: string, name: string, addr: MeshAddress, stats: () => MeshPeerStats) {
    this.id = id;
    this.name = name;
    this.addr = Object.freeze({ ...addr });
    this.#stats = stats;
  }

  /** Smoothed heartbeat round-trip time in ms (`NaN` before the first answer). */
  get rtt(): number {
    return this.#stats().rtt;
  }

  /** Whether the peer has been silent longer than `suspectTimeout`. */
  get suspect(): boolean {
    return this.#stats().suspect;
  }

  /** Whether a connection to the peer is open right now (false while reconnecting). */
  get connected(): boolean {
    return this.#stats().connected;
  }

  /** Bytes queued for this peer and not yet written to its socket. */
  get bufferedAmount(): number {
    return this.#stats().bufferedAmount;
  }

  /** `performance.now()` time of the last frame received from the peer. */
  get lastHeard(): number {
    return this.#stats().lastHeard;
  }

  /** A plain description for logs. */
  toJSON(): { id: string; name: string; addr: MeshAddress; rtt: number } {
    return { id: this.id, name: this.name, addr: this.addr, rtt: this.rtt };
  }
}
