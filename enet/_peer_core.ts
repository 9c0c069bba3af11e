/**
 * Per-peer protocol state and the logic of C ENet's `peer.c`: queueing
 * outgoing commands with sequence numbers, fragmenting, ordering incoming
 * commands per channel and handing complete packets to the host's single
 * delivery path, throttle, disconnect and reset.
 *
 * One `PeerCore` lives per slot of the host's peer table (like C's
 * `ENetPeer`): session IDs survive reconnections of the slot. The public
 * `Peer` object is created per connection.
 *
 * @module
 */

import {
  acquireOutgoingCommand,
  type Channel,
  IncomingCommand,
  type OutgoingCommand,
  type OutgoingPacket,
  releaseOutgoingCommand,
} from "./_commands.ts";
import { List, type ListNode } from "./_list.ts";
import { copyBytes } from "./_slab.ts";
import {
  commandSizes,
  ENET_CONTROL_CHANNEL_ID,
  ENET_PACKET_FLAG_RELIABLE,
  ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT,
  ENET_PACKET_FLAG_UNSEQUENCED,
  ENET_PEER_DEFAULT_PACKET_THROTTLE,
  ENET_PEER_DEFAULT_ROUND_TRIP_TIME,
  ENET_PEER_FREE_RELIABLE_WINDOWS,
  ENET_PEER_PACKET_THROTTLE_ACCELERATION,
  ENET_PEER_PACKET_THROTTLE_DECELERATION,
  ENET_PEER_PACKET_THROTTLE_INTERVAL,
  ENET_PEER_PACKET_THROTTLE_SCALE,
  ENET_PEER_PING_INTERVAL,
  ENET_PEER_RELIABLE_WINDOW_SIZE,
  ENET_PEER_RELIABLE_WINDOWS,
  ENET_PEER_STATE_ACKNOWLEDGING_DISCONNECT,
  ENET_PEER_STATE_CONNECTED,
  ENET_PEER_STATE_DISCONNECT_LATER,
  ENET_PEER_STATE_DISCONNECTED,
  ENET_PEER_STATE_DISCONNECTING,
  ENET_PEER_STATE_ZOMBIE,
  ENET_PEER_TIMEOUT_LIMIT,
  ENET_PEER_TIMEOUT_MAXIMUM,
  ENET_PEER_TIMEOUT_MINIMUM,
  ENET_PEER_UNSEQUENCED_WINDOW_SIZE,
  ENET_PROTOCOL_COMMAND_DISCONNECT,
  ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE,
  ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED,
  ENET_PROTOCOL_COMMAND_MASK,
  ENET_PROTOCOL_COMMAND_PING,
  ENET_PROTOCOL_COMMAND_SEND_FRAGMENT,
  ENET_PROTOCOL_COMMAND_SEND_RELIABLE,
  ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE,
  ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE_FRAGMENT,
  ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED,
  ENET_PROTOCOL_COMMAND_THROTTLE_CONFIGURE,
  ENET_PROTOCOL_MAXIMUM_PEER_ID,
  ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE,
  ENetProtocolCommandHeader,
  ENetProtocolDisconnect,
  ENetProtocolHeader,
  ENetProtocolSendFragment,
  ENetProtocolThrottleConfigure,
  NETKIT_SESSION_ID_NONE,
} from "./_protocol.ts";
import type { Address } from "./_socket.ts";

/** Why a connection ended, as reported in the `disconnect` event. */
export type DisconnectReason = "remote" | "local" | "timeout";

/** The figures a `Peer` keeps showing after its connection ended. */
export interface PeerStatistics {
  roundTripTime: number;
  roundTripTimeVariance: number;
  packetLoss: number;
  packetThrottle: number;
  incomingDataTotal: number;
  outgoingDataTotal: number;
  mtu: number;
}

/** What a peer needs from its host. */
export interface PeerHost {
  readonly mtu: number;
  readonly maximumPacketSize: number;
  readonly maximumWaitingData: number;
  readonly maximumIncompletePackets: number;
  readonly checksumSize: number;
  serviceTime: number;
  /** Host-wide bytes received and not yet consumed. */
  waitingData: number;
  /** Host-wide packets received and not yet consumed. */
  waitingPackets: number;
  /** Whether the peer may hold one more received packet of `bytes` (per-peer and host-wide bounds). */
  admitWaiting(peer: PeerCore, bytes: number, unblocks?: boolean): boolean;
  nextQueueTime(): number;
  /** Marks the peer as having something to send and schedules a flush. */
  markDirty(peer: PeerCore): void;
  /** `enet_protocol_change_state`: moves the peer and keeps connected-peer counters. */
  changeState(peer: PeerCore, state: number): void;
  /** Sends what is queued for this peer right now (disconnectNow). */
  flushNow(peer: PeerCore): void;
  /** Sends the peer's queued acknowledgements right now, alone. */
  flushAcknowledgements(peer: PeerCore): void;
  /** Queues the peer for state dispatch (connect / disconnect events). */
  dispatchState(peer: PeerCore, state: number): void;
  /** The single delivery path of complete packets. */
  deliver(peer: PeerCore, channelID: number, data: Uint8Array, flags: number): void;
  /** A connection ended without going through dispatch (reset, disconnectNow). */
  onReset(peer: PeerCore, reason: DisconnectReason, data: number, notify: boolean): void;
}

/** Returned by `queueIncomingCommand` for commands dropped without error. */
const DISCARDED = new IncomingCommand(0, 0, 0, new Uint8Array(0), 0, 0);

/** Per-connection state and `peer.c` logic. */
export class PeerCore {
  state = ENET_PEER_STATE_DISCONNECTED;
  address: Address = { hostname: "", port: 0 };
  outgoingPeerID = ENET_PROTOCOL_MAXIMUM_PEER_ID;
  incomingSessionID = NETKIT_SESSION_ID_NONE;
  outgoingSessionID = NETKIT_SESSION_ID_NONE;
  connectID = 0;
  channels: Channel[] = [];
  incomingBandwidth = 0;
  outgoingBandwidth = 0;
  incomingBandwidthThrottleEpoch = 0;
  outgoingBandwidthThrottleEpoch = 0;
  incomingDataTotal = 0;
  outgoingDataTotal = 0;
  lastSendTime = 0;
  lastReceiveTime = 0;
  nextTimeout = 0;
  earliestTimeout = 0;
  packetLossEpoch = 0;
  packetsSent = 0;
  packetsLost = 0;
  packetLoss = 0;
  packetLossVariance = 0;
  packetThrottle = ENET_PEER_DEFAULT_PACKET_THROTTLE;
  packetThrottleLimit = ENET_PEER_PACKET_THROTTLE_SCALE;
  packetThrottleCounter = 0;
  packetThrottleEpoch = 0;
  packetThrottleAcceleration = ENET_PEER_PACKET_THROTTLE_ACCELERATION;
  packetThrottleDeceleration = ENET_PEER_PACKET_THROTTLE_DECELERATION;
  packetThrottleInterval = ENET_PEER_PACKET_THROTTLE_INTERVAL;
  pingInterval = ENET_PEER_PING_INTERVAL;
  timeoutLimit = ENET_PEER_TIMEOUT_LIMIT;
  timeoutMinimum = ENET_PEER_TIMEOUT_MINIMUM;
  timeoutMaximum = ENET_PEER_TIMEOUT_MAXIMUM;
  lastRoundTripTime = ENET_PEER_DEFAULT_ROUND_TRIP_TIME;
  lowestRoundTripTime = ENET_PEER_DEFAULT_ROUND_TRIP_TIME;
  lastRoundTripTimeVariance = 0;
  highestRoundTripTimeVariance = 0;
  roundTripTime = ENET_PEER_DEFAULT_ROUND_TRIP_TIME;
  roundTripTimeVariance = 0;
  /** Figures of the connection the last `reset()` ended (read by its `Peer` object). */
  lastStatistics: PeerStatistics | null = null;
  mtu: number;
  windowSize = ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE;
  reliableDataInTransit = 0;
  outgoingReliableSequenceNumber = 0;
  incomingUnsequencedGroup = 0;
  outgoingUnsequencedGroup = 0;
  readonly unsequencedWindow: Uint32Array = new Uint32Array(ENET_PEER_UNSEQUENCED_WINDOW_SIZE / 32);
  eventData = 0;
  totalWaitingData = 0;
  /** Packets received and not yet consumed (queued for order or delivered). */
  waitingPackets = 0;
  incompletePackets = 0;
  continueSending = false;
  needsDispatch = false;
  dirty = false;
  /** Set while in the host's list of peers that are not disconnected. */
  active = false;
  disconnectReason: DisconnectReason = "remote";
  /** Bytes of reliable payload queued or in flight (stream backpressure). */
  reliableDataPending = 0;
  /** Whether the current connection reached CONNECTED (events are owed). */
  connectedOnce = false;
  /** Incremented per connection so stale public objects can tell. */
  generation = 0;

  readonly acknowledgements: AcknowledgementQueue = new AcknowledgementQueue();
  readonly sentReliableCommands: List<OutgoingCommand> = new List();
  readonly outgoingCommands: List<OutgoingCommand> = new List();
  readonly outgoingSendReliableCommands: List<OutgoingCommand> = new List();

  /** Public facade of the current connection (set by the host). */
  facade: unknown = null;

  constructor(readonly host: PeerHost, readonly incomingPeerID: number) {
    this.mtu = host.mtu;
  }

  // --- throttle ----------------------------------------------------------------

  /** `enet_peer_throttle`. */
  throttle(rtt: number): number {
    if (this.lastRoundTripTime <= this.lastRoundTripTimeVariance) {
      this.packetThrottle = this.packetThrottleLimit;
    } else if (rtt <= this.lastRoundTripTime) {
      this.packetThrottle += this.packetThrottleAcceleration;
      if (this.packetThrottle > this.packetThrottleLimit) {
        this.packetThrottle = this.packetThrottleLimit;
      }
      return 1;
    } else if (rtt > this.lastRoundTripTime + 2 * this.lastRoundTripTimeVariance) {
      if (this.packetThrottle > this.packetThrottleDeceleration) {
        this.packetThrottle -= this.packetThrottleDeceleration;
      } else this.packetThrottle = 0;
      return -1;
    }
    return 0;
  }

  /** `enet_peer_throttle_configure`. */
  throttleConfigure(interval: number, acceleration: number, deceleration: number): void {
    this.packetThrottleInterval = interval;
    this.packetThrottleAcceleration = acceleration;
    this.packetThrottleDeceleration = deceleration;
    const body = new Uint8Array(ENetProtocolThrottleConfigure.size);
    const view = new DataView(body.buffer);
    view.setUint32(ENetProtocolThrottleConfigure.packetThrottleInterval, interval);
    view.setUint32(ENetProtocolThrottleConfigure.packetThrottleAcceleration, acceleration);
    view.setUint32(ENetProtocolThrottleConfigure.packetThrottleDeceleration, deceleration);
    this.queueControlCommand(
      ENET_PROTOCOL_COMMAND_THROTTLE_CONFIGURE | ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE,
      body,
    );
  }

  // --- sending -----------------------------------------------------------------

  /**
   * `enet_peer_send` after validation: queues `packet` on `channelID`,
   * fragmenting when it exceeds one datagram.
   */
  send(channelID: number, packet: OutgoingPacket): void {
    const channel = this.channels[channelID];
    const dataLength = packet.data.length;
    let fragmentLength = this.mtu - ENetProtocolHeader.size - ENetProtocolSendFragment.size -
      this.host.checksumSize;
    if (packet.flags & ENET_PACKET_FLAG_RELIABLE) this.reliableDataPending += dataLength;
    if (dataLength > fragmentLength) {
      const fragmentCount = Math.ceil(dataLength / fragmentLength);
      let commandNumber: number;
      let startSequenceNumber: number;
      if (
        (packet.flags & (ENET_PACKET_FLAG_RELIABLE | ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT)) ===
          ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT &&
        channel.outgoingUnreliableSequenceNumber < 0xFFFF
      ) {
        commandNumber = ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE_FRAGMENT;
        startSequenceNumber = (channel.outgoingUnreliableSequenceNumber + 1) & 0xFFFF;
      } else {
        commandNumber = ENET_PROTOCOL_COMMAND_SEND_FRAGMENT |
          ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE;
        startSequenceNumber = (channel.outgoingReliableSequenceNumber + 1) & 0xFFFF;
        if (!(packet.flags & ENET_PACKET_FLAG_RELIABLE)) this.reliableDataPending += dataLength;
      }
      let fragmentNumber = 0;
      for (let offset = 0; offset < dataLength; fragmentNumber++, offset += fragmentLength) {
        if (dataLength - offset < fragmentLength) fragmentLength = dataLength - offset;
        const fragment = acquireOutgoingCommand();
        fragment.command = commandNumber;
        fragment.channelID = channelID;
        fragment.packet = packet;
        fragment.fragmentOffset = offset;
        fragment.fragmentLength = fragmentLength;
        fragment.startSequenceNumber = startSequenceNumber;
        fragment.fragmentCount = fragmentCount;
        fragment.fragmentNumber = fragmentNumber;
        packet.referenceCount++;
        this.setupOutgoingCommand(fragment);
      }
      return;
    }
    const command = acquireOutgoingCommand();
    command.channelID = channelID;
    if (
      (packet.flags & (ENET_PACKET_FLAG_RELIABLE | ENET_PACKET_FLAG_UNSEQUENCED)) ===
        ENET_PACKET_FLAG_UNSEQUENCED
    ) {
      command.command = ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED |
        ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED;
    } else if (
      packet.flags & ENET_PACKET_FLAG_RELIABLE || channel.outgoingUnreliableSequenceNumber >= 0xFFFF
    ) {
      command.command = ENET_PROTOCOL_COMMAND_SEND_RELIABLE |
        ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE;
      if (!(packet.flags & ENET_PACKET_FLAG_RELIABLE)) this.reliableDataPending += dataLength;
    } else {
      command.command = ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE;
    }
    command.packet = packet;
    command.fragmentLength = dataLength;
    packet.referenceCount++;
    this.setupOutgoingCommand(command);
  }

  /** Queues a command without payload on the control channel. */
  queueControlCommand(command: number, body: Uint8Array): OutgoingCommand {
    const outgoing = acquireOutgoingCommand();
    outgoing.command = command;
    outgoing.channelID = ENET_CONTROL_CHANNEL_ID;
    outgoing.body = body;
    body[ENetProtocolCommandHeader.command] = command;
    body[ENetProtocolCommandHeader.channelID] = ENET_CONTROL_CHANNEL_ID;
    this.setupOutgoingCommand(outgoing);
    return outgoing;
  }

  /** `enet_peer_setup_outgoing_command`. */
  setupOutgoingCommand(outgoing: OutgoingCommand): void {
    const commandNumber = outgoing.command & ENET_PROTOCOL_COMMAND_MASK;
    this.outgoingDataTotal += commandSizes[commandNumber] + outgoing.fragmentLength;
    if (outgoing.channelID === ENET_CONTROL_CHANNEL_ID) {
      this.outgoingReliableSequenceNumber = (this.outgoingReliableSequenceNumber + 1) & 0xFFFF;
      outgoing.reliableSequenceNumber = this.outgoingReliableSequenceNumber;
      outgoing.unreliableSequenceNumber = 0;
    } else {
      const channel = this.channels[outgoing.channelID];
      if (outgoing.command & ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE) {
        channel.outgoingReliableSequenceNumber = (channel.outgoingReliableSequenceNumber + 1) &
          0xFFFF;
        channel.outgoingUnreliableSequenceNumber = 0;
        outgoing.reliableSequenceNumber = channel.outgoingReliableSequenceNumber;
        outgoing.unreliableSequenceNumber = 0;
      } else if (outgoing.command & ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED) {
        this.outgoingUnsequencedGroup = (this.outgoingUnsequencedGroup + 1) & 0xFFFF;
        outgoing.reliableSequenceNumber = 0;
        outgoing.unreliableSequenceNumber = 0;
        outgoing.unsequencedGroup = this.outgoingUnsequencedGroup;
      } else {
        if (outgoing.fragmentOffset === 0) {
          channel.outgoingUnreliableSequenceNumber = channel.outgoingUnreliableSequenceNumber + 1;
        }
        outgoing.reliableSequenceNumber = channel.outgoingReliableSequenceNumber;
        outgoing.unreliableSequenceNumber = channel.outgoingUnreliableSequenceNumber & 0xFFFF;
      }
    }
    outgoing.sendAttempts = 0;
    outgoing.sentTime = 0;
    outgoing.roundTripTimeout = 0;
    outgoing.queueTime = this.host.nextQueueTime();
    if ((outgoing.command & ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE) && outgoing.packet !== null) {
      this.outgoingSendReliableCommands.push(outgoing);
    } else {
      this.outgoingCommands.push(outgoing);
    }
    this.host.markDirty(this);
  }

  /** `enet_peer_ping`. */
  ping(): void {
    if (this.state !== ENET_PEER_STATE_CONNECTED) return;
    this.queueControlCommand(
      ENET_PROTOCOL_COMMAND_PING | ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE,
      new Uint8Array(ENetProtocolCommandHeader.size),
    );
  }

  /** `enet_peer_has_outgoing_commands`. */
  hasOutgoingCommands(): boolean {
    return !(this.outgoingCommands.empty && this.outgoingSendReliableCommands.empty &&
      this.sentReliableCommands.empty);
  }

  // --- disconnect and reset -------------------------------------------------------

  private disconnectBody(data: number): Uint8Array {
    const body = new Uint8Array(ENetProtocolDisconnect.size);
    new DataView(body.buffer).setUint32(ENetProtocolDisconnect.data, data >>> 0);
    return body;
  }

  /** `enet_peer_disconnect_now`. */
  disconnectNow(data: number): void {
    if (this.state === ENET_PEER_STATE_DISCONNECTED) return;
    if (this.state !== ENET_PEER_STATE_ZOMBIE && this.state !== ENET_PEER_STATE_DISCONNECTING) {
      this.resetQueues();
      this.queueControlCommand(
        ENET_PROTOCOL_COMMAND_DISCONNECT | ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED,
        this.disconnectBody(data),
      );
      this.host.flushNow(this);
    }
    this.resetConnection("local", data, true);
  }

  /** `enet_peer_disconnect`. */
  disconnect(data: number): void {
    if (
      this.state === ENET_PEER_STATE_DISCONNECTING ||
      this.state === ENET_PEER_STATE_DISCONNECTED ||
      this.state === ENET_PEER_STATE_ACKNOWLEDGING_DISCONNECT ||
      this.state === ENET_PEER_STATE_ZOMBIE
    ) return;
    this.resetQueues();
    const connected = this.state === ENET_PEER_STATE_CONNECTED ||
      this.state === ENET_PEER_STATE_DISCONNECT_LATER;
    this.queueControlCommand(
      ENET_PROTOCOL_COMMAND_DISCONNECT |
        (connected
          ? ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE
          : ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED),
      this.disconnectBody(data),
    );
    if (connected) {
      this.eventData = data >>> 0;
      this.host.changeState(this, ENET_PEER_STATE_DISCONNECTING);
    } else {
      this.host.flushNow(this);
      this.resetConnection("local", data, true);
    }
  }

  /**
   * Sends the acknowledgements still queued, before an application's
   * disconnect drops them with the queues. A burst's acknowledgements leave a
   * few microtasks after the application saw its packets (so that an answer
   * shares their datagram); C sends them before the application sees
   * anything, so a disconnect in answer to a packet (or to the connect) must
   * not lose them: the remote would keep retransmitting, or never leave
   * ACKNOWLEDGING_CONNECT. Engine-internal disconnects do not call this (C
   * drops the queue there too).
   *
   * C: none; the `enet_protocol_send_acknowledgements` that ran in `enet_host_service`.
   */
  acknowledgeBeforeDisconnect(): void {
    if (!this.acknowledgements.empty) this.host.flushAcknowledgements(this);
  }

  /** `enet_peer_disconnect_later`. */
  disconnectLater(data: number): void {
    if (
      (this.state === ENET_PEER_STATE_CONNECTED ||
        this.state === ENET_PEER_STATE_DISCONNECT_LATER) &&
      this.hasOutgoingCommands()
    ) {
      this.state = ENET_PEER_STATE_DISCONNECT_LATER;
      this.eventData = data >>> 0;
    } else this.disconnect(data);
  }

  /** Resets the slot and tells the host the connection ended. */
  resetConnection(reason: DisconnectReason, data: number, notify: boolean): void {
    const wasActive = this.state !== ENET_PEER_STATE_DISCONNECTED;
    this.reset();
    if (wasActive) this.host.onReset(this, reason, data, notify);
  }

  /** Counts a received packet of `bytes` as waiting, here and host-wide. */
  addWaiting(bytes: number): void {
    this.totalWaitingData += bytes;
    this.waitingPackets++;
    this.host.waitingData += bytes;
    this.host.waitingPackets++;
  }

  /** A waiting packet of `bytes` was dropped before delivery. */
  removeWaiting(bytes: number): void {
    this.totalWaitingData -= bytes;
    this.waitingPackets--;
    this.host.waitingData -= bytes;
    this.host.waitingPackets--;
  }

  /** `enet_peer_reset_queues`. */
  resetQueues(): void {
    this.acknowledgements.clear();
    this.releaseOutgoing(this.sentReliableCommands);
    this.releaseOutgoing(this.outgoingCommands);
    this.releaseOutgoing(this.outgoingSendReliableCommands);
    for (const channel of this.channels) {
      for (const list of [channel.incomingReliableCommands, channel.incomingUnreliableCommands]) {
        for (let node = list.sentinel.next; node !== list.sentinel; node = node.next) {
          this.removeWaiting((node as IncomingCommand).data.length);
        }
        list.clear();
      }
    }
    this.channels = [];
    this.incompletePackets = 0;
    this.reliableDataPending = 0;
  }

  private releaseOutgoing(list: List<OutgoingCommand>): void {
    for (let command = list.shift(); command !== undefined; command = list.shift()) {
      const acknowledged = command.packet?.acknowledged;
      if (acknowledged) {
        command.packet!.acknowledged = null;
        acknowledged.reject(
          new DOMException("Peer disconnected before acknowledging", "AbortError"),
        );
      }
      releaseOutgoingCommand(command);
    }
  }

  /** `enet_peer_reset`: the slot goes back to DISCONNECTED (session IDs survive). */
  reset(): void {
    // The connection's last figures, for its `Peer` object to keep showing
    // after it ended (C keeps them in the slot until the slot is reused).
    this.lastStatistics = {
      roundTripTime: this.roundTripTime,
      roundTripTimeVariance: this.roundTripTimeVariance,
      packetLoss: this.packetLoss,
      packetThrottle: this.packetThrottle,
      incomingDataTotal: this.incomingDataTotal,
      outgoingDataTotal: this.outgoingDataTotal,
      mtu: this.mtu,
    };
    // Queued commands leave the host-wide count before the per-peer one is zeroed.
    this.resetQueues();
    this.host.changeState(this, ENET_PEER_STATE_DISCONNECTED);
    this.outgoingPeerID = ENET_PROTOCOL_MAXIMUM_PEER_ID;
    this.connectID = 0;
    this.state = ENET_PEER_STATE_DISCONNECTED;
    this.incomingBandwidth = 0;
    this.outgoingBandwidth = 0;
    this.incomingBandwidthThrottleEpoch = 0;
    this.outgoingBandwidthThrottleEpoch = 0;
    this.incomingDataTotal = 0;
    this.outgoingDataTotal = 0;
    this.lastSendTime = 0;
    this.lastReceiveTime = 0;
    this.nextTimeout = 0;
    this.earliestTimeout = 0;
    this.packetLossEpoch = 0;
    this.packetsSent = 0;
    this.packetsLost = 0;
    this.packetLoss = 0;
    this.packetLossVariance = 0;
    this.packetThrottle = ENET_PEER_DEFAULT_PACKET_THROTTLE;
    this.packetThrottleLimit = ENET_PEER_PACKET_THROTTLE_SCALE;
    this.packetThrottleCounter = 0;
    this.packetThrottleEpoch = 0;
    this.packetThrottleAcceleration = ENET_PEER_PACKET_THROTTLE_ACCELERATION;
    this.packetThrottleDeceleration = ENET_PEER_PACKET_THROTTLE_DECELERATION;
    this.packetThrottleInterval = ENET_PEER_PACKET_THROTTLE_INTERVAL;
    this.pingInterval = ENET_PEER_PING_INTERVAL;
    this.timeoutLimit = ENET_PEER_TIMEOUT_LIMIT;
    this.timeoutMinimum = ENET_PEER_TIMEOUT_MINIMUM;
    this.timeoutMaximum = ENET_PEER_TIMEOUT_MAXIMUM;
    this.lastRoundTripTime = ENET_PEER_DEFAULT_ROUND_TRIP_TIME;
    this.lowestRoundTripTime = ENET_PEER_DEFAULT_ROUND_TRIP_TIME;
    this.lastRoundTripTimeVariance = 0;
    this.highestRoundTripTimeVariance = 0;
    this.roundTripTime = ENET_PEER_DEFAULT_ROUND_TRIP_TIME;
    this.roundTripTimeVariance = 0;
    this.mtu = this.host.mtu;
    this.reliableDataInTransit = 0;
    this.outgoingReliableSequenceNumber = 0;
    this.windowSize = ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE;
    this.incomingUnsequencedGroup = 0;
    this.outgoingUnsequencedGroup = 0;
    this.eventData = 0;
    // Delivered packets not yet consumed stay in the host-wide count until consumed.
    this.totalWaitingData = 0;
    this.waitingPackets = 0;
    this.continueSending = false;
    this.unsequencedWindow.fill(0);
  }

  // --- incoming ---------------------------------------------------------------------

  /** `enet_peer_queue_acknowledgement`. */
  queueAcknowledgement(
    commandByte: number,
    channelID: number,
    reliableSequenceNumber: number,
    sentTime: number,
  ): void {
    if (channelID < this.channels.length) {
      const channel = this.channels[channelID];
      let reliableWindow = Math.floor(reliableSequenceNumber / ENET_PEER_RELIABLE_WINDOW_SIZE);
      const currentWindow = Math.floor(
        channel.incomingReliableSequenceNumber / ENET_PEER_RELIABLE_WINDOW_SIZE,
      );
      if (reliableSequenceNumber < channel.incomingReliableSequenceNumber) {
        reliableWindow += ENET_PEER_RELIABLE_WINDOWS;
      }
      if (
        reliableWindow >= currentWindow + ENET_PEER_FREE_RELIABLE_WINDOWS - 1 &&
        reliableWindow <= currentWindow + ENET_PEER_FREE_RELIABLE_WINDOWS
      ) return;
    }
    this.outgoingDataTotal += 8;
    this.acknowledgements.push(commandByte, channelID, reliableSequenceNumber, sentTime);
    this.host.markDirty(this);
  }

  /**
   * `enet_peer_queue_incoming_command`. Returns the queued command, the
   * shared `DISCARDED` marker for silently dropped commands, or null on error.
   */
  queueIncomingCommand(
    commandNumber: number,
    channelID: number,
    reliableSequenceNumber: number,
    unreliableSequenceNumber: number,
    payload: Uint8Array | null,
    dataLength: number,
    flags: number,
    fragmentCount: number,
  ): IncomingCommand | null {
    const channel = this.channels[channelID];
    const discard = fragmentCount > 0 ? null : DISCARDED;
    if (this.state === ENET_PEER_STATE_DISCONNECT_LATER) return discard;
    if (commandNumber !== ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED) {
      let reliableWindow = Math.floor(reliableSequenceNumber / ENET_PEER_RELIABLE_WINDOW_SIZE);
      const currentWindow = Math.floor(
        channel.incomingReliableSequenceNumber / ENET_PEER_RELIABLE_WINDOW_SIZE,
      );
      if (reliableSequenceNumber < channel.incomingReliableSequenceNumber) {
        reliableWindow += ENET_PEER_RELIABLE_WINDOWS;
      }
      if (
        reliableWindow < currentWindow ||
        reliableWindow >= currentWindow + ENET_PEER_FREE_RELIABLE_WINDOWS - 1
      ) return discard;
    }
    const incomingReliable = channel.incomingReliableSequenceNumber;
    // Fast path for the common case: the next reliable packet in order with
    // nothing waiting before it is delivered at once (what queueing then
    // dispatching would do, without the bookkeeping).
    if (
      commandNumber === ENET_PROTOCOL_COMMAND_SEND_RELIABLE && payload !== null &&
      reliableSequenceNumber === ((incomingReliable + 1) & 0xFFFF) &&
      channel.incomingReliableCommands.empty &&
      this.host.admitWaiting(this, dataLength)
    ) {
      channel.incomingReliableSequenceNumber = reliableSequenceNumber;
      channel.incomingUnreliableSequenceNumber = 0;
      this.addWaiting(dataLength);
      this.host.deliver(this, channelID, copyBytes(exactly(payload, dataLength)), flags);
      if (!channel.incomingUnreliableCommands.empty) {
        this.dispatchIncomingUnreliableCommands(channelID, channel, null);
      }
      return DISCARDED;
    }
    let list: List<IncomingCommand>;
    let position: ListNode;
    switch (commandNumber) {
      case ENET_PROTOCOL_COMMAND_SEND_FRAGMENT:
      case ENET_PROTOCOL_COMMAND_SEND_RELIABLE: {
        if (reliableSequenceNumber === incomingReliable) return discard;
        list = channel.incomingReliableCommands;
        let current = list.sentinel.prev;
        for (; current !== list.sentinel; current = current.prev) {
          const incoming = current as IncomingCommand;
          if (reliableSequenceNumber >= incomingReliable) {
            if (incoming.reliableSequenceNumber < incomingReliable) continue;
          } else if (incoming.reliableSequenceNumber >= incomingReliable) break;
          if (incoming.reliableSequenceNumber <= reliableSequenceNumber) {
            if (incoming.reliableSequenceNumber < reliableSequenceNumber) break;
            return discard;
          }
        }
        position = current;
        break;
      }
      case ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE:
      case ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE_FRAGMENT: {
        if (
          reliableSequenceNumber === incomingReliable &&
          unreliableSequenceNumber <= channel.incomingUnreliableSequenceNumber
        ) return discard;
        list = channel.incomingUnreliableCommands;
        let current = list.sentinel.prev;
        for (; current !== list.sentinel; current = current.prev) {
          const incoming = current as IncomingCommand;
          if (incoming.commandNumber === ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED) continue;
          if (reliableSequenceNumber >= incomingReliable) {
            if (incoming.reliableSequenceNumber < incomingReliable) continue;
          } else if (incoming.reliableSequenceNumber >= incomingReliable) break;
          if (incoming.reliableSequenceNumber < reliableSequenceNumber) break;
          if (incoming.reliableSequenceNumber > reliableSequenceNumber) continue;
          if (incoming.unreliableSequenceNumber <= unreliableSequenceNumber) {
            if (incoming.unreliableSequenceNumber < unreliableSequenceNumber) break;
            return discard;
          }
        }
        position = current;
        break;
      }
      case ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED:
        list = channel.incomingUnreliableCommands;
        position = list.sentinel;
        break;
      default:
        return discard;
    }
    // C refuses only once the waiting total is already over the limit; the
    // stricter check keeps one announced fragment total from overshooting it.
    // Refused: a reliable command goes unacknowledged (the sender retransmits),
    // the rest of the datagram is dropped, as C does.
    const unblocks = list === channel.incomingReliableCommands && !list.empty &&
      reliableSequenceNumber === ((incomingReliable + 1) & 0xFFFF);
    if (!this.host.admitWaiting(this, dataLength, unblocks)) return null;
    if (fragmentCount > 0) {
      if (this.incompletePackets >= this.host.maximumIncompletePackets) return null;
      this.incompletePackets++;
    }
    const data = payload === null
      ? new Uint8Array(dataLength)
      : copyBytes(exactly(payload, dataLength));
    const incoming = new IncomingCommand(
      commandNumber,
      reliableSequenceNumber,
      unreliableSequenceNumber & 0xFFFF,
      data,
      flags,
      fragmentCount,
    );
    this.addWaiting(dataLength);
    list.insertBefore(position.next, incoming);
    if (
      commandNumber === ENET_PROTOCOL_COMMAND_SEND_FRAGMENT ||
      commandNumber === ENET_PROTOCOL_COMMAND_SEND_RELIABLE
    ) {
      this.dispatchIncomingReliableCommands(channelID, channel, incoming);
    } else {
      this.dispatchIncomingUnreliableCommands(channelID, channel, incoming);
    }
    return incoming;
  }

  /** A fragmented packet got its last fragment. */
  fragmentCompleted(): void {
    if (this.incompletePackets > 0) this.incompletePackets--;
  }

  private deliverRange(
    channelID: number,
    list: List<IncomingCommand>,
    first: ListNode,
    end: ListNode,
  ): void {
    let node = first;
    while (node !== end) {
      const next = node.next;
      const incoming = list.remove(node as IncomingCommand);
      this.host.deliver(this, channelID, incoming.data, incoming.flags);
      node = next;
    }
  }

  /** `enet_peer_dispatch_incoming_unreliable_commands`. */
  dispatchIncomingUnreliableCommands(
    channelID: number,
    channel: Channel,
    queuedCommand: IncomingCommand | null,
  ): void {
    const list = channel.incomingUnreliableCommands;
    const end = list.sentinel;
    let dropped = end.next, start = end.next, current = end.next;
    for (; current !== end; current = current.next) {
      const incoming = current as IncomingCommand;
      if (incoming.commandNumber === ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED) continue;
      if (incoming.reliableSequenceNumber === channel.incomingReliableSequenceNumber) {
        if (incoming.fragmentsRemaining <= 0) {
          channel.incomingUnreliableSequenceNumber = incoming.unreliableSequenceNumber;
          continue;
        }
        if (start !== current) {
          this.deliverRange(channelID, list, start, current);
          dropped = current;
        } else if (dropped !== current) dropped = current.prev;
      } else {
        let reliableWindow = Math.floor(
          incoming.reliableSequenceNumber / ENET_PEER_RELIABLE_WINDOW_SIZE,
        );
        const currentWindow = Math.floor(
          channel.incomingReliableSequenceNumber / ENET_PEER_RELIABLE_WINDOW_SIZE,
        );
        if (incoming.reliableSequenceNumber < channel.incomingReliableSequenceNumber) {
          reliableWindow += ENET_PEER_RELIABLE_WINDOWS;
        }
        if (
          reliableWindow >= currentWindow &&
          reliableWindow < currentWindow + ENET_PEER_FREE_RELIABLE_WINDOWS - 1
        ) break;
        dropped = current.next;
        if (start !== current) this.deliverRange(channelID, list, start, current);
      }
      start = current.next;
    }
    if (start !== current) {
      this.deliverRange(channelID, list, start, current);
      dropped = current;
    }
    // enet_peer_remove_incoming_commands (begin .. dropped), keeping queuedCommand.
    let node = end.next;
    while (node !== dropped && node !== end) {
      const next = node.next;
      const incoming = node as IncomingCommand;
      if (incoming !== queuedCommand) {
        list.remove(incoming);
        this.removeWaiting(incoming.data.length);
        if (incoming.fragmentsRemaining > 0) this.fragmentCompleted();
      }
      node = next;
    }
  }

  /** `enet_peer_dispatch_incoming_reliable_commands`. */
  dispatchIncomingReliableCommands(
    channelID: number,
    channel: Channel,
    queuedCommand: IncomingCommand | null,
  ): void {
    const list = channel.incomingReliableCommands;
    const begin = list.sentinel.next;
    let current = begin;
    for (; current !== list.sentinel; current = current.next) {
      const incoming = current as IncomingCommand;
      if (
        incoming.fragmentsRemaining > 0 ||
        incoming.reliableSequenceNumber !== ((channel.incomingReliableSequenceNumber + 1) & 0xFFFF)
      ) break;
      channel.incomingReliableSequenceNumber = incoming.reliableSequenceNumber;
      if (incoming.fragmentCount > 0) {
        channel.incomingReliableSequenceNumber =
          (channel.incomingReliableSequenceNumber + incoming.fragmentCount - 1) & 0xFFFF;
      }
    }
    if (current === begin) return;
    channel.incomingUnreliableSequenceNumber = 0;
    this.deliverRange(channelID, list, begin, current);
    if (!channel.incomingUnreliableCommands.empty) {
      this.dispatchIncomingUnreliableCommands(channelID, channel, queuedCommand);
    }
  }
}

/**
 * Pending acknowledgements in flat typed arrays (C allocates one
 * `ENetAcknowledgement` per command; a burst of thousands costs nothing here).
 */
/** The first `length` bytes of `bytes`, without a new view when that is all of it (the usual case). */
function exactly(bytes: Uint8Array, length: number): Uint8Array {
  return bytes.length === length ? bytes : bytes.subarray(0, length);
}

export class AcknowledgementQueue {
  length = 0;
  head = 0;
  command: Uint8Array = new Uint8Array(64);
  channelID: Uint8Array = new Uint8Array(64);
  reliableSequenceNumber: Uint16Array = new Uint16Array(64);
  sentTime: Uint16Array = new Uint16Array(64);

  get empty(): boolean {
    return this.head === this.length;
  }

  push(command: number, channelID: number, reliableSequenceNumber: number, sentTime: number): void {
    if (this.length === this.command.length) {
      if (this.head > 0) this.compact();
      if (this.length === this.command.length) this.grow();
    }
    const i = this.length++;
    this.command[i] = command;
    this.channelID[i] = channelID;
    this.reliableSequenceNumber[i] = reliableSequenceNumber;
    this.sentTime[i] = sentTime;
  }

  clear(): void {
    this.length = 0;
    this.head = 0;
  }

  /** Drops the first `count` entries. */
  consume(count: number): void {
    this.head += count;
    if (this.head === this.length) this.clear();
  }

  private compact(): void {
    const { head, length } = this;
    this.command.copyWithin(0, head, length);
    this.channelID.copyWithin(0, head, length);
    this.reliableSequenceNumber.copyWithin(0, head, length);
    this.sentTime.copyWithin(0, head, length);
    this.length = length - head;
    this.head = 0;
  }

  private grow(): void {
    const size = this.command.length * 2;
    const grow8 = (a: Uint8Array) => {
      const b = new Uint8Array(size);
      b.set(a);
      return b;
    };
    const grow16 = (a: Uint16Array) => {
      const b = new Uint16Array(size);
      b.set(a);
      return b;
    };
    this.command = grow8(this.command);
    this.channelID = grow8(this.channelID);
    this.reliableSequenceNumber = grow16(this.reliableSequenceNumber);
    this.sentTime = grow16(this.sentTime);
  }
}
