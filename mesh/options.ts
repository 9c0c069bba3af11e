/**
 * {@linkcode MeshOptions}: the options of `joinMesh()`, with their defaults.
 *
 * @module
 */

import type { MeshAddress } from "./peer.ts";

/**
 * Options of {@linkcode joinMesh}.
 *
 * @example
 * ```ts
 * import type { MeshOptions } from "./mod.ts";
 *
 * const options: MeshOptions = {
 *   name: "alice",
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   seeds: [{ hostname: "127.0.0.1", port: 4100 }],
 *   secret: "correct horse battery staple",
 * };
 * ```
 */
export interface MeshOptions {
  /** Display name, unique across the mesh. */
  name: string;
  /**
   * Address to bind the member's listener to.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * Port to bind (0 = any free port; read it back from `mesh.addr`).
   * @default {0}
   */
  port?: number;
  /**
   * Address the other members should dial to reach this one, when it differs
   * from the bound one (port forwarding, proxies). With a wildcard bind and
   * no `advertise.hostname`, members use the address they see the
   * connection coming from.
   * @default {the bound address}
   */
  advertise?: Partial<MeshAddress>;
  /**
   * Members to join through. None starts a new mesh. Seeds that are not up
   * yet are retried until `timeout`.
   * @default {[]}
   */
  seeds?: MeshAddress[];
  /**
   * Shared secret. When set, every connection proves knowledge of it with an
   * HMAC challenge-response and every frame carries an HMAC tag, so members
   * without it are refused and the sender of a message cannot be forged.
   * (The content is authenticated, not encrypted: use `cert`/`key` for
   * privacy.)
   */
  secret?: string;
  /**
   * Decides whether an address learned from another member may be dialled.
   * @default {addresses of the same family (IPv4, IPv6, host name) as the seeds and the own bind address}
   */
  allowAddress?: (addr: MeshAddress) => boolean;
  /**
   * Largest message (type + encoded content) in bytes.
   * @default {16777216}
   */
  maxMessageSize?: number;
  /**
   * Milliseconds between heartbeats on every connection (and gossip rounds).
   * @default {1000}
   */
  heartbeatInterval?: number;
  /**
   * Milliseconds of silence after which a peer is suspected (`peersuspect`).
   * @default {3000}
   */
  suspectTimeout?: number;
  /**
   * Milliseconds of silence after which a peer is declared dead
   * (`peerleave` with reason `"timeout"`).
   * @default {6000}
   */
  deadTimeout?: number;
  /**
   * Longest pause in ms between attempts to reconnect to a lost member.
   * @default {2000}
   */
  reconnectInterval?: number;
  /**
   * Milliseconds after which a member that nobody has heard from is
   * forgotten (no more reconnect attempts).
   * @default {60000}
   */
  forgetTimeout?: number;
  /**
   * Milliseconds `joinMesh()` may take before it rejects with a
   * `TimeoutError`.
   * @default {10000}
   */
  timeout?: number;
  /**
   * Milliseconds a connection handshake may take.
   * @default {5000}
   */
  handshakeTimeout?: number;
  /**
   * Most members this member knows and connects to (members it has reached;
   * pending handshakes and gossiped members not reached yet do not count).
   * A member dialling in beyond it is refused (`ERR_MESH_FULL`).
   * @default {1024}
   */
  maxMembers?: number;
  /**
   * Most members learned from one peer's gossip that may wait to be reached
   * at once; more are ignored until some are reached.
   * @default {256}
   */
  maxUnverifiedMembers?: number;
  /**
   * Members gossiped by one peer that may turn out unreachable before that
   * peer's connection is closed (`ERR_MEMBER_LIMIT`).
   * @default {32}
   */
  maxUnreachableMembers?: number;
  /**
   * Requests from one peer being answered at once; more are refused at once
   * (the asker gets `MeshRangeError` `ERR_TOO_MANY_REQUESTS`).
   * @default {256}
   */
  maxRequestsInFlight?: number;
  /**
   * Connections in their handshake at once (inbound); beyond it the oldest
   * is dropped (`ERR_HANDSHAKE_LIMIT`). They never take member slots.
   * @default {128}
   */
  maxPendingHandshakes?: number;
  /**
   * Most keys (deleted ones included) of the replicated state.
   * @default {10000}
   */
  maxStateEntries?: number;
  /**
   * Largest state entry: key plus value, JSON-encoded, in UTF-8 bytes
   * (`ERR_STATE_LIMIT` above it). Use the same value on every member.
   * @default {1048576}
   */
  maxStateValueSize?: number;
  /**
   * Most state keys (deleted ones included) whose last writer is one member.
   * @default {1024}
   */
  maxStateKeysPerMember?: number;
  /**
   * Most bytes of the replicated state (keys and values, JSON-encoded).
   * @default {33554432}
   */
  maxStateBytes?: number;
  /**
   * Bytes waiting to be written to one peer at most, beyond one message of
   * `maxMessageSize` (being written), each message counting 64 bytes more
   * than its size (so empty ones fill it too). A peer that lets more pile up
   * (it does not read) loses its connection (`ERR_SLOW_PEER`). `broadcast()` does not wait for a peer whose write takes over
   * 500 ms or with over 1 MiB waiting, so one slow member cannot hold a
   * broadcaster back.
   * @default {16777216}
   */
  maxQueuedBytes?: number;
  /**
   * Messages `messages()` iterators may hold before reading from the peers
   * pauses (backpressure to the senders).
   * @default {1024}
   */
  inboxSize?: number;
  /** TLS certificate (PEM) of this member's listener; enables TLS for inbound connections. */
  cert?: string;
  /** TLS private key (PEM) matching `cert`. */
  key?: string;
  /** CA certificates (PEM) to trust when dialling members over TLS; enables TLS for outbound connections. */
  caCerts?: string[];
  /** Aborting it makes the member leave (or aborts the join). */
  signal?: AbortSignal;
}
