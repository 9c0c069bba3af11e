/**
 * Packet delivery flags, as in C ENet's `ENetPacketFlag`.
 *
 * @module
 */

import {
  ENET_PACKET_FLAG_RELIABLE,
  ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT,
  ENET_PACKET_FLAG_UNSEQUENCED,
} from "./_protocol.ts";

/**
 * How a packet travels. `0` is unreliable but sequenced (late packets are
 * dropped, order is kept); combine with `|` like in C.
 *
 * - `RELIABLE` (1): acknowledged, retransmitted, delivered in order per channel.
 * - `UNSEQUENCED` (2): unreliable and unordered, never delivered twice.
 * - `UNRELIABLE_FRAGMENT` (8): a packet larger than one datagram is sent as
 *   unreliable fragments instead of reliable ones (lose one, lose the packet).
 *
 * @example
 * ```ts
 * import { PacketFlag } from "@netkit/realtime/enet";
 *
 * const flags = PacketFlag.UNRELIABLE_FRAGMENT; // big, droppable snapshot
 * console.log(flags, PacketFlag.RELIABLE);
 * ```
 */
export const PacketFlag = {
  /** Acknowledged and retransmitted until it arrives; ordered per channel. */
  RELIABLE: ENET_PACKET_FLAG_RELIABLE,
  /** Unreliable and unordered; duplicates are filtered. */
  UNSEQUENCED: ENET_PACKET_FLAG_UNSEQUENCED,
  /** Fragment a large unreliable packet unreliably instead of reliably. */
  UNRELIABLE_FRAGMENT: ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT,
} as const;

/** One of the {@linkcode PacketFlag} values, or a combination (a number). */
export type PacketFlag = number;
