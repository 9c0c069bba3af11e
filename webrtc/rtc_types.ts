/**
 * The parts of the W3C WebRTC API the client uses, as structural types: Deno's type library has
 * no DOM WebRTC types. A browser's `RTCPeerConnection` and node-datachannel's polyfill both fit.
 *
 * @module
 */

/** The `RTCDataChannel` members the client uses. */
export interface RTCDataChannelLike extends EventTarget {
  /** Channel label. */
  readonly label: string;
  /** Sub-protocol. */
  readonly protocol: string;
  /** Whether delivery is ordered. */
  readonly ordered: boolean;
  /** Retransmit limit or null. */
  readonly maxRetransmits: number | null;
  /** Lifetime limit or null. */
  readonly maxPacketLifeTime: number | null;
  /** SCTP stream id. */
  readonly id: number | null;
  /** `connecting`, `open`, `closing`, `closed`. */
  readonly readyState: string;
  /** Bytes queued. */
  readonly bufferedAmount: number;
  /** Threshold for `bufferedamountlow`. */
  bufferedAmountLowThreshold: number;
  /** How binary messages are delivered. */
  binaryType: string;
  /** Sends a message. */
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  /** Closes the channel. */
  close(): void;
  /** Open handler. */
  onopen: ((event: Event) => void) | null;
  /** Message handler. */
  onmessage: ((event: MessageEvent) => void) | null;
  /** Buffer-low handler. */
  onbufferedamountlow: ((event: Event) => void) | null;
  /** Close handler. */
  onclose: ((event: Event) => void) | null;
  /** Error handler. */
  onerror: ((event: Event) => void) | null;
}

/** An ICE candidate as given to / by `RTCPeerConnection`. */
export interface RTCIceCandidateInitLike {
  /** The candidate line. */
  candidate?: string;
  /** Media id. */
  sdpMid?: string | null;
  /** Media line index. */
  sdpMLineIndex?: number | null;
}

/** A session description. */
export interface RTCSessionDescriptionInitLike {
  /** `offer` or `answer`. */
  type: "offer" | "answer" | "pranswer" | "rollback";
  /** SDP text. */
  sdp?: string;
}

/** One STUN/TURN server, as in `RTCIceServer`. */
export interface IceServer {
  /** `stun:` / `turn:` URL(s). */
  urls: string | string[];
  /** TURN user name. */
  username?: string;
  /** TURN password. */
  credential?: string;
}

/** Options of a data channel as `RTCPeerConnection.createDataChannel` takes them. */
export interface RTCDataChannelInitLike {
  /** Ordered delivery. */
  ordered?: boolean;
  /** Retransmit limit. */
  maxRetransmits?: number;
  /** Lifetime limit. */
  maxPacketLifeTime?: number;
  /** Sub-protocol. */
  protocol?: string;
}

/** The `RTCPeerConnection` members the client uses. */
export interface RTCPeerConnectionLike extends EventTarget {
  /** Creates a data channel. */
  createDataChannel(label: string, init?: RTCDataChannelInitLike): RTCDataChannelLike;
  /** Creates an offer. */
  createOffer(): Promise<RTCSessionDescriptionInitLike>;
  /** Applies the local description. */
  setLocalDescription(description: RTCSessionDescriptionInitLike): Promise<void>;
  /** Applies the remote description. */
  setRemoteDescription(description: RTCSessionDescriptionInitLike): Promise<void>;
  /** Adds a remote candidate. */
  addIceCandidate(candidate: RTCIceCandidateInitLike | null): Promise<void>;
  /** Closes the connection. */
  close(): void;
  /** Connection state. */
  readonly connectionState: string;
  /** `new`, `gathering` or `complete`. */
  readonly iceGatheringState: string;
  /** The local description, with the candidates gathered so far. */
  readonly localDescription: RTCSessionDescriptionInitLike | null;
  /** SCTP transport (for `maxMessageSize`). */
  readonly sctp?: { readonly maxMessageSize: number } | null;
  /** Candidate handler. */
  onicecandidate: ((event: { candidate: RTCIceCandidateInitLike | null }) => void) | null;
  /** State handler. */
  onconnectionstatechange: ((event: Event) => void) | null;
}

/**
 * The `RTCConfiguration` members a peer connection is created with (W3C names and values).
 * `peerIdentity` is listed because node-datachannel's polyfill types its configuration with only
 * `peerIdentity` / `peerConnection`: a parameter type sharing none of them would not accept it.
 */
export interface RTCConfigurationLike {
  /** STUN/TURN servers. */
  iceServers?: IceServer[];
  /** `relay` uses TURN candidates only. */
  iceTransportPolicy?: "all" | "relay";
  /** How media/data are bundled on transports. */
  bundlePolicy?: "balanced" | "max-bundle" | "max-compat";
  /** RTCP multiplexing. */
  rtcpMuxPolicy?: "require";
  /** Candidates gathered before `setLocalDescription`. */
  iceCandidatePoolSize?: number;
  /** The remote peer's expected identity. */
  peerIdentity?: string;
}

/**
 * A constructor of `RTCPeerConnection`: a browser's, or node-datachannel's polyfill, which fits
 * as imported (`import { RTCPeerConnection } from "node-datachannel/polyfill"`), without a cast.
 */
export interface RTCPeerConnectionConstructor {
  /** Creates a peer connection. */
  new (configuration?: RTCConfigurationLike): RTCPeerConnectionLike;
}
