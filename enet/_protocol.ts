/**
 * ENet 1.3 wire constants and layouts, under their C names (`protocol.h`,
 * `enet.h`). Every number the engine puts on or reads from the wire lives
 * here once; host and peer logic import them.
 *
 * All multi-byte fields are big-endian except `connectID`, which C copies
 * verbatim in host byte order: it is treated as four opaque bytes.
 *
 * @module
 */

// --- protocol.h: limits -----------------------------------------------------
export const ENET_PROTOCOL_MINIMUM_MTU = 576;
export const ENET_PROTOCOL_MAXIMUM_MTU = 4096;
export const ENET_PROTOCOL_MAXIMUM_PACKET_COMMANDS = 32;
export const ENET_PROTOCOL_MINIMUM_WINDOW_SIZE = 4096;
export const ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE = 65536;
export const ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT = 1;
export const ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT = 255;
export const ENET_PROTOCOL_MAXIMUM_PEER_ID = 0xFFF;
export const ENET_PROTOCOL_MAXIMUM_FRAGMENT_COUNT = 1024 * 1024;

// --- protocol.h: command numbers -------------------------------------------
export const ENET_PROTOCOL_COMMAND_NONE = 0;
export const ENET_PROTOCOL_COMMAND_ACKNOWLEDGE = 1;
export const ENET_PROTOCOL_COMMAND_CONNECT = 2;
export const ENET_PROTOCOL_COMMAND_VERIFY_CONNECT = 3;
export const ENET_PROTOCOL_COMMAND_DISCONNECT = 4;
export const ENET_PROTOCOL_COMMAND_PING = 5;
export const ENET_PROTOCOL_COMMAND_SEND_RELIABLE = 6;
export const ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE = 7;
export const ENET_PROTOCOL_COMMAND_SEND_FRAGMENT = 8;
export const ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED = 9;
export const ENET_PROTOCOL_COMMAND_BANDWIDTH_LIMIT = 10;
export const ENET_PROTOCOL_COMMAND_THROTTLE_CONFIGURE = 11;
export const ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE_FRAGMENT = 12;
export const ENET_PROTOCOL_COMMAND_COUNT = 13;
export const ENET_PROTOCOL_COMMAND_MASK = 0x0F;

// --- protocol.h: flags -------------------------------------------------------
export const ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE = 1 << 7;
export const ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED = 1 << 6;
export const ENET_PROTOCOL_HEADER_FLAG_COMPRESSED = 1 << 14;
export const ENET_PROTOCOL_HEADER_FLAG_SENT_TIME = 1 << 15;
export const ENET_PROTOCOL_HEADER_FLAG_MASK = ENET_PROTOCOL_HEADER_FLAG_COMPRESSED |
  ENET_PROTOCOL_HEADER_FLAG_SENT_TIME;
export const ENET_PROTOCOL_HEADER_SESSION_MASK = 3 << 12;
export const ENET_PROTOCOL_HEADER_SESSION_SHIFT = 12;

// --- protocol.h: struct layouts (byte offsets and sizes) ---------------------
/** `ENetProtocolHeader`: u16 peerID, u16 sentTime (present only with SENT_TIME). */
export const ENetProtocolHeader = { peerID: 0, sentTime: 2, size: 4 } as const;
/** Header size without the optional sentTime field (`offsetof(ENetProtocolHeader, sentTime)`). */
export const ENET_PROTOCOL_HEADER_MINIMUM_SIZE = ENetProtocolHeader.sentTime;
/** Size of the optional checksum field that follows the header. */
export const ENET_PROTOCOL_CHECKSUM_SIZE = 4;

/** `ENetProtocolCommandHeader`: u8 command, u8 channelID, u16 reliableSequenceNumber. */
export const ENetProtocolCommandHeader = {
  command: 0,
  channelID: 1,
  reliableSequenceNumber: 2,
  size: 4,
} as const;

/** `ENetProtocolAcknowledge`. */
export const ENetProtocolAcknowledge = {
  receivedReliableSequenceNumber: 4,
  receivedSentTime: 6,
  size: 8,
} as const;

/** `ENetProtocolConnect` (`ENetProtocolVerifyConnect` is the same without `data`). */
export const ENetProtocolConnect = {
  outgoingPeerID: 4,
  incomingSessionID: 6,
  outgoingSessionID: 7,
  mtu: 8,
  windowSize: 12,
  channelCount: 16,
  incomingBandwidth: 20,
  outgoingBandwidth: 24,
  packetThrottleInterval: 28,
  packetThrottleAcceleration: 32,
  packetThrottleDeceleration: 36,
  connectID: 40,
  data: 44,
  size: 48,
} as const;

/** `ENetProtocolVerifyConnect`. */
export const ENetProtocolVerifyConnect = {
  outgoingPeerID: 4,
  incomingSessionID: 6,
  outgoingSessionID: 7,
  mtu: 8,
  windowSize: 12,
  channelCount: 16,
  incomingBandwidth: 20,
  outgoingBandwidth: 24,
  packetThrottleInterval: 28,
  packetThrottleAcceleration: 32,
  packetThrottleDeceleration: 36,
  connectID: 40,
  size: 44,
} as const;

/** `ENetProtocolDisconnect`. */
export const ENetProtocolDisconnect = { data: 4, size: 8 } as const;
/** `ENetProtocolPing`. */
export const ENetProtocolPing = { size: 4 } as const;
/** `ENetProtocolSendReliable`. */
export const ENetProtocolSendReliable = { dataLength: 4, size: 6 } as const;
/** `ENetProtocolSendUnreliable`. */
export const ENetProtocolSendUnreliable = {
  unreliableSequenceNumber: 4,
  dataLength: 6,
  size: 8,
} as const;
/** `ENetProtocolSendUnsequenced`. */
export const ENetProtocolSendUnsequenced = { unsequencedGroup: 4, dataLength: 6, size: 8 } as const;
/** `ENetProtocolSendFragment` (also SEND_UNRELIABLE_FRAGMENT). */
export const ENetProtocolSendFragment = {
  startSequenceNumber: 4,
  dataLength: 6,
  fragmentCount: 8,
  fragmentNumber: 12,
  totalLength: 16,
  fragmentOffset: 20,
  size: 24,
} as const;
/** `ENetProtocolBandwidthLimit`. */
export const ENetProtocolBandwidthLimit = {
  incomingBandwidth: 4,
  outgoingBandwidth: 8,
  size: 12,
} as const;
/** `ENetProtocolThrottleConfigure`. */
export const ENetProtocolThrottleConfigure = {
  packetThrottleInterval: 4,
  packetThrottleAcceleration: 8,
  packetThrottleDeceleration: 12,
  size: 16,
} as const;

/** `commandSizes[]` of protocol.c, indexed by command number. */
export const commandSizes: readonly number[] = [
  0,
  ENetProtocolAcknowledge.size,
  ENetProtocolConnect.size,
  ENetProtocolVerifyConnect.size,
  ENetProtocolDisconnect.size,
  ENetProtocolPing.size,
  ENetProtocolSendReliable.size,
  ENetProtocolSendUnreliable.size,
  ENetProtocolSendFragment.size,
  ENetProtocolSendUnsequenced.size,
  ENetProtocolBandwidthLimit.size,
  ENetProtocolThrottleConfigure.size,
  ENetProtocolSendFragment.size,
];

// --- enet.h: packet flags ----------------------------------------------------
export const ENET_PACKET_FLAG_RELIABLE = 1 << 0;
export const ENET_PACKET_FLAG_UNSEQUENCED = 1 << 1;
export const ENET_PACKET_FLAG_NO_ALLOCATE = 1 << 2;
export const ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT = 1 << 3;
export const ENET_PACKET_FLAG_SENT = 1 << 8;

// --- enet.h: peer states -----------------------------------------------------
export const ENET_PEER_STATE_DISCONNECTED = 0;
export const ENET_PEER_STATE_CONNECTING = 1;
export const ENET_PEER_STATE_ACKNOWLEDGING_CONNECT = 2;
export const ENET_PEER_STATE_CONNECTION_PENDING = 3;
export const ENET_PEER_STATE_CONNECTION_SUCCEEDED = 4;
export const ENET_PEER_STATE_CONNECTED = 5;
export const ENET_PEER_STATE_DISCONNECT_LATER = 6;
export const ENET_PEER_STATE_DISCONNECTING = 7;
export const ENET_PEER_STATE_ACKNOWLEDGING_DISCONNECT = 8;
export const ENET_PEER_STATE_ZOMBIE = 9;

// --- enet.h: host and peer defaults -------------------------------------------
export const ENET_HOST_RECEIVE_BUFFER_SIZE = 256 * 1024;
export const ENET_HOST_SEND_BUFFER_SIZE = 256 * 1024;
export const ENET_HOST_BANDWIDTH_THROTTLE_INTERVAL = 1000;
/** 1.3.18's default (1.3.17 used 1400); the handshake takes the minimum of both ends. */
export const ENET_HOST_DEFAULT_MTU = 1392;
export const ENET_HOST_DEFAULT_MAXIMUM_PACKET_SIZE = 32 * 1024 * 1024;
export const ENET_HOST_DEFAULT_MAXIMUM_WAITING_DATA = 32 * 1024 * 1024;

export const ENET_PEER_DEFAULT_ROUND_TRIP_TIME = 500;
export const ENET_PEER_DEFAULT_PACKET_THROTTLE = 32;
export const ENET_PEER_PACKET_THROTTLE_SCALE = 32;
export const ENET_PEER_PACKET_THROTTLE_COUNTER = 7;
export const ENET_PEER_PACKET_THROTTLE_ACCELERATION = 2;
export const ENET_PEER_PACKET_THROTTLE_DECELERATION = 2;
export const ENET_PEER_PACKET_THROTTLE_INTERVAL = 5000;
export const ENET_PEER_PACKET_LOSS_SCALE = 1 << 16;
export const ENET_PEER_PACKET_LOSS_INTERVAL = 10000;
export const ENET_PEER_WINDOW_SIZE_SCALE = 64 * 1024;
export const ENET_PEER_TIMEOUT_LIMIT = 32;
export const ENET_PEER_TIMEOUT_MINIMUM = 5000;
export const ENET_PEER_TIMEOUT_MAXIMUM = 30000;
export const ENET_PEER_PING_INTERVAL = 500;
export const ENET_PEER_UNSEQUENCED_WINDOWS = 64;
export const ENET_PEER_UNSEQUENCED_WINDOW_SIZE = 1024;
export const ENET_PEER_FREE_UNSEQUENCED_WINDOWS = 32;
export const ENET_PEER_RELIABLE_WINDOWS = 16;
export const ENET_PEER_RELIABLE_WINDOW_SIZE = 0x1000;
export const ENET_PEER_FREE_RELIABLE_WINDOWS = 8;

/** Channel ID of control commands (CONNECT, PING, DISCONNECT, ...). */
export const ENET_CONTROL_CHANNEL_ID = 0xFF;
/**
 * Session ID of a slot that has none yet, in a CONNECT's session fields and
 * a fresh peer (C writes the literal `0xFF` in `enet_peer_reset` and
 * `enet_protocol_handle_connect`).
 */
export const NETKIT_SESSION_ID_NONE = 0xFF;
/** Largest header a datagram can carry: peerID + sentTime + checksum. */
export const ENET_MAXIMUM_HEADER_SIZE = ENetProtocolHeader.size + ENET_PROTOCOL_CHECKSUM_SIZE;

/**
 * Not in C ENet: how many fragmented packets may be incomplete at once per
 * peer (C bounds them only by `maximumWaitingData`). Each incomplete packet
 * costs a buffer of its announced total length, so this caps bookkeeping
 * churn from a peer that starts many packets and never finishes them.
 */
export const NETKIT_DEFAULT_MAXIMUM_INCOMPLETE_PACKETS = 64;
/** Packets received from one peer and not yet consumed (C bounds bytes only). */
export const NETKIT_DEFAULT_MAXIMUM_WAITING_PACKETS = 65536;
/** Host-wide bytes received and not yet consumed before peers over their fair share are refused. */
export const NETKIT_DEFAULT_MAXIMUM_HOST_WAITING_DATA = 64 * 1024 * 1024;
/** Host-wide packets received and not yet consumed, likewise. */
export const NETKIT_DEFAULT_MAXIMUM_HOST_WAITING_PACKETS = 262144;
/** Half-open handshake records kept (C keeps half-open peers in slots, without a bound of its own). */
export const NETKIT_DEFAULT_MAXIMUM_HALF_OPEN_PEERS = 16384;
/** Half-open handshake records per source IP address. */
export const NETKIT_DEFAULT_MAXIMUM_HALF_OPEN_PER_ADDRESS = 64;
/** CONNECT datagrams handled per second, host-wide. */
export const NETKIT_DEFAULT_MAXIMUM_CONNECT_RATE = 50000;
