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
import { copyBytes } from "./_slab.ts";
import type { PeerCore } from "./_peer_core.ts";
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
  NETKIT_DEFAULT_MAXIMUM_INCOMPLETE_PACKETS,
} from "./_protocol.ts";
import type { Address } from "./_socket.ts";
import { EnetRangeError, EnetStateError } from "./errors.ts";
import type { DisconnectReason, Peer, PeerTimeoutOptions } from "./peer.ts";

/** A peer connected (both for `connect()` and for incoming connections). */
export interface ConnectEvent {
  /** Discriminant. */
  type: "connect";
  /** The new connection. */
  peer: Peer;
  /** The 32-bit value the remote sent with its CONNECT (0 for outgoing connections). */
  data: number;
}

/** A packet arrived. */
export interface ReceiveEvent {
  /** Discriminant. */
  type: "receive";
  /** Sender. */
  peer: Peer;
  /** Channel the packet came on. */
  channelID: number;
  /** Payload (owned by the receiver). */
  data: Uint8Array;
  /** {@linkcode PacketFlag} bits it was sent with (0 = unreliable sequenced). */
  flags: number;
}

/** A connection ended. */
export interface DisconnectEvent {
  /** Discriminant. */
  type: "disconnect";
  /** The connection that ended. */
  peer: Peer;
  /** The 32-bit value sent with the disconnect (0 on timeout). */
  data: number;
  /** Who ended it. */
  reason: DisconnectReason;
}

/** What iterating a {@linkcode Host} yields. */
export type HostEvent = ConnectEvent | ReceiveEvent | DisconnectEvent;

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
  /** Address to bind; omit for an ephemeral client port. @default {{ hostname: "0.0.0.0", port: 0 }} */
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
  /** Per-peer bytes received but not yet consumed (incl. partial fragments) before new packets are refused. @default {33554432} */
  maximumWaitingData?: number;
  /** Per-peer fragmented packets that may be incomplete at once. @default {64} */
  maximumIncompletePackets?: number;
  /** Most connections from one IP address. @default {4095} */
  duplicatePeers?: number;
  /**
   * Connect-flood protection, wire-compatible with stock clients: peers that
   * sent CONNECT but have not acknowledged VERIFY_CONNECT ("half-open") are
   * capped; when the cap is reached or the peer table is full, the oldest
   * half-open peer is dropped for the newcomer. Spoofed CONNECTs never
   * acknowledge, real clients do within one round trip, so they get in while
   * a flood runs. Connected peers are never affected. @default {peerCount}
   */
  maximumHalfOpenPeers?: number;
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
  /** `"node"` forces the `node:dgram` socket even when `Deno.listenDatagram` exists. @default {"auto"} */
  socket?: "auto" | "node";
}

/** Options of `Host.connect()`. */
export interface ConnectOptions {
  /** Channels to ask for, 1..255 (the server may grant fewer). @default {1} */
  channelCount?: number;
  /** 32-bit value delivered with the server's `connect` event. @default {0} */
  data?: number;
  /** Aborts the attempt (the peer is dropped). */
  signal?: AbortSignal;
  /** Timeout rules for the handshake and the connection (see `peer.setTimeout`). */
  timeout?: PeerTimeoutOptions;
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
    throw new EnetRangeError(
      "ERR_INVALID_OPTION",
      `Option "${name}" must be an integer in ${min}..${max}, got "${value}"`,
    );
  }
  return value;
}

/**
 * Creates a host bound to `options.address` (or an ephemeral port).
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
 */
export async function createHost(options: HostOptions = {}): Promise<Host> {
  const {
    address = { hostname: "0.0.0.0", port: 0 },
    peerCount = 64,
    channelLimit = ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT,
    incomingBandwidth = 0,
    outgoingBandwidth = 0,
    mtu = ENET_HOST_DEFAULT_MTU,
    maximumPacketSize = ENET_HOST_DEFAULT_MAXIMUM_PACKET_SIZE,
    maximumWaitingData = ENET_HOST_DEFAULT_MAXIMUM_WAITING_DATA,
    maximumIncompletePackets = NETKIT_DEFAULT_MAXIMUM_INCOMPLETE_PACKETS,
    duplicatePeers = ENET_PROTOCOL_MAXIMUM_PEER_ID,
    maximumHalfOpenPeers = peerCount,
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
  checkInteger("maximumHalfOpenPeers", maximumHalfOpenPeers, 1, ENET_PROTOCOL_MAXIMUM_PEER_ID);
  if (connectRateLimit !== undefined) {
    checkInteger("connectRateLimit.perSecond", connectRateLimit.perSecond, 1, 1_000_000);
    checkInteger("connectRateLimit.burst", connectRateLimit.burst ?? 1, 1, 1_000_000);
  }
  signal?.throwIfAborted();
  const crc = checksum ? (data: Uint8Array) => enetCrc32(data) : null;
  let coder: CoreCompressor | null = compressor ?? null;
  if (coder === null && compression !== undefined) {
    if (compression !== "range-coder") {
      throw new EnetRangeError(
        "ERR_INVALID_OPTION",
        `Option "compression" must be "range-coder", got "${compression}"`,
      );
    }
    coder = new RangeCoder();
  }
  const host = new Host(kHostToken);
  await openHost(host, {
    address,
    peerCount,
    channelLimit,
    incomingBandwidth,
    outgoingBandwidth,
    mtu,
    maximumPacketSize,
    maximumWaitingData,
    maximumIncompletePackets,
    duplicatePeers,
    maximumHalfOpenPeers,
    connectRateLimit,
    checksum: crc,
    compressor: coder,
    intercept: intercept ?? null,
    forceNodeSocket: socket === "node",
  }, signal);
  return host;
}

const kHostToken = Symbol("Host");
let openHost: (
  host: Host,
  options: ConstructorParameters<typeof HostCore>[0],
  signal?: AbortSignal,
) => Promise<void>;
const CLOSE_GRACE_MS = 1000;

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
export class Host implements AsyncIterable<HostEvent>, AsyncDisposable {
  #core!: HostCore;
  #events: HostEvent[] = [];
  #eventHead = 0;
  #waiter: PromiseWithResolvers<IteratorResult<HostEvent>> | null = null;
  #ended = false;
  #closing: Promise<void> | null = null;
  #idle: PromiseWithResolvers<void> | null = null;
  #rejected = new Map<string, string>();
  #signalCleanup: (() => void) | null = null;

  /** Not for direct use: call {@linkcode createHost}, which binds the socket. */
  constructor(token: symbol) {
    if (token !== kHostToken) throw new TypeError("Use createHost() to create a Host");
  }

  static {
    openHost = (host, options, signal) => host.#open(options, signal);
  }

  async #open(
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
        if (!wasConnected && reason === "timeout") error = this.#connectTimeoutError(core);
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
    await core.open(options);
    if (signal !== undefined) {
      const onAbort = () => void this.close();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#signalCleanup = () => signal.removeEventListener("abort", onAbort);
    }
  }

  #connectTimeoutError(core: PeerCore): DOMException {
    const where = `${core.address.hostname}:${core.address.port}`;
    const why = this.#rejected.get(where);
    const hint = why === undefined
      ? 'no datagram came back; if the server runs, check that "checksum" and "compression" match on both sides (ENet does not negotiate them)'
      : `its datagrams were rejected (${why}); check that "checksum" and "compression" match on both sides (ENet does not negotiate them)`;
    return new DOMException(
      `Connection to "${where}" timed out (ERR_CONNECT_TIMEOUT): ${hint}`,
      "TimeoutError",
    );
  }

  #push(event: HostEvent): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      this.#consumed(event);
      waiter.resolve({ value: event, done: false });
    } else this.#events.push(event);
  }

  #consumed(event: HostEvent): void {
    if (event.type === "receive") {
      const core = peerInternals.core(event.peer);
      if (core !== null) core.totalWaitingData -= event.data.length;
    }
  }

  #next(): Promise<IteratorResult<HostEvent>> {
    if (this.#eventHead < this.#events.length) {
      const event = this.#events[this.#eventHead++];
      if (this.#eventHead === this.#events.length) {
        this.#events.length = 0;
        this.#eventHead = 0;
      } else if (this.#eventHead > 4096 && this.#eventHead * 2 > this.#events.length) {
        this.#events.splice(0, this.#eventHead);
        this.#eventHead = 0;
      }
      this.#consumed(event);
      return Promise.resolve({ value: event, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    this.#waiter ??= Promise.withResolvers();
    return this.#waiter.promise;
  }

  /** Events in arrival order until the host is closed. */
  [Symbol.asyncIterator](): AsyncIterator<HostEvent> {
    return {
      next: () => this.#next(),
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }

  /**
   * Takes every event already queued without waiting (for tight loops that
   * want to avoid one promise per event). Returns an empty array when none.
   */
  drainEvents(): HostEvent[] {
    const events = this.#events.slice(this.#eventHead);
    this.#events.length = 0;
    this.#eventHead = 0;
    for (const event of events) this.#consumed(event);
    return events;
  }

  /** The address the socket is bound to. */
  get address(): Address {
    return this.#core.socket.address;
  }

  /** Connected peers. */
  get peers(): Peer[] {
    const peers: Peer[] = [];
    for (const core of this.#core.active) {
      if (core.state === ENET_PEER_STATE_CONNECTED && core.facade !== null) {
        peers.push(core.facade as Peer);
      }
    }
    return peers;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closing !== null;
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
   * @throws {EnetRangeError} `ERR_PEER_TABLE_FULL` when every slot is in use.
   * Rejects with a `TimeoutError` (`ERR_CONNECT_TIMEOUT`) when nobody answers,
   * `EnetStateError` `ERR_CONNECT_REFUSED` when the remote refuses, `AbortError` on abort.
   */
  async connect(address: Address, options: ConnectOptions = {}): Promise<Peer> {
    const { channelCount = 1, data = 0, signal, timeout, mtu = this.#core.mtu } = options;
    this.#requireOpen();
    signal?.throwIfAborted();
    checkInteger(
      "channelCount",
      channelCount,
      ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT,
      ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT,
    );
    checkInteger("mtu", mtu, ENET_PROTOCOL_MINIMUM_MTU, ENET_PROTOCOL_MAXIMUM_MTU);
    const core = this.#core.connect(address, channelCount, data, mtu);
    if (core === null) {
      throw new EnetRangeError(
        "ERR_PEER_TABLE_FULL",
        `All "${this.#core.peerCount}" peer slots are in use`,
      );
    }
    const peer = core.facade as Peer;
    if (timeout !== undefined) peer.setTimeout(timeout);
    if (signal === undefined) {
      await peerInternals.waitConnected(peer);
      return peer;
    }
    const onAbort = () => peer.reset();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await peerInternals.waitConnected(peer);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw error;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    return peer;
  }

  /**
   * Sends `data` to every connected peer (peers without channel `channelID`
   * are skipped), sharing one copy of the payload; `except` is left out (the
   * usual "relay to everyone else" of a game server).
   */
  broadcast(
    channelID: number,
    data: Uint8Array | string,
    flags: number = ENET_PACKET_FLAG_RELIABLE,
    except?: Peer,
  ): void {
    this.#requireOpen();
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : copyBytes(data);
    if (bytes.length > this.#core.maximumPacketSize) {
      throw new EnetRangeError(
        "ERR_PACKET_TOO_LARGE",
        `Packet of "${bytes.length}" bytes exceeds maximumPacketSize "${this.#core.maximumPacketSize}"`,
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
    if (this.#closing !== null) throw new EnetStateError("ERR_HOST_CLOSED", "Host is closed");
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
      if (peer.state === ENET_PEER_STATE_CONNECTED) peer.disconnect(0);
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
    for (const peer of [...core.active]) peer.disconnectNow(0);
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
