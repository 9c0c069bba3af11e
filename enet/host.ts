/**
 * An ENet host: one UDP socket serving many peers. Create it with
 * {@linkcode createHost}, iterate it for events, connect out with
 * `host.connect()`.
 *
 * @module
 */

import { OutgoingPacket } from "./_commands.ts";
import { enetCrc32 } from "./_crc32.ts";
import { type Compressor, RangeCoder } from "./compressor.ts";
import { type CoreCompressor, HostCore, type HostCoreListener } from "./_host_core.ts";
import { peerInternals } from "./_internal.ts";
import { packetBytes, type PacketData } from "./_slab.ts";
import {
  ENET_HOST_DEFAULT_MAXIMUM_PACKET_SIZE,
  ENET_HOST_DEFAULT_MAXIMUM_WAITING_DATA,
  ENET_HOST_DEFAULT_MTU,
  ENET_PACKET_FLAG_RELIABLE,
  ENET_PEER_STATE_CONNECTED,
  ENET_PEER_STATE_DISCONNECTING,
  ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT,
  ENET_PROTOCOL_MAXIMUM_MTU,
  ENET_PROTOCOL_MAXIMUM_PEER_ID,
  ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT,
  ENET_PROTOCOL_MINIMUM_MTU,
  NETKIT_DEFAULT_MAXIMUM_CONNECT_RATE,
  NETKIT_DEFAULT_MAXIMUM_HALF_OPEN_PEERS,
  NETKIT_DEFAULT_MAXIMUM_HALF_OPEN_PER_ADDRESS,
  NETKIT_DEFAULT_MAXIMUM_HOST_WAITING_DATA,
  NETKIT_DEFAULT_MAXIMUM_HOST_WAITING_PACKETS,
  NETKIT_DEFAULT_MAXIMUM_INCOMPLETE_PACKETS,
  NETKIT_DEFAULT_MAXIMUM_WAITING_PACKETS,
} from "./_protocol.ts";
import { canonicalIP } from "./_ip.ts";
import type { Address } from "./_socket.ts";
import { EnetError, EnetRangeError, EnetTypeError } from "./errors.ts";
import type { DisconnectReason, Peer, PeerTimeoutOptions } from "./peer.ts";

/** A peer connected (both for `connect()` and for incoming connections). */
export interface ConnectEvent<PeerData = unknown> {
  /** Discriminant. */
  type: "connect";
  /** The new connection. */
  peer: Peer<PeerData>;
  /** The 32-bit value the remote sent with its CONNECT (0 for outgoing connections). */
  data: number;
}

/** A packet arrived. */
export interface ReceiveEvent<PeerData = unknown> {
  /** Discriminant. */
  type: "receive";
  /** Sender. */
  peer: Peer<PeerData>;
  /** Channel the packet came on. */
  channelID: number;
  /** Payload (owned by the receiver). */
  data: Uint8Array;
  /** {@linkcode PacketFlag} bits it was sent with (0 = unreliable sequenced). */
  flags: number;
}

/** A connection ended. */
export interface DisconnectEvent<PeerData = unknown> {
  /** Discriminant. */
  type: "disconnect";
  /** The connection that ended. */
  peer: Peer<PeerData>;
  /** The 32-bit value sent with the disconnect (0 on timeout). */
  data: number;
  /** Who ended it. */
  reason: DisconnectReason;
}

/** What iterating a {@linkcode Host} yields; `PeerData` types `event.peer.data`. */
export type HostEvent<PeerData = unknown> =
  | ConnectEvent<PeerData>
  | ReceiveEvent<PeerData>
  | DisconnectEvent<PeerData>;

/** What an `intercept` hook decides for an incoming datagram. */
export type InterceptResult = "drop" | "accept" | "handled";

/**
 * Per source IP address limit on new connections (option `connectRateLimit`
 * of {@linkcode createHost}): a token bucket refilled at `perSecond`.
 *
 * @example
 * ```ts
 * import { createHost } from "@netkit/realtime/enet";
 * const address = { hostname: "0.0.0.0", port: 7777 };
 * await using host = await createHost({ address, connectRateLimit: { perSecond: 5, burst: 10 } });
 * ```
 */
export interface ConnectRateLimit {
  /** New CONNECTs accepted per second from one IP address. */
  perSecond: number;
  /** How many may arrive at once. @default {perSecond} */
  burst?: number;
}

/** Options of {@linkcode createHost}. */
export interface HostOptions {
  /**
   * Address to bind. Omit it for a client: the host then binds an ephemeral
   * port at its first `connect()`, on the loopback address when the target
   * is loopback (`--allow-net=127.0.0.1` suffices), else on `0.0.0.0` / `::`.
   *
   * @default {bound at the first `connect()`}
   */
  address?: Address;
  /** Peer table size (C's `peerCount`), 1..4095. @default {64} */
  peerCount?: number;
  /** Most channels an incoming connection may use, 1..255. @default {255} */
  channelLimit?: number;
  /** Downstream bandwidth in bytes/second, 0 = unlimited. @default {0} */
  incomingBandwidth?: number;
  /** Upstream bandwidth in bytes/second, 0 = unlimited. @default {0} */
  outgoingBandwidth?: number;
  /** MTU offered in handshakes, 576..4096 (1.3.17 used 1400). @default {1392} */
  mtu?: number;
  /** Largest packet accepted or sent, in bytes. @default {33554432} */
  maximumPacketSize?: number;
  /**
   * Per-peer bytes received but not yet consumed (incl. partial fragments)
   * before new packets are refused: reliable ones go unacknowledged, so the
   * sender retransmits them later, unreliable ones are dropped. @default {33554432}
   */
  maximumWaitingData?: number;
  /** Per-peer packets received but not yet consumed, likewise (empty packets cost memory too). @default {65536} */
  maximumWaitingPackets?: number;
  /**
   * Host-wide bytes received but not yet consumed. Over it, a peer is refused
   * beyond its fair share (this ÷ connected peers), so the host holds at most
   * about twice this however many peers send. @default {67108864}
   */
  maximumHostWaitingData?: number;
  /** Host-wide packets received but not yet consumed, likewise. @default {262144} */
  maximumHostWaitingPackets?: number;
  /** Per-peer fragmented packets that may be incomplete at once. @default {64} */
  maximumIncompletePackets?: number;
  /** Most connections from one IP address. @default {4095} */
  duplicatePeers?: number;
  /**
   * Connect-flood protection, wire-compatible with stock clients: a CONNECT
   * takes no peer slot until the client acknowledges VERIFY_CONNECT; until
   * then the host keeps a small half-open record. At most this many are kept,
   * the oldest forgotten for a new one. Spoofed CONNECTs never acknowledge,
   * real clients do within one round trip, so they get in while a flood
   * runs. Connected peers are never affected. @default {16384}
   */
  maximumHalfOpenPeers?: number;
  /** Half-open records per source IP address; a new one forgets that address's oldest. @default {64} */
  maximumHalfOpenPerAddress?: number;
  /** CONNECT datagrams handled per second, host-wide; the rest are dropped unread. @default {50000} */
  maximumConnectRate?: number;
  /**
   * New CONNECTs accepted per second (and burst) from one IP address; the
   * rest are ignored (the client retries). Off by default: clients behind one
   * NAT share an address. At most 4096 source addresses are tracked.
   */
  connectRateLimit?: ConnectRateLimit;
  /** ENet's CRC-32 on every datagram (must match the remote; not negotiated). @default {false} */
  checksum?: boolean;
  /** `"range-coder"`: ENet's built-in datagram compressor (must match the remote). */
  compression?: "range-coder";
  /** A custom datagram compressor (overrides `compression`). */
  compressor?: Compressor;
  /** Sees every incoming datagram first: `"drop"` it, `"accept"` it, or say it was `"handled"`. */
  intercept?: (datagram: Uint8Array, address: Address) => InterceptResult;
  /** Closes the host when aborted. */
  signal?: AbortSignal;
  /**
   * The UDP socket. `"auto"`: `Deno.listenDatagram` (with `--unstable-net`),
   * whose datagrams are sent and drained in batches (`sendmmsg`/`recvmmsg`)
   * on Linux when the FFI permission is already granted, else one runtime
   * op per datagram; `node:dgram` without `--unstable-net`. `"deno"`:
   * `Deno.listenDatagram` with one op per datagram. `"node"`: `node:dgram`.
   * @default {"auto"}
   */
  socket?: "auto" | "deno" | "node";
}

/** Options of `Host.connect()`. */
export interface ConnectOptions {
  /** Channels to ask for, 1..255 (the server may grant fewer). @default {1} */
  channelCount?: number;
  /** 32-bit value delivered with the server's `connect` event. @default {0} */
  data?: number;
  /** Aborts the attempt (the peer is dropped). */
  signal?: AbortSignal;
  /**
   * Milliseconds the handshake may take before `connect()` rejects with a
   * `TimeoutError` (`ERR_CONNECT_TIMEOUT`). An object instead sets C's
   * timeout rules for the handshake and the connection (`peer.setTimeout()`,
   * `enet_peer_timeout`); the handshake still gives up after the default.
   *
   * @default {5000}
   */
  timeout?: number | PeerTimeoutOptions;
  /**
   * MTU to offer for this peer alone, 576..4096 (the peers settle on the smaller of both
   * offers). Lower it for a path known to carry small datagrams.
   *
   * @default {the host's `mtu`}
   */
  mtu?: number;
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new EnetTypeError(
      "ERR_INVALID_OPTION",
      `Option "${name}" must be an integer in ${min}..${max}, got "${value}"`,
    );
  }
  return value;
}

/**
 * Creates a host bound to `options.address`; without one, the host binds an
 * ephemeral port at its first `connect()` (see there). `PeerData` types
 * `peer.data`, the application's own value per connection (C's `peer->data`).
 *
 * @example Echo server and client over loopback
 * ```ts
 * import { createHost, PacketFlag } from "@netkit/realtime/enet";
 *
 * await using server = await createHost({ address: { hostname: "127.0.0.1", port: 0 } });
 * await using client = await createHost({ address: { hostname: "127.0.0.1", port: 0 }, peerCount: 1 });
 * const peer = await client.connect(server.address, { channelCount: 2, data: 42 });
 * peer.send(1, "ping", PacketFlag.RELIABLE);
 * for await (const event of server) {
 *   if (event.type === "receive") {
 *     console.log(new TextDecoder().decode(event.data));
 *     break;
 *   }
 * }
 * ```
 *
 * @example A player record on every connection
 * ```ts
 * import { createHost } from "@netkit/realtime/enet";
 *
 * interface Player {
 *   name: string;
 *   score: number;
 * }
 * await using server = await createHost<Player>({ address: { hostname: "127.0.0.1", port: 7777 } });
 * for await (const event of server) {
 *   if (event.type === "connect") event.peer.data = { name: `player ${event.peer.id}`, score: 0 };
 *   if (event.type === "receive") event.peer.data!.score++;
 *   if (event.type === "disconnect") console.log(event.peer.data?.name, "left");
 * }
 * ```
 */
export async function createHost<PeerData = unknown>(
  options: HostOptions = {},
): Promise<Host<PeerData>> {
  const {
    address,
    peerCount = 64,
    channelLimit = ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT,
    incomingBandwidth = 0,
    outgoingBandwidth = 0,
    mtu = ENET_HOST_DEFAULT_MTU,
    maximumPacketSize = ENET_HOST_DEFAULT_MAXIMUM_PACKET_SIZE,
    maximumWaitingData = ENET_HOST_DEFAULT_MAXIMUM_WAITING_DATA,
    maximumIncompletePackets = NETKIT_DEFAULT_MAXIMUM_INCOMPLETE_PACKETS,
    duplicatePeers = ENET_PROTOCOL_MAXIMUM_PEER_ID,
    maximumWaitingPackets = NETKIT_DEFAULT_MAXIMUM_WAITING_PACKETS,
    maximumHostWaitingData = NETKIT_DEFAULT_MAXIMUM_HOST_WAITING_DATA,
    maximumHostWaitingPackets = NETKIT_DEFAULT_MAXIMUM_HOST_WAITING_PACKETS,
    maximumHalfOpenPeers = NETKIT_DEFAULT_MAXIMUM_HALF_OPEN_PEERS,
    maximumHalfOpenPerAddress = NETKIT_DEFAULT_MAXIMUM_HALF_OPEN_PER_ADDRESS,
    maximumConnectRate = NETKIT_DEFAULT_MAXIMUM_CONNECT_RATE,
    connectRateLimit,
    checksum = false,
    compression,
    compressor,
    intercept,
    signal,
    socket = "auto",
  } = options;
  checkInteger("peerCount", peerCount, 1, ENET_PROTOCOL_MAXIMUM_PEER_ID);
  checkInteger(
    "channelLimit",
    channelLimit,
    ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT,
    ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT,
  );
  checkInteger("incomingBandwidth", incomingBandwidth, 0, 0xFFFFFFFF);
  checkInteger("outgoingBandwidth", outgoingBandwidth, 0, 0xFFFFFFFF);
  checkInteger("mtu", mtu, ENET_PROTOCOL_MINIMUM_MTU, ENET_PROTOCOL_MAXIMUM_MTU);
  checkInteger("maximumPacketSize", maximumPacketSize, 1, 0xFFFFFFFF);
  checkInteger("maximumWaitingData", maximumWaitingData, 1, Number.MAX_SAFE_INTEGER);
  checkInteger("maximumIncompletePackets", maximumIncompletePackets, 1, 1 << 20);
  checkInteger("duplicatePeers", duplicatePeers, 1, ENET_PROTOCOL_MAXIMUM_PEER_ID);
  checkInteger("maximumWaitingPackets", maximumWaitingPackets, 1, 1 << 30);
  checkInteger("maximumHostWaitingData", maximumHostWaitingData, 1, Number.MAX_SAFE_INTEGER);
  checkInteger("maximumHostWaitingPackets", maximumHostWaitingPackets, 1, 1 << 30);
  checkInteger("maximumHalfOpenPeers", maximumHalfOpenPeers, 1, 1 << 20);
  checkInteger("maximumHalfOpenPerAddress", maximumHalfOpenPerAddress, 1, 1 << 20);
  checkInteger("maximumConnectRate", maximumConnectRate, 1, 10_000_000);
  if (connectRateLimit !== undefined) {
    checkInteger("connectRateLimit.perSecond", connectRateLimit.perSecond, 1, 1_000_000);
    checkInteger("connectRateLimit.burst", connectRateLimit.burst ?? 1, 1, 1_000_000);
  }
  if (socket !== "auto" && socket !== "deno" && socket !== "node") {
    throw new EnetTypeError(
      "ERR_INVALID_OPTION",
      `Option "socket" must be "auto", "deno" or "node", got "${socket}"`,
    );
  }
  signal?.throwIfAborted();
  const crc = checksum ? (data: Uint8Array) => enetCrc32(data) : null;
  let coder: CoreCompressor | null = compressor ?? null;
  if (coder === null && compression !== undefined) {
    if (compression !== "range-coder") {
      throw new EnetTypeError(
        "ERR_INVALID_OPTION",
        `Option "compression" must be "range-coder", got "${compression}"`,
      );
    }
    coder = new RangeCoder();
  }
  const host = new Host<PeerData>(kHostToken);
  await openHost(host as Host, address ?? null, {
    peerCount,
    channelLimit,
    incomingBandwidth,
    outgoingBandwidth,
    mtu,
    maximumPacketSize,
    maximumWaitingData,
    maximumIncompletePackets,
    duplicatePeers,
    maximumWaitingPackets,
    maximumHostWaitingData,
    maximumHostWaitingPackets,
    maximumHalfOpenPeers,
    maximumHalfOpenPerAddress,
    maximumConnectRate,
    connectRateLimit,
    checksum: crc,
    compressor: coder,
    intercept: intercept ?? null,
    socket,
  }, signal);
  return host;
}

const kHostToken = Symbol("Host");

/** The undelivered events of one connection. */
class EventQueue {
  events: HostEvent[] = [];
  head = 0;
  ready = false;
  constructor(readonly peer: Peer) {}
}
let openHost: (
  host: Host,
  address: Address | null,
  options: ConstructorParameters<typeof HostCore>[0],
  signal?: AbortSignal,
) => Promise<void>;
const CLOSE_GRACE_MS = 1000;
/** Default of `ConnectOptions.timeout`: how long a handshake may take. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * A UDP endpoint speaking ENet 1.3 to any number of peers. Async-iterate it
 * for {@linkcode HostEvent}s (one consumer); packets of channels whose
 * `peer.channel(id).readable` was claimed go there instead.
 *
 * @example
 * ```ts
 * import { createHost } from "@netkit/realtime/enet";
 * await using host = await createHost({ address: { hostname: "0.0.0.0", port: 7777 } });
 * for await (const event of host) {
 *   if (event.type === "receive") event.peer.send(event.channelID, event.data, event.flags);
 * }
 * ```
 */
export class Host<PeerData = unknown>
  implements AsyncIterable<HostEvent<PeerData>>, AsyncDisposable {
  #core!: HostCore;
  // One queue per connection, served round robin: a peer with a backlog
  // delays the others by at most one event each turn. Like FQ-CoDel's new
  // flows, a queue that was empty goes first (`#fresh`), so a peer that sends
  // little is served next instead of after every backlogged peer.
  #queues = new Map<Peer, EventQueue>();
  #fresh: EventQueue[] = [];
  #freshHead = 0;
  #ready: EventQueue[] = [];
  #readyHead = 0;
  #waiter: PromiseWithResolvers<IteratorResult<HostEvent<PeerData>>> | null = null;
  #ended = false;
  #closing: Promise<void> | null = null;
  #idle: PromiseWithResolvers<void> | null = null;
  #rejected = new Map<string, string>();
  #options!: ConstructorParameters<typeof HostCore>[0];
  /** How the socket is bound: `null` until the first connect() of a host created without `address`. */
  #binding: Promise<void> | null = Promise.resolve();
  #signalCleanup: (() => void) | null = null;

  /** Not for direct use: call {@linkcode createHost}, which binds the socket. */
  constructor(token: symbol) {
    if (token !== kHostToken) throw new TypeError("Use createHost() to create a Host");
  }

  static {
    openHost = (host, address, options, signal) => host.#open(address, options, signal);
  }

  async #open(
    address: Address | null,
    options: ConstructorParameters<typeof HostCore>[0],
    signal?: AbortSignal,
  ): Promise<void> {
    const listener: HostCoreListener = {
      onConnectionStart: (core) => {
        core.facade = peerInternals.create(core, this.#core, core.address);
      },
      onConnect: (core, data) => {
        const peer = core.facade as Peer;
        peerInternals.connected(peer);
        this.#push({ type: "connect", peer, data });
      },
      onDisconnect: (core, reason, data, wasConnected) => {
        const peer = core.facade as Peer;
        core.facade = null;
        let error: unknown;
        if (!wasConnected && reason === "timeout") error = this.#connectTimeoutError(core.address);
        peerInternals.closed(peer, reason, data, wasConnected, error);
        if (wasConnected) this.#push({ type: "disconnect", peer, data, reason });
        if (this.#idle !== null && this.#core.active.size === 0) this.#idle.resolve();
      },
      onReceive: (core, channelID, data, flags) => {
        const peer = core.facade as Peer;
        if (!peerInternals.deliver(peer, channelID, data, flags)) {
          this.#push({ type: "receive", peer, channelID, data, flags });
        }
      },
      onReliableProgress: (core) => {
        if (core.facade !== null) peerInternals.reliableProgress(core.facade as Peer);
      },
    };
    const core = new HostCore(options, listener);
    core.onRejected = (address, why) => {
      if (this.#rejected.size > 256) this.#rejected.clear();
      this.#rejected.set(address, why);
    };
    this.#core = core;
    this.#options = options;
    if (address !== null) await core.open(options, address);
    else this.#binding = null;
    if (signal !== undefined) {
      const onAbort = () => void this.close();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#signalCleanup = () => signal.removeEventListener("abort", onAbort);
    }
  }

  #connectTimeoutError(address: Address, ms?: number): DOMException {
    const where = `${address.hostname}:${address.port}`;
    const why = this.#rejected.get(where);
    const hint = why === undefined
      ? 'no datagram came back; if the server runs, check that "checksum" and "compression" match on both sides (ENet does not negotiate them)'
      : `its datagrams were rejected (${why}); check that "checksum" and "compression" match on both sides (ENet does not negotiate them)`;
    return new DOMException(
      `Connection to "${where}" timed out${
        ms === undefined ? "" : ` after ${ms} ms`
      } (ERR_CONNECT_TIMEOUT): ${hint}`,
      "TimeoutError",
    );
  }

  #push(event: HostEvent): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      this.#consumed(event);
      waiter.resolve({ value: event as HostEvent<PeerData>, done: false });
      return;
    }
    let queue = this.#queues.get(event.peer);
    if (queue === undefined) {
      queue = new EventQueue(event.peer);
      this.#queues.set(event.peer, queue);
    }
    queue.events.push(event);
    if (!queue.ready) {
      queue.ready = true;
      this.#fresh.push(queue);
    }
  }

  #consumed(event: HostEvent): void {
    if (event.type === "receive") {
      this.#core.consumed(peerInternals.core(event.peer), event.data.length);
    }
  }

  /** The next event in round-robin order over the peers' queues, or undefined. */
  #take(): HostEvent<PeerData> | undefined {
    const ready = this.#ready;
    let queue: EventQueue;
    if (this.#freshHead < this.#fresh.length) {
      queue = this.#fresh[this.#freshHead++];
      if (this.#freshHead === this.#fresh.length) {
        this.#fresh.length = 0;
        this.#freshHead = 0;
      }
    } else if (this.#readyHead < ready.length) queue = ready[this.#readyHead++];
    else return undefined;
    const event = queue.events[queue.head++];
    if (queue.head < queue.events.length) {
      if (queue.head > 1024 && queue.head * 2 > queue.events.length) {
        queue.events.splice(0, queue.head);
        queue.head = 0;
      }
      ready.push(queue);
    } else {
      queue.ready = false;
      this.#queues.delete(queue.peer);
    }
    if (this.#readyHead === ready.length) {
      ready.length = 0;
      this.#readyHead = 0;
    } else if (this.#readyHead > 1024 && this.#readyHead * 2 > ready.length) {
      ready.splice(0, this.#readyHead);
      this.#readyHead = 0;
    }
    this.#consumed(event);
    return event as HostEvent<PeerData>;
  }

  #next(): Promise<IteratorResult<HostEvent<PeerData>>> {
    const event = this.#take();
    if (event !== undefined) return Promise.resolve({ value: event, done: false });
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    this.#waiter ??= Promise.withResolvers();
    return this.#waiter.promise;
  }

  /** Events in arrival order until the host is closed. */
  [Symbol.asyncIterator](): AsyncIterator<HostEvent<PeerData>> {
    return {
      next: () => this.#next(),
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }

  /**
   * Takes every event already queued without waiting (for tight loops that
   * want to avoid one promise per event). Returns an empty array when none.
   */
  drainEvents(): HostEvent<PeerData>[] {
    const events: HostEvent<PeerData>[] = [];
    for (let event = this.#take(); event !== undefined; event = this.#take()) events.push(event);
    return events;
  }

  /**
   * The address the socket is bound to. A host created without `address`
   * binds at its first `connect()`; until then this is `0.0.0.0` port 0.
   */
  get address(): Address {
    return this.#core.socket?.address ?? { hostname: "0.0.0.0", port: 0 };
  }

  /** Connected peers. */
  get peers(): Peer<PeerData>[] {
    const peers: Peer<PeerData>[] = [];
    for (const core of this.#core.active) {
      if (core.state === ENET_PEER_STATE_CONNECTED && core.facade !== null) {
        peers.push(core.facade as Peer<PeerData>);
      }
    }
    return peers;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /** Bytes received from peers and not yet consumed by the application, host-wide. */
  get waitingData(): number {
    return this.#core.waitingData;
  }
  /** Packets received and not yet consumed, host-wide. */
  get waitingPackets(): number {
    return this.#core.waitingPackets;
  }

  /** Bytes sent by this host's socket. */
  get totalSentData(): number {
    return this.#core.totalSentData;
  }
  /** Datagrams sent. */
  get totalSentPackets(): number {
    return this.#core.totalSentPackets;
  }
  /** Bytes received. */
  get totalReceivedData(): number {
    return this.#core.totalReceivedData;
  }
  /** Datagrams received. */
  get totalReceivedPackets(): number {
    return this.#core.totalReceivedPackets;
  }

  /**
   * Connects to a remote host; resolves once the handshake completes.
   *
   * A name (`"localhost"`, a hosts-file entry, DNS) is resolved first, to an
   * IPv4 address when there is one (like C), else IPv6; that needs
   * `--allow-net` for the name. `peer.address` is the IP address used. A
   * host created without `address` binds now, to the loopback of the
   * target's family when the target is a loopback address (so
   * `--allow-net=127.0.0.1` suffices), else to the wildcard address of its
   * family: give `address` to reach both loopback and other hosts.
   *
   * @throws {EnetError} `ERR_PEER_TABLE_FULL` when every slot is in use
   * (`limit` = the host's `peerCount`), `ERR_HOST_CLOSED` on a closed host.
   * @throws {EnetTypeError} `ERR_INVALID_OPTION` for an option out of range.
   * Rejects with a `TimeoutError` (`ERR_CONNECT_TIMEOUT`) when no handshake
   * completes within `timeout` ms, `EnetError` `ERR_CONNECT_REFUSED`
   * when the remote refuses, `EnetTypeError` `ERR_INVALID_ADDRESS` when the
   * name does not resolve, `AbortError` on abort.
   */
  async connect(address: Address, options: ConnectOptions = {}): Promise<Peer<PeerData>> {
    const {
      channelCount = 1,
      data = 0,
      signal,
      timeout = DEFAULT_CONNECT_TIMEOUT_MS,
      mtu = this.#core.mtu,
    } = options;
    this.#requireOpen();
    signal?.throwIfAborted();
    checkInteger(
      "channelCount",
      channelCount,
      ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT,
      ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT,
    );
    checkInteger("mtu", mtu, ENET_PROTOCOL_MINIMUM_MTU, ENET_PROTOCOL_MAXIMUM_MTU);
    const deadlineMs = typeof timeout === "number" ? timeout : DEFAULT_CONNECT_TIMEOUT_MS;
    checkInteger("timeout", deadlineMs, 1, 0x7FFFFFFF);
    const target = await this.#resolve(address);
    signal?.throwIfAborted();
    if (this.#binding === null) this.#binding = this.#bindFor(target.hostname);
    await this.#binding;
    signal?.throwIfAborted();
    this.#requireOpen();
    const core = this.#core.connect(target, channelCount, data, mtu);
    if (core === null) {
      throw new EnetError(
        "ERR_PEER_TABLE_FULL",
        `All "${this.#core.peerCount}" peer slots are in use`,
        { limit: this.#core.peerCount },
      );
    }
    const peer = core.facade as Peer<PeerData>;
    if (typeof timeout === "object") peer.setTimeout(timeout);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      peer.reset();
    }, deadlineMs);
    const onAbort = () => peer.reset();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await peerInternals.waitConnected(peer);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timedOut) throw this.#connectTimeoutError(target, deadlineMs);
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    return peer;
  }

  /** `address` with its hostname as the socket reports sources: an IP literal in canonical form. */
  async #resolve(address: Address): Promise<Address> {
    const literal = canonicalIP(address.hostname);
    if (literal !== null) return { hostname: literal, port: address.port };
    let results: { address: string; family: number }[];
    try {
      const { lookup } = await import("node:dns/promises");
      results = await lookup(address.hostname, { all: true });
    } catch (cause) {
      throw new EnetTypeError(
        "ERR_INVALID_ADDRESS",
        `Cannot resolve "${address.hostname}": ${(cause as Error).message}`,
        { cause },
      );
    }
    const bound = this.#core.socket?.address.hostname;
    // A socket bound to an IPv4 address reaches only IPv4; one bound to a
    // specific IPv6 address only IPv6; otherwise IPv4 first, as C does.
    const families = bound === undefined || bound === "::"
      ? [4, 6]
      : bound.includes(":")
      ? [6]
      : [4];
    for (const family of families) {
      const found = results.find((result) => result.family === family);
      if (found !== undefined) {
        return { hostname: canonicalIP(found.address) ?? found.address, port: address.port };
      }
    }
    throw new EnetTypeError(
      "ERR_INVALID_ADDRESS",
      `"${address.hostname}" has no IPv${families[0]} address for a socket bound to "${bound}"`,
    );
  }

  /** Binds a host created without `address` for its first target. */
  async #bindFor(hostname: string): Promise<void> {
    const ipv6 = hostname.includes(":");
    const loopback = ipv6 ? hostname === "::1" : hostname.startsWith("127.");
    const address = {
      hostname: loopback ? (ipv6 ? "::1" : "127.0.0.1") : (ipv6 ? "::" : "0.0.0.0"),
      port: 0,
    };
    try {
      await this.#core.open(this.#options, address);
      if (this.#core.closed) await this.#core.socket.close(); // closed while binding
    } catch (error) {
      this.#binding = null; // a later connect() may try again
      throw error;
    }
  }

  /**
   * Sends `data` to every connected peer (peers without channel `channelID`
   * are skipped), sharing one copy of the payload; `except` is left out (the
   * usual "relay to everyone else" of a game server).
   */
  broadcast(
    channelID: number,
    data: PacketData,
    flags: number = ENET_PACKET_FLAG_RELIABLE,
    except?: Peer<PeerData>,
  ): void {
    this.#requireOpen();
    const bytes = packetBytes(data);
    if (bytes.length > this.#core.maximumPacketSize) {
      throw new EnetRangeError(
        "ERR_PACKET_TOO_LARGE",
        `Packet of "${bytes.length}" bytes exceeds maximumPacketSize "${this.#core.maximumPacketSize}"`,
        { size: bytes.length, limit: this.#core.maximumPacketSize },
      );
    }
    const packet = new OutgoingPacket(bytes, flags & 0xFF);
    for (const core of this.#core.active) {
      if (
        core.state === ENET_PEER_STATE_CONNECTED && channelID < core.channels.length &&
        (except === undefined || core.facade !== except)
      ) {
        core.send(channelID, packet);
      }
    }
  }

  /** Sends everything queued now instead of at the end of the current task. */
  flush(): void {
    if (this.#closing === null) this.#core.flush();
  }

  /** Changes the host's bandwidth limits (bytes/second, 0 = unlimited); peers are told within a second. */
  setBandwidthLimit(incomingBandwidth: number, outgoingBandwidth: number): void {
    checkInteger("incomingBandwidth", incomingBandwidth, 0, 0xFFFFFFFF);
    checkInteger("outgoingBandwidth", outgoingBandwidth, 0, 0xFFFFFFFF);
    this.#core.incomingBandwidth = incomingBandwidth;
    this.#core.outgoingBandwidth = outgoingBandwidth;
    this.#core.recalculateBandwidthLimits = true;
    this.#core.wake();
  }

  /** Changes how many channels new incoming connections may use (0 = 255). */
  setChannelLimit(channelLimit: number): void {
    checkInteger("channelLimit", channelLimit, 0, ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT);
    this.#core.channelLimit = channelLimit === 0
      ? ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT
      : channelLimit;
  }

  #requireOpen(): void {
    if (this.#closing !== null) throw new EnetError("ERR_HOST_CLOSED", "Host is closed");
  }

  /**
   * Disconnects every peer (waiting up to 1 s for acknowledgements, then
   * dropping the rest), ends event iteration and releases the socket.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#signalCleanup?.();
    const core = this.#core;
    for (const peer of [...core.active]) {
      if (peer.state === ENET_PEER_STATE_CONNECTED) {
        peer.acknowledgeBeforeDisconnect();
        peer.disconnect(0);
      }
    }
    const connected = [...core.active].some((peer) => peer.state === ENET_PEER_STATE_DISCONNECTING);
    if (connected) {
      this.#idle = Promise.withResolvers();
      core.flush();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#idle.promise,
        new Promise<void>((resolve) => timer = setTimeout(resolve, CLOSE_GRACE_MS)),
      ]);
      clearTimeout(timer);
    }
    for (const peer of [...core.active]) {
      peer.acknowledgeBeforeDisconnect();
      peer.disconnectNow(0);
    }
    await core.shutdown();
    this.#ended = true;
    if (this.#waiter !== null) {
      this.#waiter.resolve({ value: undefined, done: true });
      this.#waiter = null;
    }
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
