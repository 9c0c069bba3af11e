/**
 * A connection to a remote ENet host: sending, disconnecting, tuning and
 * statistics, plus web streams per channel.
 *
 * @module
 */

import { OutgoingPacket } from "./_commands.ts";
import type { HostCore } from "./_host_core.ts";
import { peerInternals } from "./_internal.ts";
import { packetBytes, type PacketData } from "./_slab.ts";
import type { DisconnectReason, PeerCore, PeerStatistics } from "./_peer_core.ts";
import {
  ENET_PACKET_FLAG_RELIABLE,
  ENET_PEER_PACKET_LOSS_SCALE,
  ENET_PEER_PACKET_THROTTLE_SCALE,
  ENET_PEER_STATE_CONNECTED,
  ENET_PEER_STATE_DISCONNECTED,
  ENET_PROTOCOL_MAXIMUM_FRAGMENT_COUNT,
  ENetProtocolHeader,
  ENetProtocolSendFragment,
} from "./_protocol.ts";
import type { Address } from "./_socket.ts";
import { EnetError, EnetRangeError } from "./errors.ts";

export type { Address } from "./_socket.ts";
export type { DisconnectReason } from "./_peer_core.ts";
export type { PacketData } from "./_slab.ts";

/** Connection states of C ENet's `ENetPeerState`, in lower snake case. */
export type PeerState =
  | "disconnected"
  | "connecting"
  | "acknowledging_connect"
  | "connection_pending"
  | "connection_succeeded"
  | "connected"
  | "disconnect_later"
  | "disconnecting"
  | "acknowledging_disconnect"
  | "zombie";

const STATE_NAMES: readonly PeerState[] = [
  "disconnected",
  "connecting",
  "acknowledging_connect",
  "connection_pending",
  "connection_succeeded",
  "connected",
  "disconnect_later",
  "disconnecting",
  "acknowledging_disconnect",
  "zombie",
];

/** How a connection ended: `peer.closed` resolves with it. */
export interface DisconnectInfo {
  /** `"remote"`: the other side disconnected; `"local"`: we did; `"timeout"`: it stopped answering. */
  reason: DisconnectReason;
  /** The 32-bit value sent with the disconnect (0 for timeouts). */
  data: number;
}

/** Timeout rules of a peer (`enet_peer_timeout`); 0 or missing restores the default. */
export interface PeerTimeoutOptions {
  /** Retransmission doublings before the minimum timeout applies. @default {32} */
  limit?: number;
  /** Milliseconds without acknowledgement after which a peer at `limit` is dropped. @default {5000} */
  minimum?: number;
  /** Milliseconds without acknowledgement after which any peer is dropped. @default {30000} */
  maximum?: number;
}

/** Reliable bytes queued or in flight above which a channel's writable stream waits. */
const WRITABLE_HIGH_WATER_MARK = 1024 * 1024;

/**
 * The two web streams of one channel. Reading `readable` claims the channel:
 * from then on its packets arrive there instead of as host `receive` events
 * (one delivery path, never both). `writable` sends reliably and waits while
 * more than 1 MiB is queued or unacknowledged.
 *
 * @example
 * ```ts
 * import { createHost } from "@netkit/realtime/enet";
 * await using client = await createHost({ peerCount: 1 });
 * const peer = await client.connect({ hostname: "127.0.0.1", port: 7777 }, { channelCount: 2 });
 * const channel = peer.channel(1);
 * const writer = channel.writable.getWriter();
 * await writer.write(new TextEncoder().encode("hello"));
 * for await (const chunk of channel.readable) console.log(chunk.length);
 * ```
 */
export interface PeerChannel {
  /** Channel number. */
  readonly id: number;
  /** Packets of this channel, in delivery order; ends when the peer disconnects. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Reliable writes with backpressure from the peer's send window; chunks as `peer.send()` takes them. */
  readonly writable: WritableStream<PacketData>;
}

class ChannelStreams implements PeerChannel {
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<PacketData> | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #queue: Uint8Array[] = [];
  #pullPending = false;
  #ended = false;
  claimed = false;

  constructor(readonly id: number, readonly peer: Peer<unknown>) {}

  get readable(): ReadableStream<Uint8Array> {
    if (this.#readable === undefined) {
      this.claimed = true;
      this.#readable = new ReadableStream<Uint8Array>({
        start: (controller) => {
          this.#controller = controller;
          if (this.#ended && this.#queue.length === 0) controller.close();
        },
        pull: () => {
          const next = this.#queue.shift();
          if (next !== undefined) {
            this.#controller!.enqueue(next);
            peerInternals.consumed(this.peer, next.length);
            if (this.#ended && this.#queue.length === 0) this.#controller!.close();
          } else if (!this.#ended) this.#pullPending = true;
        },
        cancel: () => {
          this.claimed = false;
          for (const chunk of this.#queue) peerInternals.consumed(this.peer, chunk.length);
          this.#queue.length = 0;
        },
      }, { highWaterMark: 0 });
    }
    return this.#readable;
  }

  get writable(): WritableStream<PacketData> {
    if (this.#writable === undefined) {
      this.#writable = new WritableStream<PacketData>({
        // Not async: under the high-water mark a write completes without a promise of its own.
        write: (chunk) => {
          this.peer.send(this.id, chunk, ENET_PACKET_FLAG_RELIABLE);
          return peerInternals.drained(this.peer);
        },
      });
    }
    return this.#writable;
  }

  push(data: Uint8Array): void {
    if (this.#pullPending) {
      this.#pullPending = false;
      this.#controller!.enqueue(data);
      peerInternals.consumed(this.peer, data.length);
    } else this.#queue.push(data);
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#controller !== undefined && this.#queue.length === 0) {
      try {
        this.#controller.close();
      } catch { /* already closed or cancelled */ }
    }
  }
}

const kToken = Symbol("Peer");

/**
 * One connection of a {@linkcode Host}. A new `Peer` object is created per
 * connection; after the connection ends it stays readable (`state` is
 * `"disconnected"`, `closed` is settled) and every operation on it throws or
 * does nothing.
 *
 * @example
 * ```ts
 * import { createHost, PacketFlag } from "@netkit/realtime/enet";
 *
 * await using client = await createHost({ peerCount: 1 });
 * const peer = await client.connect({ hostname: "127.0.0.1", port: 7777 });
 * peer.send(0, new TextEncoder().encode("hi"), PacketFlag.RELIABLE);
 * peer.disconnect(7);
 * console.log(await peer.closed); // { reason: "local", data: 7 }
 * ```
 */
export class Peer<Data = unknown> {
  /**
   * The application's own value for this connection (C's `peer->data`):
   * a player record, a session. The host never reads it; it stays set after
   * the connection ends. Type it with `createHost<Data>()`.
   */
  data: Data | undefined = undefined;
  #core: PeerCore;
  #statistics: PeerStatistics | null = null;
  #host: HostCore;
  #generation: number;
  #address: Address;
  #closed = Promise.withResolvers<DisconnectInfo>();
  #connected = Promise.withResolvers<void>();
  #isClosed = false;
  #channels = new Map<number, ChannelStreams>();
  #drainWaiters: PromiseWithResolvers<void>[] = [];

  static {
    peerInternals.create = (core, host, address) => new Peer(kToken, core, host, address);
    peerInternals.core = (peer) => peer.#current();
    peerInternals.connected = (peer) => peer.#connected.resolve();
    peerInternals.closed = (peer, reason, data, wasConnected, error) =>
      peer.#onClosed(reason, data, wasConnected, error);
    peerInternals.deliver = (peer, channelID, data) => {
      const channel = peer.#channels.get(channelID);
      if (channel === undefined || !channel.claimed) return false;
      channel.push(data);
      return true;
    };
    peerInternals.reliableProgress = (peer) => {
      if (peer.#drainWaiters.length === 0) return;
      const core = peer.#current();
      if (core !== null && core.reliableDataPending > WRITABLE_HIGH_WATER_MARK) return;
      for (const waiter of peer.#drainWaiters.splice(0)) waiter.resolve();
    };
    peerInternals.waitConnected = (peer) => peer.#connected.promise;
    peerInternals.consumed = (peer, bytes) => peer.#consumedBytes(bytes);
    peerInternals.drained = (peer) => peer.#drained();
  }

  /** Created by the host; not constructible from outside. */
  private constructor(token: symbol, core: PeerCore, host: HostCore, address: Address) {
    if (token !== kToken) throw new TypeError("Peer objects are created by a Host");
    this.#core = core;
    this.#host = host;
    this.#generation = core.generation;
    this.#address = { hostname: address.hostname, port: address.port };
    this.#closed.promise.catch(() => {});
    this.#connected.promise.catch(() => {});
  }

  #current(): PeerCore | null {
    return !this.#isClosed && this.#core.generation === this.#generation ? this.#core : null;
  }

  #require(): PeerCore {
    const core = this.#current();
    if (core === null) {
      throw new EnetError("ERR_PEER_NOT_CONNECTED", 'Peer is "disconnected"');
    }
    return core;
  }

  #onClosed(reason: DisconnectReason, data: number, wasConnected: boolean, error?: unknown): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    // The slot's figures are reset with it; this connection keeps its last ones.
    const core = this.#core;
    this.#statistics = core.generation === this.#generation && core.lastStatistics !== null
      ? core.lastStatistics
      : this.#stats();
    this.#closed.resolve({ reason, data });
    if (!wasConnected) {
      this.#connected.reject(
        error ??
          new EnetError(
            "ERR_CONNECT_REFUSED",
            `Connection to "${this.#address.hostname}:${this.#address.port}" was refused`,
          ),
      );
    }
    for (const channel of this.#channels.values()) channel.end();
    const disconnected = new EnetError("ERR_PEER_DISCONNECTED", "Peer disconnected");
    for (const waiter of this.#drainWaiters.splice(0)) waiter.reject(disconnected);
  }

  /** The live figures, or the last ones once this connection ended. */
  #stats(): PeerStatistics {
    return this.#statistics ?? this.#core;
  }

  #consumedBytes(bytes: number): void {
    const core = this.#core;
    this.#host.consumed(core.generation === this.#generation ? core : null, bytes);
  }

  #drained(): Promise<void> | undefined {
    const core = this.#require();
    if (core.reliableDataPending <= WRITABLE_HIGH_WATER_MARK) return undefined;
    const waiter = Promise.withResolvers<void>();
    this.#drainWaiters.push(waiter);
    return waiter.promise;
  }

  /** Remote address of the peer. */
  get address(): Address {
    return this.#address;
  }

  /** Index of the peer in its host's peer table (C's `incomingPeerID`). */
  get id(): number {
    return this.#core.incomingPeerID;
  }

  /** Connection state; `"disconnected"` once this connection has ended. */
  get state(): PeerState {
    const core = this.#current();
    return core === null ? "disconnected" : STATE_NAMES[core.state];
  }

  /** Settles once when the connection ends, with the reason and data. */
  get closed(): Promise<DisconnectInfo> {
    return this.#closed.promise;
  }

  /** Number of channels negotiated for this connection. */
  get channelCount(): number {
    return this.#current()?.channels.length ?? 0;
  }

  /** Negotiated MTU in bytes. */
  get mtu(): number {
    return this.#stats().mtu;
  }

  /**
   * Smoothed round-trip time in milliseconds (starts at 500 like C). This and
   * the other figures keep their last value after the connection ends.
   */
  get roundTripTime(): number {
    return this.#stats().roundTripTime;
  }

  /** Round-trip time variance in milliseconds. */
  get roundTripTimeVariance(): number {
    return this.#stats().roundTripTimeVariance;
  }

  /** Mean loss of reliable packets over 10 s windows, as a ratio 0..1. */
  get packetLoss(): number {
    return this.#stats().packetLoss / ENET_PEER_PACKET_LOSS_SCALE;
  }

  /** Unreliable packet throttle as a ratio 0..1 (1 = nothing dropped). */
  get packetThrottle(): number {
    return this.#stats().packetThrottle / ENET_PEER_PACKET_THROTTLE_SCALE;
  }

  /** Bytes received from this peer (C resets it each bandwidth-throttle second). */
  get incomingDataTotal(): number {
    return this.#stats().incomingDataTotal;
  }

  /** Bytes queued to this peer (C resets it each bandwidth-throttle second). */
  get outgoingDataTotal(): number {
    return this.#stats().outgoingDataTotal;
  }

  /** Bytes received from this peer and not yet consumed (C's `totalWaitingData`). */
  get waitingData(): number {
    return this.#current()?.totalWaitingData ?? 0;
  }

  /** Reliable payload bytes sent and not yet acknowledged. */
  get reliableDataInTransit(): number {
    return this.#current()?.reliableDataInTransit ?? 0;
  }

  /**
   * Queues `data` on `channelID`. Strings are sent as UTF-8.
   *
   * @param flags {@linkcode PacketFlag} bits. @default {PacketFlag.RELIABLE}
   * @throws {EnetError} `ERR_PEER_NOT_CONNECTED` unless the peer is connected.
   * @throws {EnetRangeError} `ERR_CHANNEL_OUT_OF_RANGE`, `ERR_PACKET_TOO_LARGE`.
   */
  send(
    channelID: number,
    data: PacketData,
    flags: number = ENET_PACKET_FLAG_RELIABLE,
  ): void {
    this.#send(channelID, data, flags);
  }

  /**
   * Sends `data` reliably and resolves when the remote host has acknowledged
   * every fragment of it; rejects with an `AbortError` if the connection ends first.
   */
  sendAcknowledged(channelID: number, data: PacketData): Promise<void> {
    try {
      const packet = this.#send(channelID, data, ENET_PACKET_FLAG_RELIABLE, true);
      return packet.acknowledged!.promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #send(
    channelID: number,
    data: PacketData,
    flags: number,
    acknowledged = false,
  ): OutgoingPacket {
    const core = this.#require();
    if (core.state !== ENET_PEER_STATE_CONNECTED) {
      throw new EnetError("ERR_PEER_NOT_CONNECTED", `Peer is "${STATE_NAMES[core.state]}"`);
    }
    if (!Number.isInteger(channelID) || channelID < 0 || channelID >= core.channels.length) {
      throw new EnetRangeError(
        "ERR_CHANNEL_OUT_OF_RANGE",
        `Channel "${channelID}" is outside 0..${core.channels.length - 1}`,
        { limit: core.channels.length },
      );
    }
    const bytes = packetBytes(data);
    const fragmentLength = core.mtu - ENetProtocolHeader.size - ENetProtocolSendFragment.size -
      this.#host.checksumSize;
    if (
      bytes.length > this.#host.maximumPacketSize ||
      Math.ceil(bytes.length / fragmentLength) > ENET_PROTOCOL_MAXIMUM_FRAGMENT_COUNT
    ) {
      throw new EnetRangeError(
        "ERR_PACKET_TOO_LARGE",
        `Packet of "${bytes.length}" bytes exceeds maximumPacketSize "${this.#host.maximumPacketSize}"`,
        { size: bytes.length, limit: this.#host.maximumPacketSize },
      );
    }
    const packet = new OutgoingPacket(bytes, flags & 0xFF);
    if (acknowledged) packet.acknowledged = Promise.withResolvers<void>();
    core.send(channelID, packet);
    return packet;
  }

  /** Graceful disconnect: the `disconnect` event follows the remote's acknowledgement. */
  disconnect(data = 0): void {
    const core = this.#current();
    core?.acknowledgeBeforeDisconnect();
    core?.disconnect(data >>> 0);
  }

  /** Sends an unreliable disconnect and drops the connection at once (no waiting). */
  disconnectNow(data = 0): void {
    const core = this.#current();
    core?.acknowledgeBeforeDisconnect();
    core?.disconnectNow(data >>> 0);
  }

  /** Disconnects once everything queued has been sent and acknowledged. */
  disconnectLater(data = 0): void {
    const core = this.#current();
    core?.acknowledgeBeforeDisconnect();
    core?.disconnectLater(data >>> 0);
  }

  /** Drops the connection without telling the remote (it will time out). */
  reset(): void {
    this.#current()?.resetConnection("local", 0, true);
  }

  /** Sends a ping now (pings also go out automatically when idle). */
  ping(): void {
    this.#current()?.ping();
  }

  /** Sets the timeout rules (`enet_peer_timeout`); missing or 0 values restore defaults. */
  setTimeout(options: PeerTimeoutOptions = {}): void {
    const { limit = 0, minimum = 0, maximum = 0 } = options;
    const core = this.#current();
    if (core === null) return;
    core.timeoutLimit = limit > 0 ? limit : 32;
    core.timeoutMinimum = minimum > 0 ? minimum : 5000;
    core.timeoutMaximum = maximum > 0 ? maximum : 30000;
  }

  /** Sets the keep-alive ping interval in milliseconds (0 restores 500). */
  setPingInterval(ms: number): void {
    const core = this.#current();
    if (core !== null) core.pingInterval = ms > 0 ? ms : 500;
  }

  /**
   * Configures the unreliable packet throttle here and on the remote side
   * (`enet_peer_throttle_configure`, sends THROTTLE_CONFIGURE).
   */
  configureThrottle(interval: number, acceleration: number, deceleration: number): void {
    const core = this.#current();
    if (core === null || core.state === ENET_PEER_STATE_DISCONNECTED) return;
    core.throttleConfigure(interval >>> 0, acceleration >>> 0, deceleration >>> 0);
  }

  /**
   * Web streams of channel `id`. Reading its `readable` routes that
   * channel's packets there instead of to the host's `receive` events.
   *
   * @throws {EnetRangeError} `ERR_CHANNEL_OUT_OF_RANGE`
   */
  channel(id: number): PeerChannel {
    let channel = this.#channels.get(id);
    if (channel === undefined) {
      const count = this.#current()?.channels.length ?? 255;
      if (!Number.isInteger(id) || id < 0 || id >= count) {
        throw new EnetRangeError(
          "ERR_CHANNEL_OUT_OF_RANGE",
          `Channel "${id}" is outside 0..${count - 1}`,
          { limit: count },
        );
      }
      channel = new ChannelStreams(id, this);
      if (this.#isClosed) channel.end();
      this.#channels.set(id, channel);
    }
    return channel;
  }
}
