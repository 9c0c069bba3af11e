/**
 * The host engine: C ENet's `protocol.c` and `host.c`. It parses datagrams
 * into commands, runs the handshake, acknowledgements, RTT, retransmission
 * and timeouts, builds outgoing datagrams in one preallocated buffer, and
 * drives everything from socket bursts and a single deadline timer (no
 * polling interval).
 *
 * @module
 */

import {
  ConnectGuard,
  type ConnectRateLimit,
  HALF_OPEN_RESEND_INTERVAL_MS,
  type HalfOpenRecord,
} from "./_connect_guard.ts";
import {
  Channel,
  type IncomingCommand,
  type OutgoingCommand,
  releaseOutgoingCommand,
} from "./_commands.ts";
import type { List } from "./_list.ts";
import { type DisconnectReason, PeerCore, type PeerHost } from "./_peer_core.ts";
import {
  commandSizes,
  ENET_CONTROL_CHANNEL_ID,
  ENET_HOST_BANDWIDTH_THROTTLE_INTERVAL,
  ENET_MAXIMUM_HEADER_SIZE,
  ENET_PACKET_FLAG_RELIABLE,
  ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT,
  ENET_PACKET_FLAG_UNSEQUENCED,
  ENET_PEER_FREE_RELIABLE_WINDOWS,
  ENET_PEER_FREE_UNSEQUENCED_WINDOWS,
  ENET_PEER_PACKET_LOSS_INTERVAL,
  ENET_PEER_PACKET_LOSS_SCALE,
  ENET_PEER_PACKET_THROTTLE_COUNTER,
  ENET_PEER_PACKET_THROTTLE_SCALE,
  ENET_PEER_RELIABLE_WINDOW_SIZE,
  ENET_PEER_RELIABLE_WINDOWS,
  ENET_PEER_STATE_ACKNOWLEDGING_CONNECT,
  ENET_PEER_STATE_ACKNOWLEDGING_DISCONNECT,
  ENET_PEER_STATE_CONNECTED,
  ENET_PEER_STATE_CONNECTING,
  ENET_PEER_STATE_CONNECTION_PENDING,
  ENET_PEER_STATE_CONNECTION_SUCCEEDED,
  ENET_PEER_STATE_DISCONNECT_LATER,
  ENET_PEER_STATE_DISCONNECTED,
  ENET_PEER_STATE_DISCONNECTING,
  ENET_PEER_STATE_ZOMBIE,
  ENET_PEER_UNSEQUENCED_WINDOW_SIZE,
  ENET_PEER_WINDOW_SIZE_SCALE,
  ENET_PROTOCOL_CHECKSUM_SIZE,
  ENET_PROTOCOL_COMMAND_ACKNOWLEDGE,
  ENET_PROTOCOL_COMMAND_BANDWIDTH_LIMIT,
  ENET_PROTOCOL_COMMAND_CONNECT,
  ENET_PROTOCOL_COMMAND_COUNT,
  ENET_PROTOCOL_COMMAND_DISCONNECT,
  ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE,
  ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED,
  ENET_PROTOCOL_COMMAND_MASK,
  ENET_PROTOCOL_COMMAND_NONE,
  ENET_PROTOCOL_COMMAND_PING,
  ENET_PROTOCOL_COMMAND_SEND_FRAGMENT,
  ENET_PROTOCOL_COMMAND_SEND_RELIABLE,
  ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE,
  ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE_FRAGMENT,
  ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED,
  ENET_PROTOCOL_COMMAND_THROTTLE_CONFIGURE,
  ENET_PROTOCOL_COMMAND_VERIFY_CONNECT,
  ENET_PROTOCOL_HEADER_FLAG_COMPRESSED,
  ENET_PROTOCOL_HEADER_FLAG_MASK,
  ENET_PROTOCOL_HEADER_FLAG_SENT_TIME,
  ENET_PROTOCOL_HEADER_MINIMUM_SIZE,
  ENET_PROTOCOL_HEADER_SESSION_MASK,
  ENET_PROTOCOL_HEADER_SESSION_SHIFT,
  ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT,
  ENET_PROTOCOL_MAXIMUM_FRAGMENT_COUNT,
  ENET_PROTOCOL_MAXIMUM_MTU,
  ENET_PROTOCOL_MAXIMUM_PACKET_COMMANDS,
  ENET_PROTOCOL_MAXIMUM_PEER_ID,
  ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE,
  ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT,
  ENET_PROTOCOL_MINIMUM_MTU,
  ENET_PROTOCOL_MINIMUM_WINDOW_SIZE,
  ENetProtocolAcknowledge,
  ENetProtocolBandwidthLimit,
  ENetProtocolCommandHeader,
  ENetProtocolConnect,
  ENetProtocolDisconnect,
  ENetProtocolHeader,
  ENetProtocolPing,
  ENetProtocolSendFragment,
  ENetProtocolSendReliable,
  ENetProtocolSendUnreliable,
  ENetProtocolSendUnsequenced,
  ENetProtocolThrottleConfigure,
  ENetProtocolVerifyConnect,
  NETKIT_SESSION_ID_NONE,
} from "./_protocol.ts";
import { type Address, type DatagramSocket, openDatagramSocket, SendChunk } from "./_socket.ts";

/** Datagram body compressor as the engine calls it. */
export interface CoreCompressor {
  compress(chunks: readonly Uint8Array[], limit: number): Uint8Array | null;
  decompress(data: Uint8Array, limit: number): Uint8Array | null;
}

/** Verdict of an intercept hook on an incoming datagram. */
export type InterceptResult = "drop" | "accept" | "handled";

/** Engine configuration (validated by `createHost`). */
export interface HostCoreOptions {
  peerCount: number;
  channelLimit: number;
  incomingBandwidth: number;
  outgoingBandwidth: number;
  mtu: number;
  maximumPacketSize: number;
  maximumWaitingData: number;
  maximumIncompletePackets: number;
  duplicatePeers: number;
  checksum: ((data: Uint8Array) => number) | null;
  compressor: CoreCompressor | null;
  intercept: ((datagram: Uint8Array, address: Address) => InterceptResult) | null;
  /** Which UDP socket (see `HostOptions.socket`). */
  socket: "auto" | "deno" | "node";
  /** Half-open records before the oldest is forgotten for a new CONNECT. */
  maximumHalfOpenPeers: number;
  /** Half-open records per source IP address. */
  maximumHalfOpenPerAddress: number;
  /** CONNECT datagrams handled per second, host-wide. */
  maximumConnectRate: number;
  /** Per source IP CONNECT rate limit (default: none). */
  connectRateLimit?: ConnectRateLimit;
  /** Per-peer packets received and not yet consumed. */
  maximumWaitingPackets: number;
  /** Host-wide bytes received and not yet consumed before peers over their fair share are refused. */
  maximumHostWaitingData: number;
  /** Host-wide packets received and not yet consumed, likewise. */
  maximumHostWaitingPackets: number;
}

/** What the public layer plugs into the engine. */
export interface HostCoreListener {
  /** A connection starts on a slot: create its public peer object. */
  onConnectionStart(peer: PeerCore): void;
  onConnect(peer: PeerCore, data: number): void;
  onDisconnect(peer: PeerCore, reason: DisconnectReason, data: number, wasConnected: boolean): void;
  onReceive(peer: PeerCore, channelID: number, data: Uint8Array, flags: number): void;
  /** Reliable data of the peer was acknowledged (stream backpressure). */
  onReliableProgress(peer: PeerCore): void;
}

const BODY_OFFSET = ENET_MAXIMUM_HEADER_SIZE;
/** Microtasks a flush may wait for a producer that keeps queueing. */
const MAXIMUM_FLUSH_HOPS = 64;
/**
 * Microtasks a burst's flush waits for the application to answer: an `await`
 * on the host's event iterator resumes one hop after the packet is delivered,
 * a `for await` loop or a stream reader within two.
 */
const BURST_FLUSH_HOPS = 2;
const SESSION_ID_MASK = ENET_PROTOCOL_HEADER_SESSION_MASK >> ENET_PROTOCOL_HEADER_SESSION_SHIFT;

const clock0 = performance.now();
/** Milliseconds since module load, ≥ 1 (C's `enet_time_get`). */
function timeNow(): number {
  return Math.floor(performance.now() - clock0) + 1;
}

function u16(d: Uint8Array, o: number): number {
  return (d[o] << 8) | d[o + 1];
}
function u32(d: Uint8Array, o: number): number {
  return ((d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]) >>> 0;
}

function clampWindow(windowSize: number): number {
  if (windowSize < ENET_PROTOCOL_MINIMUM_WINDOW_SIZE) return ENET_PROTOCOL_MINIMUM_WINDOW_SIZE;
  if (windowSize > ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE) return ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE;
  return windowSize;
}

/** Window from bandwidths (`handle_connect`, `handle_bandwidth_limit`). */
function windowFromBandwidths(a: number, b: number): number {
  if (a === 0 && b === 0) return ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE;
  const bandwidth = a === 0 || b === 0 ? Math.max(a, b) : Math.min(a, b);
  return clampWindow(
    Math.floor(bandwidth / ENET_PEER_WINDOW_SIZE_SCALE) * ENET_PROTOCOL_MINIMUM_WINDOW_SIZE,
  );
}

/** The engine. */
export class HostCore implements PeerHost {
  socket!: DatagramSocket;
  serviceTime: number = timeNow();
  readonly mtu: number;
  readonly maximumPacketSize: number;
  readonly maximumWaitingData: number;
  readonly maximumWaitingPackets: number;
  readonly maximumHostWaitingData: number;
  readonly maximumHostWaitingPackets: number;
  readonly maximumIncompletePackets: number;
  readonly checksumSize: number;
  /** Bytes received from any peer and not yet consumed (incl. ended connections' events). */
  waitingData = 0;
  /** Packets received from any peer and not yet consumed. */
  waitingPackets = 0;
  readonly peerCount: number;
  channelLimit: number;
  incomingBandwidth: number;
  outgoingBandwidth: number;
  readonly duplicatePeers: number;
  readonly checksum: ((data: Uint8Array) => number) | null;
  compressor: CoreCompressor | null;
  intercept: ((datagram: Uint8Array, address: Address) => InterceptResult) | null;

  readonly peers: (PeerCore | undefined)[];
  readonly active: Set<PeerCore> = new Set();
  /** Indices of free slots; the first is offered next, then moved to the back (round robin). */
  readonly #freeSlots = new Set<number>();
  #dirty: PeerCore[] = [];
  #dispatchQueue: PeerCore[] = [];
  #flushScheduled = false;
  #receiving = false;
  /** Set while `serviceTime` was read for the current receive burst (cleared by flush). */
  #burstClock = false;
  #queueTime = 0;
  #queueTimeAtSchedule = 0;
  #flushHops = 0;
  /** Hops {@linkcode HostCore.#flushTask} waits even when nothing new was queued. */
  #flushMinimumHops = 0;
  /** A datagram is being built in the send buffer. */
  #building = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDeadline = Infinity;
  #sendBudget = 0;
  #sendBudgetTime = 0;
  closed = false;
  /** Told when a datagram is rejected for a checksum or compression mismatch. */
  onRejected: ((address: string, why: string) => void) | null = null;

  // Datagrams are built in place in rotating send chunks and handed to the
  // socket without a copy: a chunk is reused once its sends have completed.
  #chunks: SendChunk[] = [new SendChunk()];
  #chunk: SendChunk = this.#chunks[0];
  #buffer: Uint8Array = this.#chunk.bytes;
  #view: DataView = this.#chunk.view;
  /** Where the current datagram's commands start (its header goes just before). */
  #body = BODY_OFFSET;
  #offset = 0;
  #commandCount = 0;
  #packetSize = 0;
  #headerFlags = 0;

  bandwidthThrottleEpoch = 0;
  recalculateBandwidthLimits = false;
  bandwidthLimitedPeers = 0;
  connectedPeers = 0;

  totalSentData = 0;
  totalSentPackets = 0;
  totalReceivedData = 0;
  totalReceivedPackets = 0;

  /** C: the field setup of `enet_host_create` (the socket is opened by {@linkcode HostCore.open}). */
  constructor(options: HostCoreOptions, readonly listener: HostCoreListener) {
    this.mtu = options.mtu;
    this.maximumPacketSize = options.maximumPacketSize;
    this.maximumWaitingData = options.maximumWaitingData;
    this.maximumWaitingPackets = options.maximumWaitingPackets;
    this.maximumHostWaitingData = options.maximumHostWaitingData;
    this.maximumHostWaitingPackets = options.maximumHostWaitingPackets;
    this.maximumIncompletePackets = options.maximumIncompletePackets;
    this.peerCount = options.peerCount;
    this.channelLimit = options.channelLimit;
    this.incomingBandwidth = options.incomingBandwidth;
    this.outgoingBandwidth = options.outgoingBandwidth;
    this.duplicatePeers = options.duplicatePeers;
    this.checksum = options.checksum;
    this.checksumSize = options.checksum ? ENET_PROTOCOL_CHECKSUM_SIZE : 0;
    this.compressor = options.compressor;
    this.intercept = options.intercept;
    this.peers = new Array(options.peerCount);
    for (let i = 0; i < options.peerCount; i++) this.#freeSlots.add(i);
    this.connectGuard = new ConnectGuard({
      maximumHalfOpen: options.maximumHalfOpenPeers,
      maximumHalfOpenPerAddress: options.maximumHalfOpenPerAddress,
      maximumConnectRate: options.maximumConnectRate,
      rate: options.connectRateLimit,
    });
  }

  /** Connect-flood protection (half-open records, budgets, optional per-source rate limit). */
  readonly connectGuard: ConnectGuard;

  // --- waiting data ---------------------------------------------------------------

  /**
   * Whether `peer` may hold `bytes` more of received data (one packet more):
   * within its own bounds, and within the host's budget, or, when the host is
   * over budget, within its fair share of it (budget ÷ connected peers). A
   * refused reliable command is not acknowledged, so the sender retransmits
   * it later (back-pressure on the wire, as C does at `maximumWaitingData`).
   *
   * `unblocks`: the command is the one a channel's queued out-of-order
   * commands wait for. Those may have filled the bound, and refusing the one
   * that releases them would wait forever (C can), so it may take the bound
   * up to twice its size.
   *
   * C: the `totalWaitingData >= maximumWaitingData` test of
   * `enet_peer_queue_incoming_command`; the packet count and host budget are netkit's.
   */
  admitWaiting(peer: PeerCore, bytes: number, unblocks = false): boolean {
    const factor = unblocks ? 2 : 1;
    if (
      peer.totalWaitingData + bytes > factor * this.maximumWaitingData ||
      peer.waitingPackets >= factor * this.maximumWaitingPackets
    ) return false;
    if (
      this.waitingData + bytes <= factor * this.maximumHostWaitingData &&
      this.waitingPackets < factor * this.maximumHostWaitingPackets
    ) return true;
    const shares = Math.max(1, this.connectedPeers);
    return peer.totalWaitingData + bytes <= factor * this.maximumHostWaitingData / shares &&
      peer.waitingPackets < factor * this.maximumHostWaitingPackets / shares;
  }

  /**
   * The application consumed a packet of `bytes` (of `peer`'s current connection, if given).
   *
   * C: the `totalWaitingData` decrement of `enet_peer_receive`.
   */
  consumed(peer: PeerCore | null, bytes: number): void {
    this.waitingData -= bytes;
    this.waitingPackets--;
    if (peer !== null) {
      peer.totalWaitingData -= bytes;
      peer.waitingPackets--;
    }
  }

  /** Opens the socket, bound to `address`. C: the socket half of `enet_host_create`. */
  async open(options: HostCoreOptions, address: Address): Promise<void> {
    this.socket = await openDatagramSocket({
      address,
      implementation: options.socket,
      onDatagram: (data, hostname, port) => this.#receive(data, hostname, port),
      onBurstEnd: () => this.#endBurst(),
    });
  }

  // --- PeerHost -----------------------------------------------------------------

  /** C: `++ host -> totalQueued` in `enet_peer_setup_outgoing_command`. */
  nextQueueTime(): number {
    return ++this.#queueTime;
  }

  /**
   * Remembers that `peer` has commands to send and schedules a flush.
   *
   * C: none; C sends only when the application calls `enet_host_service` or
   * `enet_host_flush`, netkit flushes after the current microtasks.
   */
  markDirty(peer: PeerCore): void {
    if (!peer.dirty) {
      peer.dirty = true;
      this.#dirty.push(peer);
    }
    if (!this.#receiving && !this.#flushScheduled) this.#scheduleFlush(0);
  }

  /**
   * The socket delivered a burst of datagrams: flush their acknowledgements,
   * after the application had a few microtasks to react to the packets. An
   * answer it sends then (a reply, the next ping) shares the datagram of the
   * acknowledgements instead of following in a second one, one send op
   * earlier. Without that wait, a reply depended on the order of microtasks:
   * a burst of two datagrams (C sends the ACK of a packet and its answer
   * separately) flushed the ACK alone before the application saw the answer.
   *
   * C: the `enet_protocol_send_outgoing_commands` at the end of
   * `enet_host_service`; C acknowledges before the application sees the events.
   */
  #endBurst(): void {
    this.#scheduleFlush(BURST_FLUSH_HOPS);
  }

  /** Schedules {@linkcode HostCore.#flushTask} (or extends the pending one) to wait at least `minimumHops` microtasks. C: none. */
  #scheduleFlush(minimumHops: number): void {
    if (this.closed) return;
    if (this.#flushScheduled) {
      // Pending already (an application send during the burst): wait as long as a new one would.
      this.#flushMinimumHops = Math.max(this.#flushMinimumHops, this.#flushHops + minimumHops);
      return;
    }
    this.#flushScheduled = true;
    this.#flushHops = 0;
    this.#flushMinimumHops = minimumHops;
    this.#queueTimeAtSchedule = this.#queueTime;
    queueMicrotask(this.#flushTask);
  }

  /**
   * Coalesces sends: a producer that queues one packet per microtask (a
   * stream writer, an async loop) would otherwise get one datagram per
   * packet. While new commands keep arriving hop after hop, wait a few more
   * microtasks; a lone send (ping-pong) still goes out on the next one.
   *
   * C: none (see {@linkcode HostCore.markDirty}); it ends in `enet_host_flush`.
   */
  readonly #flushTask = (): void => {
    if (
      (this.#queueTime !== this.#queueTimeAtSchedule ||
        this.#flushHops < this.#flushMinimumHops) &&
      this.#flushHops < MAXIMUM_FLUSH_HOPS && !this.closed
    ) {
      this.#flushHops++;
      this.#queueTimeAtSchedule = this.#queueTime;
      queueMicrotask(this.#flushTask);
      return;
    }
    this.flush();
  };

  /**
   * Sends what `peer` has queued now.
   *
   * C: the `enet_host_flush` that `enet_peer_disconnect_now` and
   * `enet_peer_disconnect` call, for the one peer.
   */
  flushNow(peer: PeerCore): void {
    this.serviceTime = timeNow();
    this.#sendOutgoingCommands(peer, false);
  }

  /** C: `enet_protocol_dispatch_state`. */
  dispatchState(peer: PeerCore, state: number): void {
    peer.state = state;
    if (!peer.needsDispatch) {
      peer.needsDispatch = true;
      this.#dispatchQueue.push(peer);
    }
  }

  /**
   * Hands a received packet to the application.
   *
   * C: the `ENET_EVENT_TYPE_RECEIVE` of `enet_protocol_dispatch_incoming_commands`
   * (`enet_peer_receive`); netkit delivers at once instead of at the next service call.
   */
  deliver(peer: PeerCore, channelID: number, data: Uint8Array, flags: number): void {
    this.listener.onReceive(peer, channelID, data, flags);
  }

  /**
   * Host bookkeeping when a slot goes back to DISCONNECTED: frees the slot and
   * reports the disconnect.
   *
   * C: none as such; C finds free slots by scanning `host -> peers` and reports
   * the disconnect from `enet_protocol_notify_disconnect`.
   */
  onReset(peer: PeerCore, reason: DisconnectReason, data: number, notify: boolean): void {
    const wasConnected = peer.facade !== null && peer.connectedOnce;
    this.active.delete(peer);
    this.#freeSlots.add(peer.incomingPeerID);
    if (notify) this.listener.onDisconnect(peer, reason, data, wasConnected);
    peer.connectedOnce = false;
  }

  // --- connection management ------------------------------------------------------

  /** The slot at `index`, created on first use. C: `& host -> peers [index]` (C allocates all up front). */
  #slot(index: number): PeerCore {
    let peer = this.peers[index];
    if (peer === undefined) {
      peer = new PeerCore(this, index);
      this.peers[index] = peer;
    }
    return peer;
  }

  /**
   * A free slot index (moved to the back of the offer order), or -1.
   *
   * C: the scan for a DISCONNECTED peer in `enet_protocol_handle_connect`.
   */
  #offerSlot(): number {
    for (const index of this.#freeSlots) {
      this.#freeSlots.delete(index);
      const candidate = this.peers[index];
      if (candidate === undefined || candidate.state === ENET_PEER_STATE_DISCONNECTED) {
        this.#freeSlots.add(index);
        return index;
      }
    }
    return -1;
  }

  /** Takes a free slot. C: the scan for a DISCONNECTED peer in `enet_host_connect`. */
  #freeSlot(): PeerCore | undefined {
    const index = this.#offerSlot();
    if (index < 0) return undefined;
    this.#freeSlots.delete(index);
    return this.#slot(index);
  }

  /** C: `enet_host_connect`. */
  connect(address: Address, channelCount: number, data: number, mtu: number): PeerCore | null {
    const peer = this.#freeSlot();
    if (peer === undefined) return null;
    peer.mtu = mtu;
    channelCount = Math.min(
      Math.max(channelCount, ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT),
      ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT,
    );
    peer.channels = Array.from({ length: channelCount }, () => new Channel());
    peer.state = ENET_PEER_STATE_CONNECTING;
    peer.address = { hostname: address.hostname, port: address.port };
    peer.connectID = crypto.getRandomValues(new Uint32Array(1))[0];
    peer.generation++;
    peer.windowSize = this.outgoingBandwidth === 0
      ? ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE
      : clampWindow(
        Math.floor(this.outgoingBandwidth / ENET_PEER_WINDOW_SIZE_SCALE) *
          ENET_PROTOCOL_MINIMUM_WINDOW_SIZE,
      );
    const body = new Uint8Array(ENetProtocolConnect.size);
    const view = new DataView(body.buffer);
    view.setUint16(ENetProtocolConnect.outgoingPeerID, peer.incomingPeerID);
    view.setUint8(ENetProtocolConnect.incomingSessionID, peer.incomingSessionID);
    view.setUint8(ENetProtocolConnect.outgoingSessionID, peer.outgoingSessionID);
    view.setUint32(ENetProtocolConnect.mtu, peer.mtu);
    view.setUint32(ENetProtocolConnect.windowSize, peer.windowSize);
    view.setUint32(ENetProtocolConnect.channelCount, channelCount);
    view.setUint32(ENetProtocolConnect.incomingBandwidth, this.incomingBandwidth);
    view.setUint32(ENetProtocolConnect.outgoingBandwidth, this.outgoingBandwidth);
    view.setUint32(ENetProtocolConnect.packetThrottleInterval, peer.packetThrottleInterval);
    view.setUint32(ENetProtocolConnect.packetThrottleAcceleration, peer.packetThrottleAcceleration);
    view.setUint32(ENetProtocolConnect.packetThrottleDeceleration, peer.packetThrottleDeceleration);
    view.setUint32(ENetProtocolConnect.connectID, peer.connectID);
    view.setUint32(ENetProtocolConnect.data, data >>> 0);
    this.active.add(peer);
    this.listener.onConnectionStart(peer);
    peer.queueControlCommand(
      ENET_PROTOCOL_COMMAND_CONNECT | ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE,
      body,
    );
    return peer;
  }

  /** C: `enet_protocol_notify_connect` (the CONNECT event of either side). */
  #notifyConnect(peer: PeerCore): void {
    this.recalculateBandwidthLimits = true;
    this.changeState(peer, ENET_PEER_STATE_CONNECTED);
    peer.connectedOnce = true;
    this.listener.onConnect(peer, peer.eventData);
  }

  /** C: `enet_protocol_notify_disconnect`. */
  #notifyDisconnect(peer: PeerCore, reason: DisconnectReason): void {
    if (peer.state >= ENET_PEER_STATE_CONNECTION_PENDING) this.recalculateBandwidthLimits = true;
    if (
      peer.state !== ENET_PEER_STATE_CONNECTING &&
      peer.state < ENET_PEER_STATE_CONNECTION_SUCCEEDED
    ) {
      this.#reset(peer, reason, 0, false);
    } else {
      this.#reset(peer, reason, reason === "local" ? peer.eventData : 0, true);
    }
  }

  /** C: `enet_peer_reset` as protocol.c calls it, with the event to report. */
  #reset(peer: PeerCore, reason: DisconnectReason, data: number, notify: boolean): void {
    peer.resetConnection(reason, data, notify);
  }

  /** C: `enet_protocol_change_state`: keeps the connected-peer counters. */
  changeState(peer: PeerCore, state: number): void {
    const wasConnected = peer.state === ENET_PEER_STATE_CONNECTED ||
      peer.state === ENET_PEER_STATE_DISCONNECT_LATER;
    const isConnected = state === ENET_PEER_STATE_CONNECTED ||
      state === ENET_PEER_STATE_DISCONNECT_LATER;
    if (isConnected && !wasConnected) {
      if (peer.incomingBandwidth !== 0) this.bandwidthLimitedPeers++;
      this.connectedPeers++;
    } else if (!isConnected && wasConnected) {
      if (peer.incomingBandwidth !== 0) this.bandwidthLimitedPeers--;
      this.connectedPeers--;
    }
    peer.state = state;
  }

  /** C: `enet_protocol_dispatch_state` + the state half of `enet_protocol_dispatch_incoming_commands`. */
  #dispatchStates(): void {
    const queue = this.#dispatchQueue;
    for (let i = 0; i < queue.length; i++) {
      const peer = queue[i];
      peer.needsDispatch = false;
      switch (peer.state) {
        case ENET_PEER_STATE_CONNECTION_PENDING:
        case ENET_PEER_STATE_CONNECTION_SUCCEEDED:
          this.#notifyConnect(peer);
          break;
        case ENET_PEER_STATE_ZOMBIE:
          this.recalculateBandwidthLimits = true;
          peer.resetConnection(peer.disconnectReason, peer.eventData, true);
          break;
      }
    }
    queue.length = 0;
  }

  // --- receiving ---------------------------------------------------------------------

  /** C: `enet_protocol_receive_incoming_commands`, one datagram at a time (after `intercept`). */
  #receive(data: Uint8Array, hostname: string, port: number): void {
    this.totalReceivedData += data.length;
    this.totalReceivedPackets++;
    if (this.intercept !== null) {
      let verdict: InterceptResult;
      try {
        verdict = this.intercept(data, { hostname, port });
      } catch {
        verdict = "drop";
      }
      if (verdict !== "accept") return;
    }
    this.#receiving = true;
    try {
      // One clock read per burst: the datagrams of a burst arrive within the same millisecond.
      if (!this.#burstClock) {
        this.serviceTime = timeNow();
        this.#burstClock = true;
      }
      this.#handleIncomingCommands(data, hostname, port);
    } catch {
      // A malformed datagram must never take the host down; it is dropped.
    } finally {
      this.#receiving = false;
    }
  }

  /** C: `enet_protocol_handle_incoming_commands`. */
  #handleIncomingCommands(received: Uint8Array, hostname: string, port: number): void {
    let data = received;
    let length = data.length;
    if (length < ENET_PROTOCOL_HEADER_MINIMUM_SIZE) return;
    let peerID = u16(data, ENetProtocolHeader.peerID);
    const sessionID = (peerID & ENET_PROTOCOL_HEADER_SESSION_MASK) >>
      ENET_PROTOCOL_HEADER_SESSION_SHIFT;
    const flags = peerID & ENET_PROTOCOL_HEADER_FLAG_MASK;
    peerID &= ~(ENET_PROTOCOL_HEADER_FLAG_MASK | ENET_PROTOCOL_HEADER_SESSION_MASK);
    const headerSize =
      (flags & ENET_PROTOCOL_HEADER_FLAG_SENT_TIME
        ? ENetProtocolHeader.size
        : ENET_PROTOCOL_HEADER_MINIMUM_SIZE) + this.checksumSize;
    if (length < headerSize) return;
    let peer: PeerCore | null = null;
    let record: HalfOpenRecord | undefined;
    if (peerID === ENET_PROTOCOL_MAXIMUM_PEER_ID) {
      // The host-wide CONNECT budget: over it, a flood costs no more than this.
      if (!this.connectGuard.spend(this.serviceTime)) return;
    } else if (peerID >= this.peerCount) return;
    else {
      const slot = this.peers[peerID];
      if (slot === undefined || slot.state === ENET_PEER_STATE_DISCONNECTED) {
        // Perhaps the answer to a VERIFY_CONNECT that offered this slot.
        if (this.connectGuard.size === 0) return;
        record = this.connectGuard.forSlot(`${hostname}|${port}`, peerID, this.serviceTime);
        if (
          record === undefined ||
          (record.outgoingPeerID < ENET_PROTOCOL_MAXIMUM_PEER_ID &&
            sessionID !== record.incomingSessionID)
        ) return;
      } else if (slot.address.port !== port || slot.address.hostname !== hostname) {
        if (this.connectGuard.size > 0) this.#refuseTakenSlot(hostname, port, peerID);
        return;
      } else if (
        slot.state === ENET_PEER_STATE_ZOMBIE ||
        (slot.outgoingPeerID < ENET_PROTOCOL_MAXIMUM_PEER_ID &&
          sessionID !== slot.incomingSessionID)
      ) return;
      else peer = slot;
    }
    if (flags & ENET_PROTOCOL_HEADER_FLAG_COMPRESSED) {
      if (this.compressor === null) {
        this.onRejected?.(`${hostname}:${port}`, "compressed, but this host has no compressor");
        return;
      }
      const limit = ENET_PROTOCOL_MAXIMUM_MTU - headerSize;
      const original = this.compressor.decompress(data.subarray(headerSize, length), limit);
      if (original === null || original.length === 0 || original.length > limit) {
        this.onRejected?.(`${hostname}:${port}`, "the body does not decompress");
        return;
      }
      const assembled = new Uint8Array(headerSize + original.length);
      assembled.set(data.subarray(0, headerSize));
      assembled.set(original, headerSize);
      data = assembled;
      length = assembled.length;
    }
    if (this.checksum !== null) {
      const at = headerSize - ENET_PROTOCOL_CHECKSUM_SIZE;
      const desired = u32(data, at);
      const seed = peer !== null ? peer.connectID : record !== undefined ? record.connectID : 0;
      data[at] = seed >>> 24;
      data[at + 1] = seed >>> 16;
      data[at + 2] = seed >>> 8;
      data[at + 3] = seed;
      if (this.checksum(data.subarray(0, length)) !== desired) {
        this.onRejected?.(`${hostname}:${port}`, "checksum mismatch");
        return;
      }
    }
    if (record !== undefined) peer = this.#materialize(record);
    if (peer !== null) peer.incomingDataTotal += length;

    let offset = headerSize;
    while (offset < length) {
      if (offset + ENetProtocolCommandHeader.size > length) break;
      const commandByte = data[offset];
      const commandNumber = commandByte & ENET_PROTOCOL_COMMAND_MASK;
      if (commandNumber >= ENET_PROTOCOL_COMMAND_COUNT) break;
      const commandSize = commandSizes[commandNumber];
      if (commandSize === 0 || offset + commandSize > length) break;
      const start = offset;
      offset += commandSize;
      if (peer === null && commandNumber !== ENET_PROTOCOL_COMMAND_CONNECT) break;
      const channelID = data[start + ENetProtocolCommandHeader.channelID];
      const reliableSequenceNumber = u16(
        data,
        start + ENetProtocolCommandHeader.reliableSequenceNumber,
      );
      let result = 0;
      switch (commandNumber) {
        case ENET_PROTOCOL_COMMAND_ACKNOWLEDGE:
          result = this.#handleAcknowledge(peer!, data, start, channelID);
          break;
        case ENET_PROTOCOL_COMMAND_CONNECT:
          // One CONNECT per datagram: it never makes a peer here (see #handleConnect).
          if (peer === null) this.#handleConnect(data, start, hostname, port);
          result = -1;
          break;
        case ENET_PROTOCOL_COMMAND_VERIFY_CONNECT:
          result = this.#handleVerifyConnect(peer!, data, start);
          break;
        case ENET_PROTOCOL_COMMAND_DISCONNECT:
          result = this.#handleDisconnect(peer!, data, start, commandByte);
          break;
        case ENET_PROTOCOL_COMMAND_PING: // C: `enet_protocol_handle_ping`
          result = this.#connectedState(peer!) ? 0 : -1;
          break;
        case ENET_PROTOCOL_COMMAND_SEND_RELIABLE:
        case ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE:
        case ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED: {
          const next = this.#handleSend(
            peer!,
            data,
            start,
            commandNumber,
            channelID,
            reliableSequenceNumber,
            offset,
            length,
          );
          if (next < 0) result = -1;
          else offset = next;
          break;
        }
        case ENET_PROTOCOL_COMMAND_SEND_FRAGMENT:
        case ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE_FRAGMENT: {
          const next = this.#handleSendFragment(
            peer!,
            data,
            start,
            commandNumber,
            channelID,
            reliableSequenceNumber,
            offset,
            length,
          );
          if (next < 0) result = -1;
          else offset = next;
          break;
        }
        case ENET_PROTOCOL_COMMAND_BANDWIDTH_LIMIT:
          result = this.#handleBandwidthLimit(peer!, data, start);
          break;
        case ENET_PROTOCOL_COMMAND_THROTTLE_CONFIGURE: // C: `enet_protocol_handle_throttle_configure`
          if (!this.#connectedState(peer!)) result = -1;
          else {
            peer!.packetThrottleInterval = u32(
              data,
              start + ENetProtocolThrottleConfigure.packetThrottleInterval,
            );
            peer!.packetThrottleAcceleration = u32(
              data,
              start + ENetProtocolThrottleConfigure.packetThrottleAcceleration,
            );
            peer!.packetThrottleDeceleration = u32(
              data,
              start + ENetProtocolThrottleConfigure.packetThrottleDeceleration,
            );
          }
          break;
        default:
          result = -1;
      }
      if (result < 0) break;
      if (peer !== null && (commandByte & ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE) !== 0) {
        if (!(flags & ENET_PROTOCOL_HEADER_FLAG_SENT_TIME)) break;
        const sentTime = u16(data, ENetProtocolHeader.sentTime);
        switch (peer.state) {
          case ENET_PEER_STATE_DISCONNECTING:
          case ENET_PEER_STATE_ACKNOWLEDGING_CONNECT:
          case ENET_PEER_STATE_DISCONNECTED:
          case ENET_PEER_STATE_ZOMBIE:
            break;
          case ENET_PEER_STATE_ACKNOWLEDGING_DISCONNECT:
            if (commandNumber === ENET_PROTOCOL_COMMAND_DISCONNECT) {
              peer.queueAcknowledgement(commandByte, channelID, reliableSequenceNumber, sentTime);
            }
            break;
          default:
            peer.queueAcknowledgement(commandByte, channelID, reliableSequenceNumber, sentTime);
        }
      }
    }
  }

  /** The `CONNECTED || DISCONNECT_LATER` test C repeats in every `enet_protocol_handle_*`. */
  #connectedState(peer: PeerCore): boolean {
    return peer.state === ENET_PEER_STATE_CONNECTED ||
      peer.state === ENET_PEER_STATE_DISCONNECT_LATER;
  }

  /**
   * C: `enet_protocol_handle_connect`, without taking a slot: answers with the
   * VERIFY_CONNECT C would send (offering a free slot) and remembers a
   * half-open record; the slot is taken when the client answers
   * ({@linkcode HostCore.#materialize}). Everything a forged CONNECT can
   * cost is bounded before anything is allocated.
   */
  #handleConnect(data: Uint8Array, start: number, hostname: string, port: number): void {
    const channelCountRequested = u32(data, start + ENetProtocolConnect.channelCount);
    if (
      channelCountRequested < ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT ||
      channelCountRequested > ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT
    ) return;
    const connectID = u32(data, start + ENetProtocolConnect.connectID);
    const guard = this.connectGuard;
    const now = this.serviceTime;
    const key = `${hostname}|${port}`;
    const known = guard.find(key, connectID, now);
    if (known !== undefined) {
      // A retransmitted CONNECT: our VERIFY_CONNECT may have been lost.
      if (now - known.sentTime >= HALF_OPEN_RESEND_INTERVAL_MS) this.#sendVerify(known);
      return;
    }
    let duplicatePeers = 0;
    for (const current of this.active) {
      if (
        current.state !== ENET_PEER_STATE_DISCONNECTED &&
        current.state !== ENET_PEER_STATE_CONNECTING && current.address.hostname === hostname
      ) {
        if (current.address.port === port && current.connectID === connectID) return;
        duplicatePeers++;
      }
    }
    if (duplicatePeers >= this.duplicatePeers) return;
    if (!guard.admit(hostname, now)) return;
    const slot = this.#offerSlot();
    if (slot < 0) return;
    const previous = this.peers[slot];
    const slotIncomingSessionID = previous?.incomingSessionID ?? NETKIT_SESSION_ID_NONE;
    const slotOutgoingSessionID = previous?.outgoingSessionID ?? NETKIT_SESSION_ID_NONE;
    const channelCount = Math.min(channelCountRequested, this.channelLimit);
    const incomingBandwidth = u32(data, start + ENetProtocolConnect.incomingBandwidth);
    const outgoingBandwidth = u32(data, start + ENetProtocolConnect.outgoingBandwidth);
    const packetThrottleInterval = u32(data, start + ENetProtocolConnect.packetThrottleInterval);
    const packetThrottleAcceleration = u32(
      data,
      start + ENetProtocolConnect.packetThrottleAcceleration,
    );
    const packetThrottleDeceleration = u32(
      data,
      start + ENetProtocolConnect.packetThrottleDeceleration,
    );

    const proposedIncoming = data[start + ENetProtocolConnect.incomingSessionID];
    let incomingSessionID = proposedIncoming === NETKIT_SESSION_ID_NONE
      ? slotOutgoingSessionID
      : proposedIncoming;
    incomingSessionID = (incomingSessionID + 1) & SESSION_ID_MASK;
    if (incomingSessionID === slotOutgoingSessionID) {
      incomingSessionID = (incomingSessionID + 1) & SESSION_ID_MASK;
    }
    const proposedOutgoing = data[start + ENetProtocolConnect.outgoingSessionID];
    let outgoingSessionID = proposedOutgoing === NETKIT_SESSION_ID_NONE
      ? slotIncomingSessionID
      : proposedOutgoing;
    outgoingSessionID = (outgoingSessionID + 1) & SESSION_ID_MASK;
    if (outgoingSessionID === slotIncomingSessionID) {
      outgoingSessionID = (outgoingSessionID + 1) & SESSION_ID_MASK;
    }

    let mtu = u32(data, start + ENetProtocolConnect.mtu);
    if (mtu < ENET_PROTOCOL_MINIMUM_MTU) mtu = ENET_PROTOCOL_MINIMUM_MTU;
    else if (mtu > ENET_PROTOCOL_MAXIMUM_MTU) mtu = ENET_PROTOCOL_MAXIMUM_MTU;
    if (mtu > this.mtu) mtu = this.mtu;

    let windowSize = this.incomingBandwidth === 0
      ? ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE
      : Math.floor(this.incomingBandwidth / ENET_PEER_WINDOW_SIZE_SCALE) *
        ENET_PROTOCOL_MINIMUM_WINDOW_SIZE;
    const requestedWindow = u32(data, start + ENetProtocolConnect.windowSize);
    if (windowSize > requestedWindow) windowSize = requestedWindow;
    windowSize = clampWindow(windowSize);

    const verify = new Uint8Array(ENetProtocolVerifyConnect.size);
    const view = new DataView(verify.buffer);
    verify[ENetProtocolCommandHeader.command] = ENET_PROTOCOL_COMMAND_VERIFY_CONNECT |
      ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE;
    verify[ENetProtocolCommandHeader.channelID] = ENET_CONTROL_CHANNEL_ID;
    // The first command of the slot's control channel once it is taken.
    view.setUint16(ENetProtocolCommandHeader.reliableSequenceNumber, 1);
    view.setUint16(ENetProtocolVerifyConnect.outgoingPeerID, slot);
    view.setUint8(ENetProtocolVerifyConnect.incomingSessionID, incomingSessionID);
    view.setUint8(ENetProtocolVerifyConnect.outgoingSessionID, outgoingSessionID);
    view.setUint32(ENetProtocolVerifyConnect.mtu, mtu);
    view.setUint32(ENetProtocolVerifyConnect.windowSize, windowSize);
    view.setUint32(ENetProtocolVerifyConnect.channelCount, channelCount);
    view.setUint32(ENetProtocolVerifyConnect.incomingBandwidth, this.incomingBandwidth);
    view.setUint32(ENetProtocolVerifyConnect.outgoingBandwidth, this.outgoingBandwidth);
    view.setUint32(ENetProtocolVerifyConnect.packetThrottleInterval, packetThrottleInterval);
    view.setUint32(
      ENetProtocolVerifyConnect.packetThrottleAcceleration,
      packetThrottleAcceleration,
    );
    view.setUint32(
      ENetProtocolVerifyConnect.packetThrottleDeceleration,
      packetThrottleDeceleration,
    );
    view.setUint32(ENetProtocolVerifyConnect.connectID, connectID);
    const record: HalfOpenRecord = {
      key,
      hostname,
      address: { hostname, port },
      connectID,
      slot,
      created: now,
      verify,
      outgoingPeerID: u16(data, start + ENetProtocolConnect.outgoingPeerID),
      // The peer's fields: it sends with `incomingSessionID`, we with `outgoingSessionID`.
      incomingSessionID: outgoingSessionID,
      outgoingSessionID: incomingSessionID,
      channelCount,
      mtu,
      windowSize: windowFromBandwidths(this.outgoingBandwidth, incomingBandwidth),
      incomingBandwidth,
      outgoingBandwidth,
      packetThrottleInterval,
      packetThrottleAcceleration,
      packetThrottleDeceleration,
      data: u32(data, start + ENetProtocolConnect.data),
      sentTime: now,
    };
    guard.add(record);
    this.#sendVerify(record);
  }

  /** C: the VERIFY_CONNECT that `enet_protocol_handle_connect` queues, sent from a half-open record. */
  #sendVerify(record: HalfOpenRecord): void {
    this.#buffer.set(record.verify, this.#body);
    this.#offset = this.#body + record.verify.length;
    this.#headerFlags = ENET_PROTOCOL_HEADER_FLAG_SENT_TIME;
    record.sentTime = this.serviceTime;
    this.#transmitTo(
      record.outgoingPeerID,
      record.outgoingSessionID,
      record.connectID,
      record.address,
    );
  }

  /**
   * The client of `record` answered: the peer takes the offered slot with its
   * VERIFY_CONNECT counted as sent (the acknowledgement being processed
   * removes it and takes an RTT sample, as in C) and is connected at once:
   * a datagram to this slot with these session bits proves the client got
   * VERIFY_CONNECT even when its acknowledgement was lost, so data in it is
   * not refused while the handshake would wait for a retransmission.
   *
   * C: the slot setup of `enet_protocol_handle_connect`, done when the client acknowledges VERIFY_CONNECT.
   */
  #materialize(record: HalfOpenRecord): PeerCore {
    this.connectGuard.remove(record);
    this.#freeSlots.delete(record.slot);
    const peer = this.#slot(record.slot);
    peer.channels = Array.from({ length: record.channelCount }, () => new Channel());
    peer.state = ENET_PEER_STATE_ACKNOWLEDGING_CONNECT;
    peer.connectID = record.connectID;
    peer.address = record.address;
    peer.mtu = record.mtu;
    peer.generation++;
    peer.outgoingPeerID = record.outgoingPeerID;
    peer.incomingSessionID = record.incomingSessionID;
    peer.outgoingSessionID = record.outgoingSessionID;
    peer.incomingBandwidth = record.incomingBandwidth;
    peer.outgoingBandwidth = record.outgoingBandwidth;
    peer.packetThrottleInterval = record.packetThrottleInterval;
    peer.packetThrottleAcceleration = record.packetThrottleAcceleration;
    peer.packetThrottleDeceleration = record.packetThrottleDeceleration;
    peer.eventData = record.data;
    peer.windowSize = record.windowSize;
    this.active.add(peer);
    this.listener.onConnectionStart(peer);
    const command = peer.queueControlCommand(
      ENET_PROTOCOL_COMMAND_VERIFY_CONNECT | ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE,
      record.verify,
    );
    peer.outgoingCommands.remove(command);
    command.sendAttempts = 1;
    command.sentTime = record.sentTime;
    command.roundTripTimeout = peer.roundTripTime + 4 * peer.roundTripTimeVariance;
    peer.sentReliableCommands.push(command);
    peer.nextTimeout = command.sentTime + command.roundTripTimeout;
    peer.lastSendTime = record.sentTime;
    this.#notifyConnect(peer);
    return peer;
  }

  /**
   * A datagram for a slot another client took first: if it answers a
   * VERIFY_CONNECT that offered that slot, tell the client at once
   * (DISCONNECT, as disconnect_now would) so it retries instead of waiting
   * for a timeout.
   *
   * C: none; a netkit half-open record whose slot went to another client is sent DISCONNECT.
   */
  #refuseTakenSlot(hostname: string, port: number, slot: number): void {
    const record = this.connectGuard.forSlot(`${hostname}|${port}`, slot, this.serviceTime);
    if (record === undefined) return;
    this.connectGuard.remove(record);
    const o = this.#body;
    const buffer = this.#buffer;
    buffer[o] = ENET_PROTOCOL_COMMAND_DISCONNECT | ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED;
    buffer[o + ENetProtocolCommandHeader.channelID] = ENET_CONTROL_CHANNEL_ID;
    this.#view.setUint16(o + ENetProtocolCommandHeader.reliableSequenceNumber, 2);
    this.#view.setUint32(o + ENetProtocolDisconnect.data, 0);
    this.#offset = o + ENetProtocolDisconnect.size;
    this.#headerFlags = 0;
    this.#transmitTo(
      record.outgoingPeerID,
      record.outgoingSessionID,
      record.connectID,
      record.address,
    );
  }

  /** C: `enet_protocol_handle_verify_connect`. */
  #handleVerifyConnect(peer: PeerCore, data: Uint8Array, start: number): number {
    if (peer.state !== ENET_PEER_STATE_CONNECTING) return 0;
    const channelCount = u32(data, start + ENetProtocolVerifyConnect.channelCount);
    if (
      channelCount < ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT ||
      channelCount > ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT ||
      u32(data, start + ENetProtocolVerifyConnect.packetThrottleInterval) !==
        peer.packetThrottleInterval ||
      u32(data, start + ENetProtocolVerifyConnect.packetThrottleAcceleration) !==
        peer.packetThrottleAcceleration ||
      u32(data, start + ENetProtocolVerifyConnect.packetThrottleDeceleration) !==
        peer.packetThrottleDeceleration ||
      u32(data, start + ENetProtocolVerifyConnect.connectID) !== peer.connectID
    ) {
      peer.eventData = 0;
      peer.disconnectReason = "remote";
      this.dispatchState(peer, ENET_PEER_STATE_ZOMBIE);
      return -1;
    }
    this.#removeSentReliableCommand(peer, 1, ENET_CONTROL_CHANNEL_ID);
    if (channelCount < peer.channels.length) peer.channels.length = channelCount;
    peer.outgoingPeerID = u16(data, start + ENetProtocolVerifyConnect.outgoingPeerID);
    peer.incomingSessionID = data[start + ENetProtocolVerifyConnect.incomingSessionID];
    peer.outgoingSessionID = data[start + ENetProtocolVerifyConnect.outgoingSessionID];
    let mtu = u32(data, start + ENetProtocolVerifyConnect.mtu);
    if (mtu < ENET_PROTOCOL_MINIMUM_MTU) mtu = ENET_PROTOCOL_MINIMUM_MTU;
    else if (mtu > ENET_PROTOCOL_MAXIMUM_MTU) mtu = ENET_PROTOCOL_MAXIMUM_MTU;
    if (mtu < peer.mtu) peer.mtu = mtu;
    const windowSize = clampWindow(u32(data, start + ENetProtocolVerifyConnect.windowSize));
    if (windowSize < peer.windowSize) peer.windowSize = windowSize;
    peer.incomingBandwidth = u32(data, start + ENetProtocolVerifyConnect.incomingBandwidth);
    peer.outgoingBandwidth = u32(data, start + ENetProtocolVerifyConnect.outgoingBandwidth);
    this.#notifyConnect(peer);
    return 0;
  }

  /** C: `enet_protocol_handle_disconnect`. */
  #handleDisconnect(peer: PeerCore, data: Uint8Array, start: number, commandByte: number): number {
    const state = peer.state;
    if (
      state === ENET_PEER_STATE_DISCONNECTED || state === ENET_PEER_STATE_ZOMBIE ||
      state === ENET_PEER_STATE_ACKNOWLEDGING_DISCONNECT
    ) return 0;
    peer.resetQueues();
    peer.disconnectReason = "remote";
    if (
      state === ENET_PEER_STATE_CONNECTION_SUCCEEDED || state === ENET_PEER_STATE_DISCONNECTING ||
      state === ENET_PEER_STATE_CONNECTING
    ) {
      this.dispatchState(peer, ENET_PEER_STATE_ZOMBIE);
    } else if (!this.#connectedState(peer)) {
      if (state === ENET_PEER_STATE_CONNECTION_PENDING) this.recalculateBandwidthLimits = true;
      this.#reset(peer, "remote", 0, false);
      return 0;
    } else if (commandByte & ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE) {
      this.changeState(peer, ENET_PEER_STATE_ACKNOWLEDGING_DISCONNECT);
    } else {
      this.changeState(peer, ENET_PEER_STATE_ZOMBIE);
      this.dispatchState(peer, ENET_PEER_STATE_ZOMBIE);
    }
    peer.eventData = u32(data, start + ENetProtocolDisconnect.data);
    return 0;
  }

  /** C: `enet_protocol_handle_acknowledge`. */
  #handleAcknowledge(peer: PeerCore, data: Uint8Array, start: number, channelID: number): number {
    if (peer.state === ENET_PEER_STATE_DISCONNECTED || peer.state === ENET_PEER_STATE_ZOMBIE) {
      return 0;
    }
    const serviceTime = this.serviceTime;
    const sent16 = u16(data, start + ENetProtocolAcknowledge.receivedSentTime);
    let receivedSentTime = serviceTime - (serviceTime & 0xFFFF) + sent16;
    if ((sent16 & 0x8000) > (serviceTime & 0x8000)) receivedSentTime -= 0x10000;
    if (serviceTime < receivedSentTime) return 0;
    const roundTripTime = Math.max(serviceTime - receivedSentTime, 1);
    if (peer.lastReceiveTime > 0) {
      peer.throttle(roundTripTime);
      peer.roundTripTimeVariance -= Math.floor(peer.roundTripTimeVariance / 4);
      if (roundTripTime >= peer.roundTripTime) {
        const diff = roundTripTime - peer.roundTripTime;
        peer.roundTripTimeVariance += Math.floor(diff / 4);
        peer.roundTripTime += Math.floor(diff / 8);
      } else {
        const diff = peer.roundTripTime - roundTripTime;
        peer.roundTripTimeVariance += Math.floor(diff / 4);
        peer.roundTripTime -= Math.floor(diff / 8);
      }
    } else {
      peer.roundTripTime = roundTripTime;
      peer.roundTripTimeVariance = Math.floor((roundTripTime + 1) / 2);
    }
    if (peer.roundTripTime < peer.lowestRoundTripTime) {
      peer.lowestRoundTripTime = peer.roundTripTime;
    }
    if (peer.roundTripTimeVariance > peer.highestRoundTripTimeVariance) {
      peer.highestRoundTripTimeVariance = peer.roundTripTimeVariance;
    }
    if (
      peer.packetThrottleEpoch === 0 ||
      serviceTime - peer.packetThrottleEpoch >= peer.packetThrottleInterval
    ) {
      peer.lastRoundTripTime = peer.lowestRoundTripTime;
      peer.lastRoundTripTimeVariance = Math.max(peer.highestRoundTripTimeVariance, 1);
      peer.lowestRoundTripTime = peer.roundTripTime;
      peer.highestRoundTripTimeVariance = peer.roundTripTimeVariance;
      peer.packetThrottleEpoch = serviceTime;
    }
    peer.lastReceiveTime = Math.max(serviceTime, 1);
    peer.earliestTimeout = 0;
    const receivedReliableSequenceNumber = u16(
      data,
      start + ENetProtocolAcknowledge.receivedReliableSequenceNumber,
    );
    const commandNumber = this.#removeSentReliableCommand(
      peer,
      receivedReliableSequenceNumber,
      channelID,
    );
    // Window space opened: whatever waits in the queues can go out in this burst's flush.
    if (!peer.outgoingSendReliableCommands.empty || !peer.outgoingCommands.empty) {
      this.markDirty(peer);
    }
    switch (peer.state) {
      case ENET_PEER_STATE_ACKNOWLEDGING_CONNECT:
        if (commandNumber !== ENET_PROTOCOL_COMMAND_VERIFY_CONNECT) return -1;
        this.#notifyConnect(peer);
        break;
      case ENET_PEER_STATE_DISCONNECTING:
        if (commandNumber !== ENET_PROTOCOL_COMMAND_DISCONNECT) return -1;
        this.#notifyDisconnect(peer, "local");
        break;
      case ENET_PEER_STATE_DISCONNECT_LATER:
        if (!peer.hasOutgoingCommands()) peer.disconnect(peer.eventData);
        break;
    }
    return 0;
  }

  /** C: `enet_protocol_find_sent_reliable_command`. */
  #findSentReliableCommand(
    list: List<OutgoingCommand>,
    reliableSequenceNumber: number,
    channelID: number,
  ): OutgoingCommand | null {
    for (let node = list.sentinel.next; node !== list.sentinel; node = node.next) {
      const command = node as OutgoingCommand;
      if (!(command.command & ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE)) continue;
      if (command.sendAttempts < 1) break;
      if (
        command.reliableSequenceNumber === reliableSequenceNumber &&
        command.channelID === channelID
      ) return command;
    }
    return null;
  }

  /** C: `enet_protocol_remove_sent_reliable_command`. */
  #removeSentReliableCommand(
    peer: PeerCore,
    reliableSequenceNumber: number,
    channelID: number,
  ): number {
    let command: OutgoingCommand | null = null;
    let wasSent = true;
    const sent = peer.sentReliableCommands;
    for (let node = sent.sentinel.next; node !== sent.sentinel; node = node.next) {
      const candidate = node as OutgoingCommand;
      if (
        candidate.reliableSequenceNumber === reliableSequenceNumber &&
        candidate.channelID === channelID
      ) {
        command = candidate;
        break;
      }
    }
    let list = sent;
    if (command === null) {
      wasSent = false;
      command = this.#findSentReliableCommand(
        peer.outgoingCommands,
        reliableSequenceNumber,
        channelID,
      );
      list = peer.outgoingCommands;
      if (command === null) {
        command = this.#findSentReliableCommand(
          peer.outgoingSendReliableCommands,
          reliableSequenceNumber,
          channelID,
        );
        list = peer.outgoingSendReliableCommands;
      }
    }
    if (command === null) return ENET_PROTOCOL_COMMAND_NONE;
    if (channelID < peer.channels.length) {
      const channel = peer.channels[channelID];
      const reliableWindow = Math.floor(reliableSequenceNumber / ENET_PEER_RELIABLE_WINDOW_SIZE);
      if (channel.reliableWindows[reliableWindow] > 0) {
        if (--channel.reliableWindows[reliableWindow] === 0) {
          channel.usedReliableWindows &= ~(1 << reliableWindow);
        }
      }
    }
    const commandNumber = command.command & ENET_PROTOCOL_COMMAND_MASK;
    list.remove(command);
    const packet = command.packet;
    if (packet !== null) {
      if (wasSent) peer.reliableDataInTransit -= command.fragmentLength;
      peer.reliableDataPending -= command.fragmentLength;
      if (--packet.referenceCount === 0 && packet.acknowledged !== null) {
        packet.acknowledged.resolve();
        packet.acknowledged = null;
      }
      this.listener.onReliableProgress(peer);
    }
    releaseOutgoingCommand(command);
    const front = sent.front();
    if (front !== undefined) peer.nextTimeout = front.sentTime + front.roundTripTimeout;
    return commandNumber;
  }

  /** C: `enet_protocol_handle_send_reliable`, `_send_unreliable` and `_send_unsequenced`. */
  #handleSend(
    peer: PeerCore,
    data: Uint8Array,
    start: number,
    commandNumber: number,
    channelID: number,
    reliableSequenceNumber: number,
    payloadStart: number,
    length: number,
  ): number {
    if (channelID >= peer.channels.length || !this.#connectedState(peer)) return -1;
    let dataLength: number;
    let unreliableSequenceNumber = 0;
    let flags: number;
    if (commandNumber === ENET_PROTOCOL_COMMAND_SEND_RELIABLE) {
      dataLength = u16(data, start + ENetProtocolSendReliable.dataLength);
      flags = ENET_PACKET_FLAG_RELIABLE;
    } else if (commandNumber === ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE) {
      dataLength = u16(data, start + ENetProtocolSendUnreliable.dataLength);
      unreliableSequenceNumber = u16(
        data,
        start + ENetProtocolSendUnreliable.unreliableSequenceNumber,
      );
      flags = 0;
    } else {
      dataLength = u16(data, start + ENetProtocolSendUnsequenced.dataLength);
      flags = ENET_PACKET_FLAG_UNSEQUENCED;
    }
    const end = payloadStart + dataLength;
    if (dataLength > this.maximumPacketSize || end > length) return -1;
    const payload = data.subarray(payloadStart, end);
    if (commandNumber === ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED) {
      let unsequencedGroup = u16(data, start + ENetProtocolSendUnsequenced.unsequencedGroup);
      const index = unsequencedGroup % ENET_PEER_UNSEQUENCED_WINDOW_SIZE;
      if (unsequencedGroup < peer.incomingUnsequencedGroup) unsequencedGroup += 0x10000;
      if (
        unsequencedGroup >=
          peer.incomingUnsequencedGroup +
            ENET_PEER_FREE_UNSEQUENCED_WINDOWS * ENET_PEER_UNSEQUENCED_WINDOW_SIZE
      ) return end;
      unsequencedGroup &= 0xFFFF;
      if (unsequencedGroup - index !== peer.incomingUnsequencedGroup) {
        peer.incomingUnsequencedGroup = unsequencedGroup - index;
        peer.unsequencedWindow.fill(0);
      } else if (peer.unsequencedWindow[index >>> 5] & (1 << (index & 31))) return end;
      const queued = peer.queueIncomingCommand(
        commandNumber,
        channelID,
        0,
        0,
        payload,
        dataLength,
        flags,
        0,
      );
      if (queued === null) return -1;
      peer.unsequencedWindow[index >>> 5] |= 1 << (index & 31);
      return end;
    }
    const queued = peer.queueIncomingCommand(
      commandNumber,
      channelID,
      reliableSequenceNumber,
      unreliableSequenceNumber,
      payload,
      dataLength,
      flags,
      0,
    );
    return queued === null ? -1 : end;
  }

  /** C: `enet_protocol_handle_send_fragment` and `enet_protocol_handle_send_unreliable_fragment`. */
  #handleSendFragment(
    peer: PeerCore,
    data: Uint8Array,
    start: number,
    commandNumber: number,
    channelID: number,
    reliableSequenceNumber: number,
    payloadStart: number,
    length: number,
  ): number {
    if (channelID >= peer.channels.length || !this.#connectedState(peer)) return -1;
    let fragmentLength = u16(data, start + ENetProtocolSendFragment.dataLength);
    const end = payloadStart + fragmentLength;
    const reliable = commandNumber === ENET_PROTOCOL_COMMAND_SEND_FRAGMENT;
    if (
      (reliable && fragmentLength <= 0) || fragmentLength > this.maximumPacketSize ||
      end > length
    ) return -1;
    const channel = peer.channels[channelID];
    const startSequenceNumber = u16(data, start + ENetProtocolSendFragment.startSequenceNumber);
    const incomingReliable = channel.incomingReliableSequenceNumber;
    // Reliable fragments are windowed by their start sequence, unreliable
    // ones by the reliable sequence they follow.
    const windowed = reliable ? startSequenceNumber : reliableSequenceNumber;
    let window = Math.floor(windowed / ENET_PEER_RELIABLE_WINDOW_SIZE);
    const currentWindow = Math.floor(incomingReliable / ENET_PEER_RELIABLE_WINDOW_SIZE);
    if (windowed < incomingReliable) window += ENET_PEER_RELIABLE_WINDOWS;
    if (window < currentWindow || window >= currentWindow + ENET_PEER_FREE_RELIABLE_WINDOWS - 1) {
      return end;
    }
    if (
      !reliable && reliableSequenceNumber === incomingReliable &&
      startSequenceNumber <= channel.incomingUnreliableSequenceNumber
    ) return end;
    const fragmentNumber = u32(data, start + ENetProtocolSendFragment.fragmentNumber);
    const fragmentCount = u32(data, start + ENetProtocolSendFragment.fragmentCount);
    const fragmentOffset = u32(data, start + ENetProtocolSendFragment.fragmentOffset);
    const totalLength = u32(data, start + ENetProtocolSendFragment.totalLength);
    if (
      fragmentCount > ENET_PROTOCOL_MAXIMUM_FRAGMENT_COUNT ||
      fragmentNumber >= fragmentCount ||
      totalLength > this.maximumPacketSize ||
      (reliable && totalLength < fragmentCount) ||
      fragmentOffset >= totalLength ||
      fragmentLength > totalLength - fragmentOffset
    ) return -1;

    let startCommand: IncomingCommand | null = null;
    const list = reliable ? channel.incomingReliableCommands : channel.incomingUnreliableCommands;
    const sequence = reliable ? startSequenceNumber : reliableSequenceNumber;
    for (let node = list.sentinel.prev; node !== list.sentinel; node = node.prev) {
      const incoming = node as IncomingCommand;
      if (sequence >= incomingReliable) {
        if (incoming.reliableSequenceNumber < incomingReliable) continue;
      } else if (incoming.reliableSequenceNumber >= incomingReliable) break;
      if (reliable) {
        if (incoming.reliableSequenceNumber <= startSequenceNumber) {
          if (incoming.reliableSequenceNumber < startSequenceNumber) break;
          if (
            incoming.commandNumber !== ENET_PROTOCOL_COMMAND_SEND_FRAGMENT ||
            totalLength !== incoming.data.length || fragmentCount !== incoming.fragmentCount
          ) return -1;
          startCommand = incoming;
          break;
        }
      } else {
        if (incoming.reliableSequenceNumber < reliableSequenceNumber) break;
        if (incoming.reliableSequenceNumber > reliableSequenceNumber) continue;
        if (incoming.unreliableSequenceNumber <= startSequenceNumber) {
          if (incoming.unreliableSequenceNumber < startSequenceNumber) break;
          if (
            incoming.commandNumber !== ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE_FRAGMENT ||
            totalLength !== incoming.data.length || fragmentCount !== incoming.fragmentCount
          ) return -1;
          startCommand = incoming;
          break;
        }
      }
    }
    if (startCommand === null) {
      const queued = peer.queueIncomingCommand(
        commandNumber,
        channelID,
        reliable ? startSequenceNumber : reliableSequenceNumber,
        reliable ? 0 : startSequenceNumber,
        null,
        totalLength,
        reliable ? ENET_PACKET_FLAG_RELIABLE : ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT,
        fragmentCount,
      );
      if (queued === null) return -1;
      startCommand = queued;
    }
    const fragments = startCommand.fragments!;
    const bit = 1 << (fragmentNumber & 31);
    if ((fragments[fragmentNumber >>> 5] & bit) === 0) {
      startCommand.fragmentsRemaining--;
      fragments[fragmentNumber >>> 5] |= bit;
      if (fragmentOffset + fragmentLength > startCommand.data.length) {
        fragmentLength = startCommand.data.length - fragmentOffset;
      }
      startCommand.data.set(
        data.subarray(payloadStart, payloadStart + fragmentLength),
        fragmentOffset,
      );
      if (startCommand.fragmentsRemaining <= 0) {
        peer.fragmentCompleted();
        if (reliable) peer.dispatchIncomingReliableCommands(channelID, channel, null);
        else peer.dispatchIncomingUnreliableCommands(channelID, channel, null);
      }
    }
    return end;
  }

  /** C: `enet_protocol_handle_bandwidth_limit`. */
  #handleBandwidthLimit(peer: PeerCore, data: Uint8Array, start: number): number {
    if (!this.#connectedState(peer)) return -1;
    if (peer.incomingBandwidth !== 0) this.bandwidthLimitedPeers--;
    peer.incomingBandwidth = u32(data, start + ENetProtocolBandwidthLimit.incomingBandwidth);
    peer.outgoingBandwidth = u32(data, start + ENetProtocolBandwidthLimit.outgoingBandwidth);
    if (peer.incomingBandwidth !== 0) this.bandwidthLimitedPeers++;
    peer.windowSize = windowFromBandwidths(peer.incomingBandwidth, this.outgoingBandwidth);
    return 0;
  }

  // --- sending -----------------------------------------------------------------------

  /** Sends what every dirty peer has queued; runs after bursts and sends. C: `enet_host_flush`. */
  flush(): void {
    this.#flushScheduled = false;
    this.#burstClock = false;
    if (this.closed) return;
    this.serviceTime = timeNow();
    const dirty = this.#dirty;
    // Peers may become dirty again while sending (a zombie dispatch): loop.
    for (let i = 0; i < dirty.length; i++) {
      const peer = dirty[i];
      peer.dirty = false;
      this.#sendOutgoingCommands(peer, true);
      this.#armTimerFor(peer);
    }
    dirty.length = 0;
    this.#dispatchStates();
  }

  /** Timer pass: retransmissions, timeouts, pings, bandwidth throttle. C: `enet_host_service`. */
  #service(): void {
    this.#timer = undefined;
    this.#timerDeadline = Infinity;
    if (this.closed) return;
    this.serviceTime = timeNow();
    if (this.serviceTime - this.bandwidthThrottleEpoch >= ENET_HOST_BANDWIDTH_THROTTLE_INTERVAL) {
      this.bandwidthThrottle();
    }
    for (const peer of this.active) {
      if (peer.state === ENET_PEER_STATE_DISCONNECTED) {
        this.active.delete(peer);
        this.#freeSlots.add(peer.incomingPeerID);
        continue;
      }
      peer.dirty = false;
      this.#sendOutgoingCommands(peer, true);
    }
    this.#dirty.length = 0;
    this.#dispatchStates();
    for (const peer of this.active) this.#armTimerFor(peer);
    if (
      this.outgoingBandwidth !== 0 || this.incomingBandwidth !== 0 ||
      this.recalculateBandwidthLimits
    ) {
      if (this.active.size > 0) {
        this.#arm(this.bandwidthThrottleEpoch + ENET_HOST_BANDWIDTH_THROTTLE_INTERVAL);
      }
    }
  }

  /**
   * Arms the timer for `peer`'s next retransmission or ping.
   *
   * C: none; C learns these deadlines when the application polls
   * `enet_host_service` (`nextTimeout` in `enet_protocol_check_timeouts`, the
   * ping interval in `enet_protocol_send_outgoing_commands`).
   */
  #armTimerFor(peer: PeerCore): void {
    const state = peer.state;
    if (state === ENET_PEER_STATE_DISCONNECTED || state === ENET_PEER_STATE_ZOMBIE) return;
    let deadline = Infinity;
    if (!peer.sentReliableCommands.empty) deadline = peer.nextTimeout;
    else if (state === ENET_PEER_STATE_CONNECTED || state === ENET_PEER_STATE_DISCONNECT_LATER) {
      deadline = peer.lastReceiveTime + peer.pingInterval;
    }
    // Never re-arm in the past: a deadline that the last pass did not move
    // would otherwise spin the timer.
    if (deadline <= this.serviceTime) deadline = this.serviceTime + 1;
    if (deadline < this.#timerDeadline) this.#arm(deadline);
  }

  /** Runs {@linkcode HostCore.#service} at `deadline` unless it runs earlier. C: the `timeout` of `enet_host_service`. */
  #arm(deadline: number): void {
    if (this.closed || deadline >= this.#timerDeadline) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerDeadline = deadline;
    this.#timer = setTimeout(() => this.#service(), Math.max(0, deadline - timeNow()));
  }

  /** C: `enet_protocol_send_outgoing_commands` for one peer. */
  #sendOutgoingCommands(peer: PeerCore, checkForTimeouts: boolean): void {
    const building = this.#building; // flushNow may nest in a pass (DISCONNECT_LATER)
    this.#building = true;
    try {
      this.#sendOutgoingCommandsOf(peer, checkForTimeouts);
    } finally {
      this.#building = building;
    }
  }

  /** The body of {@linkcode HostCore.#sendOutgoingCommands}. C: `enet_protocol_send_outgoing_commands`. */
  #sendOutgoingCommandsOf(peer: PeerCore, checkForTimeouts: boolean): void {
    for (let pass = 0; pass < 64; pass++) {
      const state = peer.state;
      if (state === ENET_PEER_STATE_DISCONNECTED || state === ENET_PEER_STATE_ZOMBIE) return;
      peer.continueSending = false;
      this.#headerFlags = 0;
      this.#commandCount = 0;
      this.#packetSize = ENetProtocolHeader.size;
      this.#offset = this.#body;
      if (!peer.acknowledgements.empty) this.#sendAcknowledgements(peer);
      if (
        checkForTimeouts && !peer.sentReliableCommands.empty &&
        this.serviceTime >= peer.nextTimeout && this.#checkTimeouts(peer)
      ) return;
      // Paced: acknowledgements still go out (holding them would stall the remote).
      const paced = this.#paced();
      if (
        !paced &&
        ((peer.outgoingCommands.empty && peer.outgoingSendReliableCommands.empty) ||
          this.#checkOutgoingCommands(peer)) &&
        peer.sentReliableCommands.empty &&
        this.serviceTime - peer.lastReceiveTime >= peer.pingInterval &&
        peer.mtu - this.#packetSize >= ENetProtocolPing.size
      ) {
        peer.ping();
        this.#checkOutgoingCommands(peer);
      }
      if (this.#commandCount === 0) return;
      if (peer.packetLossEpoch === 0) peer.packetLossEpoch = this.serviceTime;
      else if (
        this.serviceTime - peer.packetLossEpoch >= ENET_PEER_PACKET_LOSS_INTERVAL &&
        peer.packetsSent > 0
      ) {
        const packetLoss = Math.floor(
          peer.packetsLost * ENET_PEER_PACKET_LOSS_SCALE / peer.packetsSent,
        );
        peer.packetLossVariance = Math.floor(
          (peer.packetLossVariance * 3 + Math.abs(packetLoss - peer.packetLoss)) / 4,
        );
        peer.packetLoss = Math.floor((peer.packetLoss * 7 + packetLoss) / 8);
        peer.packetLossEpoch = this.serviceTime;
        peer.packetsSent = 0;
        peer.packetsLost = 0;
      }
      this.#transmit(peer);
      if (!peer.continueSending || paced) return;
    }
  }

  /**
   * Outgoing bandwidth pacing, a netkit extension: C ENet only advertises
   * `outgoingBandwidth` and throttles unreliable packets with it, so reliable
   * traffic ignores the limit. Here a token bucket (refilled at the limit,
   * 50 ms or two MTUs deep) holds back everything but acknowledgements once the
   * budget is spent, and wakes the sender when it has refilled. Wire-neutral.
   *
   * C: none.
   */
  #paced(): boolean {
    const bandwidth = this.outgoingBandwidth;
    if (bandwidth === 0) return false;
    const now = this.serviceTime;
    const depth = Math.max(2 * this.mtu, bandwidth / 20);
    this.#sendBudget = Math.min(
      depth,
      this.#sendBudget + (now - this.#sendBudgetTime) * bandwidth / 1000,
    );
    this.#sendBudgetTime = now;
    if (this.#sendBudget > 0) return false;
    this.#arm(now + Math.ceil(-this.#sendBudget * 1000 / bandwidth) + 1);
    return true;
  }

  /** C: the datagram send at the end of `enet_protocol_send_outgoing_commands`. */
  #transmit(peer: PeerCore): void {
    peer.lastSendTime = this.serviceTime;
    this.#transmitTo(peer.outgoingPeerID, peer.outgoingSessionID, peer.connectID, peer.address);
  }

  /**
   * Sends the commands built in the buffer as one datagram with the given header fields.
   *
   * C: `enet_socket_send` of the header and commands built for one datagram.
   */
  #transmitTo(
    outgoingPeerID: number,
    outgoingSessionID: number,
    connectID: number,
    address: Address,
  ): void {
    const buffer = this.#buffer;
    const body = this.#body;
    const end = this.#offset;
    let flags = this.#headerFlags;
    const headerSize = flags & ENET_PROTOCOL_HEADER_FLAG_SENT_TIME
      ? ENetProtocolHeader.size
      : ENET_PROTOCOL_HEADER_MINIMUM_SIZE;
    const start = body - headerSize - this.checksumSize;
    let compressed: Uint8Array | null = null;
    if (this.compressor !== null) {
      const originalSize = end - body;
      const result = this.compressor.compress([buffer.subarray(body, end)], originalSize);
      if (result !== null && result.length > 0 && result.length < originalSize) {
        flags |= ENET_PROTOCOL_HEADER_FLAG_COMPRESSED;
        compressed = result;
      }
    }
    if (outgoingPeerID < ENET_PROTOCOL_MAXIMUM_PEER_ID) {
      flags |= outgoingSessionID << ENET_PROTOCOL_HEADER_SESSION_SHIFT;
    }
    const view = this.#view;
    view.setUint16(start, outgoingPeerID | flags);
    if (flags & ENET_PROTOCOL_HEADER_FLAG_SENT_TIME) {
      view.setUint16(start + ENetProtocolHeader.sentTime, this.serviceTime & 0xFFFF);
    }
    if (this.checksum !== null) {
      const at = start + headerSize;
      view.setUint32(at, outgoingPeerID < ENET_PROTOCOL_MAXIMUM_PEER_ID ? connectID : 0);
      view.setUint32(at, this.checksum(buffer.subarray(start, end)));
    }
    let length: number;
    if (compressed !== null) {
      const datagram = new Uint8Array(body - start + compressed.length);
      datagram.set(buffer.subarray(start, body));
      datagram.set(compressed, body - start);
      length = datagram.length;
      this.socket.send(datagram, address, null);
    } else {
      length = end - start;
      this.socket.send(buffer.subarray(start, end), address, this.#chunk);
      this.#advance(end);
    }

    if (this.outgoingBandwidth !== 0) this.#sendBudget -= length;
    this.totalSentData += length;
    this.totalSentPackets++;
  }

  /**
   * Moves past a datagram handed to the socket; switches to a free chunk when this one is full.
   *
   * C: none; C builds each datagram in `host -> buffers` and sends it synchronously.
   */
  #advance(end: number): void {
    let base = (end + 7) & ~7;
    if (base + BODY_OFFSET + ENET_PROTOCOL_MAXIMUM_MTU + 64 > this.#chunk.bytes.length) {
      let next: SendChunk | undefined;
      for (const chunk of this.#chunks) {
        if (chunk !== this.#chunk && chunk.pending === 0) {
          next = chunk;
          break;
        }
      }
      if (next === undefined) {
        next = new SendChunk();
        // Sends complete within a turn of the event loop; a few chunks suffice.
        if (this.#chunks.length < 16) this.#chunks.push(next);
      }
      this.#chunk = next;
      this.#buffer = next.bytes;
      this.#view = next.view;
      base = 0;
    }
    this.#body = base + BODY_OFFSET;
  }

  /**
   * Sends `peer`'s queued acknowledgements now, in datagrams of their own
   * (before a disconnect drops them, see `PeerCore.disconnect`).
   *
   * C: `enet_protocol_send_acknowledgements` and the datagram send of
   * `enet_protocol_send_outgoing_commands`, without the other commands.
   */
  flushAcknowledgements(peer: PeerCore): void {
    // Never in the middle of a datagram being built (no application code runs there).
    if (this.#building || this.closed) return;
    const state = peer.state;
    if (state === ENET_PEER_STATE_DISCONNECTED || state === ENET_PEER_STATE_ZOMBIE) return;
    this.serviceTime = timeNow();
    while (!peer.acknowledgements.empty) {
      peer.continueSending = false;
      this.#headerFlags = 0;
      this.#commandCount = 0;
      this.#packetSize = ENetProtocolHeader.size;
      this.#offset = this.#body;
      this.#sendAcknowledgements(peer);
      if (this.#commandCount === 0) return;
      this.#transmit(peer);
    }
  }

  /** C: `enet_protocol_send_acknowledgements`. */
  #sendAcknowledgements(peer: PeerCore): void {
    const acks = peer.acknowledgements;
    const view = this.#view;
    let i = acks.head;
    for (; i < acks.length; i++) {
      if (
        this.#commandCount >= ENET_PROTOCOL_MAXIMUM_PACKET_COMMANDS ||
        peer.mtu - this.#packetSize < ENetProtocolAcknowledge.size
      ) {
        peer.continueSending = true;
        break;
      }
      const o = this.#offset;
      const reliableSequenceNumber = acks.reliableSequenceNumber[i];
      view.setUint8(o, ENET_PROTOCOL_COMMAND_ACKNOWLEDGE);
      view.setUint8(o + ENetProtocolCommandHeader.channelID, acks.channelID[i]);
      view.setUint16(o + ENetProtocolCommandHeader.reliableSequenceNumber, reliableSequenceNumber);
      view.setUint16(
        o + ENetProtocolAcknowledge.receivedReliableSequenceNumber,
        reliableSequenceNumber,
      );
      view.setUint16(o + ENetProtocolAcknowledge.receivedSentTime, acks.sentTime[i]);
      this.#offset = o + ENetProtocolAcknowledge.size;
      this.#packetSize += ENetProtocolAcknowledge.size;
      this.#commandCount++;
      if ((acks.command[i] & ENET_PROTOCOL_COMMAND_MASK) === ENET_PROTOCOL_COMMAND_DISCONNECT) {
        peer.disconnectReason = "remote";
        this.dispatchState(peer, ENET_PEER_STATE_ZOMBIE);
      }
    }
    acks.consume(i - acks.head);
  }

  /** C: `enet_protocol_check_timeouts`; true when the peer timed out. */
  #checkTimeouts(peer: PeerCore): boolean {
    const sent = peer.sentReliableCommands;
    let node = sent.sentinel.next;
    const insertPosition = peer.outgoingCommands.sentinel.next;
    const insertSendReliablePosition = peer.outgoingSendReliableCommands.sentinel.next;
    while (node !== sent.sentinel) {
      const command = node as OutgoingCommand;
      node = node.next;
      if (this.serviceTime - command.sentTime < command.roundTripTimeout) continue;
      if (peer.earliestTimeout === 0 || command.sentTime < peer.earliestTimeout) {
        peer.earliestTimeout = command.sentTime;
      }
      if (
        peer.earliestTimeout !== 0 &&
        (this.serviceTime - peer.earliestTimeout >= peer.timeoutMaximum ||
          ((1 << (command.sendAttempts - 1)) >= peer.timeoutLimit &&
            this.serviceTime - peer.earliestTimeout >= peer.timeoutMinimum))
      ) {
        this.#notifyDisconnect(peer, "timeout");
        return true;
      }
      peer.packetsLost++;
      command.roundTripTimeout *= 2;
      sent.remove(command);
      if (command.packet !== null) {
        peer.reliableDataInTransit -= command.fragmentLength;
        peer.outgoingSendReliableCommands.insertBefore(insertSendReliablePosition, command);
      } else {
        peer.outgoingCommands.insertBefore(insertPosition, command);
      }
      if (node === sent.sentinel.next && !sent.empty) {
        const front = node as OutgoingCommand;
        peer.nextTimeout = front.sentTime + front.roundTripTimeout;
      }
    }
    return false;
  }

  /** C: `enet_protocol_check_outgoing_commands`; returns canPing. */
  #checkOutgoingCommands(peer: PeerCore): boolean {
    const view = this.#view;
    const buffer = this.#buffer;
    const outgoing = peer.outgoingCommands;
    const outgoingReliable = peer.outgoingSendReliableCommands;
    let current = outgoing.sentinel.next;
    let currentSendReliable = outgoingReliable.sentinel.next;
    let windowWrap = false;
    let canPing = true;
    let sentOnce = false;
    for (;;) {
      let command: OutgoingCommand;
      let fromReliable: boolean;
      if (current !== outgoing.sentinel) {
        command = current as OutgoingCommand;
        if (
          currentSendReliable !== outgoingReliable.sentinel &&
          (currentSendReliable as OutgoingCommand).queueTime < command.queueTime
        ) {
          command = currentSendReliable as OutgoingCommand;
          currentSendReliable = currentSendReliable.next;
          fromReliable = true;
        } else {
          current = current.next;
          fromReliable = false;
        }
      } else if (currentSendReliable !== outgoingReliable.sentinel) {
        command = currentSendReliable as OutgoingCommand;
        currentSendReliable = currentSendReliable.next;
        fromReliable = true;
      } else break;

      let channel: Channel | null = null;
      let reliableWindow = 0;
      if (command.command & ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE) {
        channel = command.channelID < peer.channels.length
          ? peer.channels[command.channelID]
          : null;
        reliableWindow = Math.floor(
          command.reliableSequenceNumber / ENET_PEER_RELIABLE_WINDOW_SIZE,
        );
        if (channel !== null) {
          if (windowWrap) continue;
          const mask = (1 << (ENET_PEER_FREE_RELIABLE_WINDOWS + 2)) - 1;
          if (
            command.sendAttempts < 1 &&
            command.reliableSequenceNumber % ENET_PEER_RELIABLE_WINDOW_SIZE === 0 &&
            (channel.reliableWindows[
                  (reliableWindow + ENET_PEER_RELIABLE_WINDOWS - 1) % ENET_PEER_RELIABLE_WINDOWS
                ] >= ENET_PEER_RELIABLE_WINDOW_SIZE ||
              (channel.usedReliableWindows &
                ((mask << reliableWindow) |
                  (mask >> (ENET_PEER_RELIABLE_WINDOWS - reliableWindow)))))
          ) {
            windowWrap = true;
            currentSendReliable = outgoingReliable.sentinel;
            continue;
          }
        }
        if (command.packet !== null) {
          const windowSize = Math.floor(
            (peer.packetThrottle * peer.windowSize) / ENET_PEER_PACKET_THROTTLE_SCALE,
          );
          if (
            peer.reliableDataInTransit + command.fragmentLength > Math.max(windowSize, peer.mtu)
          ) {
            currentSendReliable = outgoingReliable.sentinel;
            continue;
          }
        }
        canPing = false;
      }
      const commandSize = commandSizes[command.command & ENET_PROTOCOL_COMMAND_MASK];
      if (
        this.#commandCount >= ENET_PROTOCOL_MAXIMUM_PACKET_COMMANDS ||
        peer.mtu - this.#packetSize < commandSize ||
        (command.packet !== null &&
          ((peer.mtu - this.#packetSize) & 0xFFFF) <
            ((commandSize + command.fragmentLength) & 0xFFFF))
      ) {
        peer.continueSending = true;
        break;
      }
      if (command.command & ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE) {
        if (channel !== null && command.sendAttempts < 1) {
          channel.usedReliableWindows |= 1 << reliableWindow;
          channel.reliableWindows[reliableWindow]++;
        }
        command.sendAttempts++;
        if (command.roundTripTimeout === 0) {
          command.roundTripTimeout = peer.roundTripTime + 4 * peer.roundTripTimeVariance;
        }
        if (peer.sentReliableCommands.empty) {
          peer.nextTimeout = this.serviceTime + command.roundTripTimeout;
        }
        (fromReliable ? outgoingReliable : outgoing).remove(command);
        peer.sentReliableCommands.push(command);
        command.sentTime = this.serviceTime;
        this.#headerFlags |= ENET_PROTOCOL_HEADER_FLAG_SENT_TIME;
        peer.reliableDataInTransit += command.fragmentLength;
      } else {
        if (command.packet !== null && command.fragmentOffset === 0) {
          peer.packetThrottleCounter += ENET_PEER_PACKET_THROTTLE_COUNTER;
          peer.packetThrottleCounter %= ENET_PEER_PACKET_THROTTLE_SCALE;
          if (peer.packetThrottleCounter > peer.packetThrottle) {
            const reliableSequenceNumber = command.reliableSequenceNumber;
            const unreliableSequenceNumber = command.unreliableSequenceNumber;
            for (;;) {
              outgoing.remove(command);
              releaseOutgoingCommand(command);
              if (current === outgoing.sentinel) break;
              command = current as OutgoingCommand;
              if (
                command.reliableSequenceNumber !== reliableSequenceNumber ||
                command.unreliableSequenceNumber !== unreliableSequenceNumber
              ) break;
              current = current.next;
            }
            continue;
          }
        }
        outgoing.remove(command);
        sentOnce = true;
      }
      this.#writeCommand(peer, command, view, buffer);
      this.#packetSize += commandSize + (command.packet !== null ? command.fragmentLength : 0);
      peer.packetsSent++;
      this.#commandCount++;
      if (sentOnce) {
        // Unreliable, unsequenced and unacknowledged control commands are done once written.
        releaseOutgoingCommand(command);
        sentOnce = false;
      }
    }
    if (peer.state === ENET_PEER_STATE_DISCONNECT_LATER && !peer.hasOutgoingCommands()) {
      peer.disconnect(peer.eventData);
    }
    return canPing;
  }

  /** C: the command copy inside `enet_protocol_check_outgoing_commands` (and `_send_acknowledgements`). */
  #writeCommand(
    _peer: PeerCore,
    command: OutgoingCommand,
    view: DataView,
    buffer: Uint8Array,
  ): void {
    const o = this.#offset;
    const commandNumber = command.command & ENET_PROTOCOL_COMMAND_MASK;
    const size = commandSizes[commandNumber];
    if (command.body !== null) buffer.set(command.body, o);
    buffer[o] = command.command;
    buffer[o + ENetProtocolCommandHeader.channelID] = command.channelID;
    view.setUint16(
      o + ENetProtocolCommandHeader.reliableSequenceNumber,
      command.reliableSequenceNumber,
    );
    const packet = command.packet;
    if (packet === null) {
      this.#offset = o + size;
      return;
    }
    switch (commandNumber) {
      case ENET_PROTOCOL_COMMAND_SEND_RELIABLE:
        view.setUint16(o + ENetProtocolSendReliable.dataLength, command.fragmentLength);
        break;
      case ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE:
        view.setUint16(
          o + ENetProtocolSendUnreliable.unreliableSequenceNumber,
          command.unreliableSequenceNumber,
        );
        view.setUint16(o + ENetProtocolSendUnreliable.dataLength, command.fragmentLength);
        break;
      case ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED:
        view.setUint16(o + ENetProtocolSendUnsequenced.unsequencedGroup, command.unsequencedGroup);
        view.setUint16(o + ENetProtocolSendUnsequenced.dataLength, command.fragmentLength);
        break;
      default: // SEND_FRAGMENT, SEND_UNRELIABLE_FRAGMENT
        view.setUint16(
          o + ENetProtocolSendFragment.startSequenceNumber,
          command.startSequenceNumber,
        );
        view.setUint16(o + ENetProtocolSendFragment.dataLength, command.fragmentLength);
        view.setUint32(o + ENetProtocolSendFragment.fragmentCount, command.fragmentCount);
        view.setUint32(o + ENetProtocolSendFragment.fragmentNumber, command.fragmentNumber);
        view.setUint32(o + ENetProtocolSendFragment.totalLength, packet.data.length);
        view.setUint32(o + ENetProtocolSendFragment.fragmentOffset, command.fragmentOffset);
    }
    const payloadAt = o + size;
    const data = packet.data;
    if (command.fragmentOffset === 0 && command.fragmentLength === data.length) {
      buffer.set(data, payloadAt);
    } else {
      buffer.set(
        data.subarray(command.fragmentOffset, command.fragmentOffset + command.fragmentLength),
        payloadAt,
      );
    }
    this.#offset = payloadAt + command.fragmentLength;
  }

  // --- bandwidth ---------------------------------------------------------------------

  /** C: `enet_host_bandwidth_throttle` (host.c), run every second. */
  bandwidthThrottle(): void {
    const timeCurrent = timeNow();
    const elapsedTime = timeCurrent - this.bandwidthThrottleEpoch;
    let peersRemaining = this.connectedPeers;
    let dataTotal = 0xFFFFFFFF;
    let bandwidth = 0xFFFFFFFF;
    let throttle = 0;
    let bandwidthLimit = 0;
    let needsAdjustment = this.bandwidthLimitedPeers > 0;
    if (elapsedTime < ENET_HOST_BANDWIDTH_THROTTLE_INTERVAL) return;
    this.bandwidthThrottleEpoch = timeCurrent;
    if (peersRemaining === 0) return;
    const connected: PeerCore[] = [];
    for (const peer of this.active) {
      if (this.#connectedState(peer)) connected.push(peer);
    }
    const marked = new Set<PeerCore>();
    if (this.outgoingBandwidth !== 0) {
      dataTotal = 0;
      bandwidth = Math.floor(this.outgoingBandwidth * elapsedTime / 1000);
      for (const peer of connected) dataTotal += peer.outgoingDataTotal;
    }
    while (peersRemaining > 0 && needsAdjustment) {
      needsAdjustment = false;
      throttle = dataTotal <= bandwidth
        ? ENET_PEER_PACKET_THROTTLE_SCALE
        : Math.floor(bandwidth * ENET_PEER_PACKET_THROTTLE_SCALE / dataTotal);
      for (const peer of connected) {
        if (marked.has(peer)) continue;
        if (
          peer.incomingBandwidth === 0 ||
          peer.outgoingBandwidthThrottleEpoch === timeCurrent
        ) continue;
        const peerBandwidth = Math.floor(peer.incomingBandwidth * elapsedTime / 1000);
        if (
          Math.floor(throttle * peer.outgoingDataTotal / ENET_PEER_PACKET_THROTTLE_SCALE) <=
            peerBandwidth
        ) {
          continue;
        }
        peer.packetThrottleLimit = Math.max(
          1,
          Math.floor(peerBandwidth * ENET_PEER_PACKET_THROTTLE_SCALE / peer.outgoingDataTotal),
        );
        if (peer.packetThrottle > peer.packetThrottleLimit) {
          peer.packetThrottle = peer.packetThrottleLimit;
        }
        peer.outgoingBandwidthThrottleEpoch = timeCurrent;
        peer.incomingDataTotal = 0;
        peer.outgoingDataTotal = 0;
        needsAdjustment = true;
        peersRemaining--;
        bandwidth -= peerBandwidth;
        dataTotal -= peerBandwidth;
        marked.add(peer);
      }
    }
    if (peersRemaining > 0) {
      throttle = dataTotal <= bandwidth
        ? ENET_PEER_PACKET_THROTTLE_SCALE
        : Math.floor(bandwidth * ENET_PEER_PACKET_THROTTLE_SCALE / dataTotal);
      for (const peer of connected) {
        if (peer.outgoingBandwidthThrottleEpoch === timeCurrent) continue;
        peer.packetThrottleLimit = throttle;
        if (peer.packetThrottle > peer.packetThrottleLimit) {
          peer.packetThrottle = peer.packetThrottleLimit;
        }
        peer.incomingDataTotal = 0;
        peer.outgoingDataTotal = 0;
      }
    }
    if (this.recalculateBandwidthLimits) {
      this.recalculateBandwidthLimits = false;
      peersRemaining = this.connectedPeers;
      bandwidth = this.incomingBandwidth;
      needsAdjustment = true;
      const limited = new Set<PeerCore>();
      if (bandwidth === 0) bandwidthLimit = 0;
      else {
        while (peersRemaining > 0 && needsAdjustment) {
          needsAdjustment = false;
          bandwidthLimit = Math.floor(bandwidth / peersRemaining);
          for (const peer of connected) {
            if (limited.has(peer)) continue;
            if (peer.incomingBandwidthThrottleEpoch === timeCurrent) continue;
            if (peer.outgoingBandwidth > 0 && peer.outgoingBandwidth >= bandwidthLimit) continue;
            peer.incomingBandwidthThrottleEpoch = timeCurrent;
            needsAdjustment = true;
            peersRemaining--;
            bandwidth -= peer.outgoingBandwidth;
            limited.add(peer);
          }
        }
      }
      for (const peer of connected) {
        const body = new Uint8Array(ENetProtocolBandwidthLimit.size);
        const view = new DataView(body.buffer);
        view.setUint32(ENetProtocolBandwidthLimit.outgoingBandwidth, this.outgoingBandwidth);
        view.setUint32(
          ENetProtocolBandwidthLimit.incomingBandwidth,
          peer.incomingBandwidthThrottleEpoch === timeCurrent
            ? peer.outgoingBandwidth
            : bandwidthLimit,
        );
        peer.queueControlCommand(
          ENET_PROTOCOL_COMMAND_BANDWIDTH_LIMIT | ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE,
          body,
        );
      }
    }
  }

  // --- lifecycle ------------------------------------------------------------------------

  /** Stops timers and the socket. C: `enet_host_destroy`. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    // A client host created without an address binds at its first connect().
    await this.socket?.close();
  }

  /** Schedules the timer pass soon (after settings change). C: none; C's next `enet_host_service` call. */
  wake(): void {
    this.#arm(this.serviceTime);
  }
}
