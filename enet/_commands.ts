/**
 * The engine's command records: outgoing commands waiting to be sent or
 * acknowledged, incoming commands waiting to be delivered in order, and the
 * per-channel sequencing state (`ENetOutgoingCommand`, `ENetIncomingCommand`,
 * `ENetChannel` in C).
 *
 * @module
 */

import { List, ListNode } from "./_list.ts";
import { ENET_PEER_RELIABLE_WINDOWS } from "./_protocol.ts";

/** A packet queued for sending, shared by all its fragments. */
export class OutgoingPacket {
  /** Commands (fragments) still holding the packet. */
  referenceCount = 0;
  /** Set by `sendAcknowledged`: settles when every fragment is acknowledged. */
  acknowledged: PromiseWithResolvers<void> | null = null;

  constructor(
    /** Payload (a private copy). */
    readonly data: Uint8Array,
    /** `PacketFlag` bits. */
    readonly flags: number,
  ) {}
}

/** `ENetOutgoingCommand`. */
export class OutgoingCommand extends ListNode {
  /** Command byte including the ACKNOWLEDGE/UNSEQUENCED flags. */
  command = 0;
  channelID = 0;
  reliableSequenceNumber = 0;
  unreliableSequenceNumber = 0;
  unsequencedGroup = 0;
  sendAttempts = 0;
  sentTime = 0;
  roundTripTimeout = 0;
  /** Queue order (C compares queue times; a counter keeps exact order). */
  queueTime = 0;
  /** Whole command for control commands (header bytes rewritten on send). */
  body: Uint8Array | null = null;
  packet: OutgoingPacket | null = null;
  fragmentOffset = 0;
  fragmentLength = 0;
  startSequenceNumber = 0;
  fragmentCount = 0;
  fragmentNumber = 0;
}

/** Released commands, reused by {@linkcode acquireOutgoingCommand} (saves an object per message). */
const outgoingPool: OutgoingCommand[] = [];
const OUTGOING_POOL_LIMIT = 8192;

/** A blank outgoing command, from the pool when one is free. */
export function acquireOutgoingCommand(): OutgoingCommand {
  return outgoingPool.pop() ?? new OutgoingCommand();
}

/**
 * Returns a command that left every list and is referenced nowhere else
 * (acknowledged, sent unreliably, dropped, or discarded with its peer's queues).
 */
export function releaseOutgoingCommand(command: OutgoingCommand): void {
  if (outgoingPool.length >= OUTGOING_POOL_LIMIT) return;
  command.command = 0;
  command.channelID = 0;
  command.reliableSequenceNumber = 0;
  command.unreliableSequenceNumber = 0;
  command.unsequencedGroup = 0;
  command.sendAttempts = 0;
  command.sentTime = 0;
  command.roundTripTimeout = 0;
  command.queueTime = 0;
  command.body = null;
  command.packet = null;
  command.fragmentOffset = 0;
  command.fragmentLength = 0;
  command.startSequenceNumber = 0;
  command.fragmentCount = 0;
  command.fragmentNumber = 0;
  outgoingPool.push(command);
}

/** `ENetIncomingCommand`. */
export class IncomingCommand extends ListNode {
  constructor(
    /** Command number (masked). */
    readonly commandNumber: number,
    readonly reliableSequenceNumber: number,
    readonly unreliableSequenceNumber: number,
    /** Packet payload; a buffer of `totalLength` for fragmented packets. */
    readonly data: Uint8Array,
    /** `PacketFlag` bits the receiver reports. */
    readonly flags: number,
    readonly fragmentCount: number,
  ) {
    super();
    this.fragmentsRemaining = fragmentCount;
    this.fragments = fragmentCount > 0 ? new Uint32Array((fragmentCount + 31) >>> 5) : null;
  }
  fragmentsRemaining: number;
  fragments: Uint32Array | null;
}

/** `ENetChannel`. */
export class Channel {
  outgoingReliableSequenceNumber = 0;
  outgoingUnreliableSequenceNumber = 0;
  usedReliableWindows = 0;
  readonly reliableWindows: Uint16Array = new Uint16Array(ENET_PEER_RELIABLE_WINDOWS);
  incomingReliableSequenceNumber = 0;
  incomingUnreliableSequenceNumber = 0;
  readonly incomingReliableCommands: List<IncomingCommand> = new List();
  readonly incomingUnreliableCommands: List<IncomingCommand> = new List();
}
