/**
 * The webrtc client: connects to a master, keeps its slave list, and opens data channels straight
 * to a chosen slave. Runs in browsers (the master serves it as `/netkit/client.js`) and in Deno
 * when given an `RTCPeerConnection` implementation (e.g. node-datachannel's polyfill).
 *
 * No Deno APIs here: this file is bundled for the browser.
 *
 * @example
 * ```ts
 * import { connectMaster } from "@netkit/realtime/webrtc/client";
 * const master = await connectMaster("ws://127.0.0.1:8081");
 * master.addEventListener("slaveadded", (e) => console.log("new slave", e.detail.userData));
 * const channel = await master.slaves[0].createDataChannel("state", { ordered: false, maxRetransmits: 0 });
 * channel.send("hello");
 * ```
 *
 * @module
 */

import {
  CloseCode,
  CONTROL_CHANNEL_LABEL,
  CONTROL_CHANNEL_PROTOCOL,
  decodeControlClose,
  decodePacket,
  encodeCandidate,
  encodeClose,
  encodeControlClose,
  encodeSdp,
  MAX_CLOSE_REASON_LENGTH,
  type Packet,
  PacketType,
  type WireCandidate,
} from "./_protocol.ts";
import { DataChannel, type DataChannelOptions, rtcChannelTransport } from "./data_channel.ts";
import { WebRtcError, WebRtcTypeError } from "./errors.ts";
import { connectionClosed } from "./_errors.ts";
import type {
  IceServer,
  RTCDataChannelLike,
  RTCPeerConnectionConstructor,
  RTCPeerConnectionLike,
} from "./rtc_types.ts";
import { reconnectDelay } from "./_backoff.ts";
import {
  dataChannelInternals,
  masterConnectionInternals,
  slaveConnectionInternals,
} from "./_internal.ts";
import { TypedEventTarget } from "../_common/typed_event_target.ts";
import { truncateUtf8 } from "../_common/utf8.ts";

export { DataChannel } from "./data_channel.ts";
export type { DataChannelOptions, DataChannelState, Message } from "./data_channel.ts";
export type { DataChannelEventMap } from "./data_channel.ts";
export { TypedEventTarget } from "../_common/typed_event_target.ts";
export type { TypedEventListener } from "../_common/typed_event_target.ts";
export { WebRtcError, WebRtcRangeError, WebRtcSyntaxError, WebRtcTypeError } from "./errors.ts";
export type { WebRtcErrorCode, WebRtcErrorOptions } from "./errors.ts";
export type * from "./rtc_types.ts";

/** Options of `connectMaster()`. */
export interface ConnectMasterOptions {
  /**
   * The `RTCPeerConnection` class to use. Browsers have one; in Deno pass node-datachannel's
   * polyfill (`import { RTCPeerConnection } from "node-datachannel/polyfill"`).
   * @default {globalThis.RTCPeerConnection}
   */
  RTCPeerConnection?: RTCPeerConnectionConstructor;
  /**
   * STUN/TURN servers for every peer connection.
   * @default {[]}
   */
  iceServers?: IceServer[];
  /**
   * Path prefix of the master's endpoints.
   * @default {"/netkit"}
   */
  basePath?: string;
  /**
   * Reconnect to the master with exponential backoff after the link drops; `false` to stay
   * disconnected.
   * @default {{ initialDelay: 250, maxDelay: 5000 }}
   */
  reconnect?: false | { initialDelay?: number; maxDelay?: number };
  /**
   * Milliseconds a peer connection may take to open before `connect()` rejects with
   * `TimeoutError`.
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * Further `RTCPeerConnection` configuration merged in (e.g. `iceTransportPolicy`, or
   * node-datachannel's `bindAddress` when running under Deno).
   */
  rtcConfiguration?: Record<string, unknown>;
  /** Extra headers on the WebSocket upgrade (Deno only; browsers send their cookies). */
  headers?: Record<string, string>;
  /** Closes the master connection when aborted. */
  signal?: AbortSignal;
}

type WebSocketCtor = new (
  url: string,
  options?: string | string[] | { headers?: Record<string, string> },
) => WebSocket;

/**
 * Connects to a master and resolves once the slave list has arrived.
 *
 * Rejects with `WebRtcError` (`ERR_CONNECTION_CLOSED`) when the master refuses the upgrade or
 * cannot be reached. A refusal the master explains carries its HTTP `status` and `reason` and says
 * so in the message, e.g. `Master at "ws://…" refused the connection (401: Log in first)` when
 * `authorizeClient` said no, or `(403: origin not allowed)`: a page on another origin than the
 * master needs that origin in the master's `allowedOrigins`.
 *
 * Given several URLs (masters sharing a `cluster`, which list the same slaves), it connects to
 * the first that answers, and after a lost link reconnects to the next one in turn; it rejects
 * only when none answers.
 *
 * @example
 * ```ts
 * import { connectMaster } from "@netkit/realtime/webrtc/client";
 * const master = await connectMaster("ws://127.0.0.1:8081");
 * console.log(master.slaves.map((s) => s.userData));
 * master.close();
 * ```
 */
export async function connectMaster(
  url: string | URL | readonly (string | URL)[],
  options: ConnectMasterOptions = {},
): Promise<MasterConnection> {
  const master = new MasterConnection(url, options);
  try {
    await masterConnectionInternals.firstList(master);
  } catch (error) {
    master.close();
    throw error;
  }
  return master;
}

/**
 * The events of a {@linkcode MasterConnection}.
 *
 * @example
 * ```ts
 * import { connectMaster, type MasterConnectionEventMap } from "@netkit/realtime/webrtc/client";
 * const master = await connectMaster("ws://127.0.0.1:8081");
 * const onAdded = (e: MasterConnectionEventMap["slaveadded"]) => console.log(e.detail.userData);
 * master.addEventListener("slaveadded", onAdded);
 * master.addEventListener("disconnect", (e) => console.log("lost the master:", e.detail.code));
 * master.removeEventListener("slaveadded", onAdded);
 * ```
 */
export interface MasterConnectionEventMap {
  /** A slave registered at the master (also each slave of the first list). */
  slaveadded: CustomEvent<SlaveConnection>;
  /** A slave left the master, or the signalling connection was lost. */
  slaveremoved: CustomEvent<SlaveConnection>;
  /** A slave changed its userData. */
  slaveupdated: CustomEvent<SlaveConnection>;
  /** The signalling connection was lost (the close code); a reconnect follows unless disabled. */
  disconnect: CustomEvent<{ code: number }>;
  /** The signalling connection is back and the slave list was received again. */
  reconnect: Event;
  /** The connection to the master is closed for good. */
  close: Event;
}

/**
 * A client's link to the master: the live slave list and the signalling relay.
 *
 * Events: `slaveadded` / `slaveremoved` / `slaveupdated` (`CustomEvent<SlaveConnection>`),
 * `disconnect`, `reconnect`, `close`.
 *
 * @example
 * ```ts
 * import { connectMaster } from "@netkit/realtime/webrtc/client";
 * await using master = await connectMaster("ws://127.0.0.1:8081");
 * master.addEventListener("slaveremoved", (e) => console.log("gone:", e.detail.id));
 * ```
 */
export class MasterConnection extends TypedEventTarget<MasterConnectionEventMap> {
  #url: string;
  /** Every master URL given; a lost link reconnects to the next one. */
  #urls: string[];
  #urlIndex = 0;
  /** Masters tried before the first list. */
  #tried = 0;
  #options: ConnectMasterOptions;
  #socket?: WebSocket;
  #slaves = new Map<number, SlaveConnection>();
  #closed = false;
  #attempt = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #first = Promise.withResolvers<void>();
  #gotList = false;
  #closedPromise = Promise.withResolvers<void>();
  #teardowns: Promise<unknown> = Promise.resolve();
  #pc: RTCPeerConnectionConstructor;

  static {
    masterConnectionInternals.firstList = (master) => master.#first.promise;
    masterConnectionInternals.options = (master) => master.#options;
    masterConnectionInternals.peerConnection = (master) => master.#pc;
    masterConnectionInternals.send = (master, packet) => master.#send(packet);
  }

  /** @internal Use `connectMaster()`. */
  constructor(url: string | URL | readonly (string | URL)[], options: ConnectMasterOptions) {
    super();
    const { basePath = "/netkit", signal } = options;
    const urls = Array.isArray(url) ? url : [url as string | URL];
    if (urls.length === 0) {
      throw new WebRtcTypeError("ERR_INVALID_URL", "connectMaster() needs at least one master URL");
    }
    this.#urls = urls.map((one) => {
      const target = new URL(one);
      target.pathname = target.pathname.replace(/\/$/, "") + basePath + "/clients";
      return target.href;
    });
    this.#url = this.#urls[0];
    this.#options = options;
    const ctor = options.RTCPeerConnection ??
      (globalThis as { RTCPeerConnection?: RTCPeerConnectionConstructor }).RTCPeerConnection;
    if (!ctor) {
      throw new WebRtcTypeError(
        "ERR_RTC_UNAVAILABLE",
        "No RTCPeerConnection: pass one in options.RTCPeerConnection (e.g. node-datachannel/polyfill)",
      );
    }
    this.#pc = ctor;
    this.#first.promise.catch(() => {});
    signal?.addEventListener("abort", () => this.close(), { once: true });
    this.#open();
  }

  /** The slaves currently registered, in the order they arrived. */
  get slaves(): SlaveConnection[] {
    return [...this.#slaves.values()];
  }

  /** The slave with this id, if listed. */
  getSlave(id: number): SlaveConnection | undefined {
    return this.#slaves.get(id);
  }

  /** Whether the signalling link is up. */
  get connected(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN && this.#gotList;
  }

  /** Resolves when `close()` was called. */
  get closed(): Promise<void> {
    return this.#closedPromise.promise;
  }

  /** Closes the signalling link and every slave connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#first.reject(
      connectionClosed("Master connection closed", { closeCode: CloseCode.NORMAL }),
    );
    try {
      this.#socket?.close(1000);
    } catch { /* already closed */ }
    for (const slave of this.#slaves.values()) slave.close(CloseCode.GOING_AWAY, "Client closed");
    this.#teardowns = Promise.all(
      [...this.#slaves.values()].map((slave) => slaveConnectionInternals.teardown(slave)),
    );
    this.#slaves.clear();
    this.#closedPromise.resolve();
    this.dispatchEvent(new Event("close"));
  }

  /** Closes like `close()` and waits until every peer connection is released. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#teardowns;
  }

  /** Sends one packet; false if the link is down. */
  #send(packet: Uint8Array): boolean {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(packet);
    return true;
  }

  #open(): void {
    const WS = WebSocket as unknown as WebSocketCtor;
    const socket = this.#options.headers
      ? new WS(this.#url, { headers: this.#options.headers })
      : new WS(this.#url);
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
    };
    socket.onmessage = (event: MessageEvent) => {
      if (!(event.data instanceof ArrayBuffer)) {
        socket.close(CloseCode.PROTOCOL_ERROR, "Text frames are not used");
        return;
      }
      let packet: Packet;
      try {
        packet = decodePacket(new Uint8Array(event.data));
      } catch (error) {
        socket.close(CloseCode.PROTOCOL_ERROR, String((error as Error).message).slice(0, 120));
        return;
      }
      this.#onPacket(packet);
    };
    socket.onerror = () => {};
    socket.onclose = (event: CloseEvent) => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      const hadList = this.#gotList;
      this.#gotList = false;
      if (this.#closed) return;
      if (!hadList && this.#attempt === 0 && ++this.#tried < this.#urls.length) {
        // Not connected yet: try the next master at once.
        this.#url = this.#urls[++this.#urlIndex % this.#urls.length];
        this.#open();
        return;
      }
      if (!hadList && this.#attempt === 0) {
        // The very first attempt failed: connectMaster() rejects instead of retrying.
        const fail = (message: string, reason: string, status?: number) => {
          this.#first.reject(connectionClosed(message, { closeCode: event.code, reason, status }));
          this.close();
        };
        if (opened) {
          fail(`Master closed the connection (${event.code} "${event.reason}")`, event.reason);
          return;
        }
        // A WebSocket never tells why its handshake failed: ask the master (see probeRefusal).
        const url = this.#url;
        probeRefusal(url, this.#options.headers).then((refusal) =>
          refusal
            ? fail(
              `Master at "${url}" refused the connection (${refusal.status}: ${refusal.reason})`,
              refusal.reason,
              refusal.status,
            )
            : fail(`Could not connect to master at "${url}"`, event.reason)
        );
        return;
      }
      if (hadList) {
        // Signalling is gone; established peer connections keep running on their own.
        for (const slave of this.#slaves.values()) {
          slaveConnectionInternals.detach(slave);
          this.dispatchEvent(new CustomEvent("slaveremoved", { detail: slave }));
        }
        this.#slaves.clear();
        this.dispatchEvent(new CustomEvent("disconnect", { detail: { code: event.code } }));
      }
      const { reconnect = {} } = this.#options;
      if (reconnect === false) {
        this.close();
        return;
      }
      // With several masters each attempt goes to the next one (they share one slave list).
      if (this.#urls.length > 1) this.#url = this.#urls[++this.#urlIndex % this.#urls.length];
      this.#timer = setTimeout(() => this.#open(), reconnectDelay(this.#attempt++, reconnect));
    };
  }

  #onPacket(packet: Packet): void {
    switch (packet.type) {
      case PacketType.ADD_SLAVES: {
        const first = !this.#gotList;
        this.#gotList = true;
        for (const wire of packet.slaves) {
          if (this.#slaves.has(wire.id)) continue;
          const slave = new SlaveConnection(this, wire.id, JSON.parse(wire.userData));
          this.#slaves.set(wire.id, slave);
          this.dispatchEvent(new CustomEvent("slaveadded", { detail: slave }));
        }
        if (first) {
          if (this.#attempt > 0) this.dispatchEvent(new Event("reconnect"));
          this.#attempt = 0;
          this.#first.resolve();
        }
        return;
      }
      case PacketType.UPDATE_SLAVE: {
        const slave = this.#slaves.get(packet.slave.id);
        if (!slave) return;
        slaveConnectionInternals.setUserData(slave, JSON.parse(packet.slave.userData));
        this.dispatchEvent(new CustomEvent("slaveupdated", { detail: slave }));
        return;
      }
      case PacketType.REMOVE_SLAVES:
        for (const id of packet.ids) {
          const slave = this.#slaves.get(id);
          if (!slave) continue;
          this.#slaves.delete(id);
          slaveConnectionInternals.detach(slave);
          slave.close(CloseCode.GOING_AWAY, "Slave left");
          this.dispatchEvent(new CustomEvent("slaveremoved", { detail: slave }));
        }
        return;
      case PacketType.ANSWER_FROM_SLAVE: {
        const slave = this.#slaves.get(packet.id);
        if (slave) slaveConnectionInternals.onAnswer(slave, packet.sdp);
        return;
      }
      case PacketType.ICE_CANDIDATE_FROM_SLAVE: {
        const slave = this.#slaves.get(packet.id);
        if (slave) slaveConnectionInternals.onCandidate(slave, packet.candidate);
        return;
      }
      case PacketType.REJECT_FROM_SLAVE: {
        const slave = this.#slaves.get(packet.id);
        if (slave) slaveConnectionInternals.onReject(slave, packet.reason);
        return;
      }
      case PacketType.CLOSE_FROM_SLAVE: {
        const slave = this.#slaves.get(packet.id);
        if (slave) slaveConnectionInternals.onRemoteClose(slave, packet.code, packet.reason);
        return;
      }
      default:
        this.#socket?.close(CloseCode.POLICY_VIOLATION, `Unexpected packet type "${packet.type}"`);
    }
  }
}

/**
 * After a failed handshake, asks the master with a plain GET of the same URL why it would refuse
 * (browsers expose no HTTP status on WebSocket): the master answers 403 "origin not allowed",
 * 503 "too many clients" or 401 with `authorizeClient`'s reason, readable from any origin. `null`
 * when it would accept (the refusal came from elsewhere) or cannot be reached.
 */
async function probeRefusal(
  url: string,
  headers?: Record<string, string>,
): Promise<{ status: number; reason: string } | null> {
  const target = new URL(url);
  target.protocol = target.protocol === "wss:" ? "https:" : "http:";
  try {
    const response = await fetch(target, { headers, signal: AbortSignal.timeout(3000) });
    const reason = (await response.text()).slice(0, 200);
    if (response.status === 403 || response.status === 401 || response.status >= 500) {
      return { status: response.status, reason };
    }
    return null;
  } catch {
    return null;
  }
}

/** Connection states of a `SlaveConnection`. */
export type SlaveConnectionState = "new" | "connecting" | "connected" | "closed";

interface Session {
  pc: RTCPeerConnectionLike;
  control: RTCDataChannelLike;
  remoteSet: boolean;
  pendingCandidates: (WireCandidate | null)[];
  /** Set-ups retried after libdatachannel closed the connection under us. */
  retries: number;
  /** Whether the offer went out (an answer before it is stale). */
  offered: boolean;
  /** Whether an answer was taken (a second one is ignored). */
  answered: boolean;
  /** Local candidates gathered before the offer went out (they must not overtake it). */
  localCandidates: Uint8Array[] | null;
  ready: PromiseWithResolvers<void>;
  channels: Set<DataChannel>;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The events of a {@linkcode SlaveConnection}.
 *
 * @example
 * ```ts
 * import { connectMaster, type SlaveConnectionEventMap } from "@netkit/realtime/webrtc/client";
 * const master = await connectMaster("ws://127.0.0.1:8081");
 * const slave = master.slaves[0];
 * const onClose = (e: SlaveConnectionEventMap["close"]) => console.log(e.detail.code, e.detail.reason);
 * slave.addEventListener("close", onClose);
 * slave.removeEventListener("close", onClose);
 * ```
 */
export interface SlaveConnectionEventMap {
  /** The slave refused the offer; the detail is its reason. */
  rejected: CustomEvent<string>;
  /** The peer connection to the slave is established. */
  connected: Event;
  /** The slave's userData changed (read `userData`). */
  update: Event;
  /** The peer connection closed, with the close code and reason. */
  close: CustomEvent<{ code: number; reason: string }>;
}

/**
 * One slave as seen by a client. `connect()` negotiates one peer connection; every
 * `createDataChannel()` then opens a channel on it without renegotiation. `close()` ends it and
 * `connect()` may open it again.
 *
 * Events: `rejected` (`CustomEvent<string>`: the reason), `connected`, `close`
 * (`CustomEvent<{ code, reason }>`), `update` (userData changed).
 *
 * @example
 * ```ts
 * import { connectMaster } from "@netkit/realtime/webrtc/client";
 * const master = await connectMaster("ws://127.0.0.1:8081");
 * const slave = master.slaves.find((s) => s.userData.name === "eu-1")!;
 * slave.addEventListener("rejected", (e) => console.log("refused:", e.detail));
 * const reliable = await slave.createDataChannel("chat");
 * const fast = await slave.createDataChannel("state", { ordered: false, maxRetransmits: 0 });
 * ```
 */
export class SlaveConnection extends TypedEventTarget<SlaveConnectionEventMap> {
  #master: MasterConnection;
  #userData: unknown;
  #session?: Session;
  #detached = false;
  /** The slave's id at the master. */
  readonly id: number;

  /** @internal */
  constructor(master: MasterConnection, id: number, userData: unknown) {
    super();
    this.#master = master;
    this.id = id;
    this.#userData = userData;
  }

  /** The slave's public data (as it registered or last updated it). */
  // deno-lint-ignore no-explicit-any
  get userData(): any {
    return this.#userData;
  }

  /** `new`, `connecting`, `connected` or `closed`. */
  get state(): SlaveConnectionState {
    const s = this.#session;
    if (!s) return this.#detached ? "closed" : "new";
    return s.control.readyState === "open" ? "connected" : "connecting";
  }

  /** The open data channels. */
  get dataChannels(): DataChannel[] {
    return [...this.#session?.channels ?? []];
  }

  /**
   * Negotiates the peer connection (once; later calls share it). Rejects with `WebRtcError`
   * `ERR_REJECTED` when the slave refuses, `TimeoutError` after `connectTimeout`, `WebRtcError`
   * `ERR_CONNECTION_CLOSED` when closed first.
   */
  connect(): Promise<void> {
    if (this.#session) return this.#session.ready.promise;
    if (this.#starting) return this.#starting;
    if (this.#detached) {
      return Promise.reject(connectionClosed("Slave is no longer listed at the master"));
    }
    // A new peer connection waits until the previous one is fully closed: node-datachannel can
    // close a connection that is being set up while another one closes natively.
    const generation = this.#generation;
    const starting = this.#teardown.then(() => {
      this.#starting = undefined;
      if (this.#session) return this.#session.ready.promise;
      if (this.#generation !== generation || this.#detached) {
        throw connectionClosed("Slave connection closed while connecting");
      }
      return this.#open();
    });
    this.#starting = starting;
    return starting;
  }

  #starting?: Promise<void>;
  #generation = 0;
  #teardown: Promise<void> = Promise.resolve();

  static {
    slaveConnectionInternals.teardown = (slave) => slave.#teardown;
    slaveConnectionInternals.setUserData = (slave, userData) => slave.#setUserData(userData);
    slaveConnectionInternals.detach = (slave) => slave.#detach();
    slaveConnectionInternals.onAnswer = (slave, sdp) => slave.#onAnswer(sdp);
    slaveConnectionInternals.onCandidate = (slave, candidate) => slave.#onCandidate(candidate);
    slaveConnectionInternals.onReject = (slave, reason) => slave.#onReject(reason);
    slaveConnectionInternals.onRemoteClose = (slave, code, reason) =>
      slave.#onRemoteClose(code, reason);
  }

  #open(ready = Promise.withResolvers<void>(), retries = 0): Promise<void> {
    const options = masterConnectionInternals.options(this.#master);
    const { iceServers = [], connectTimeout = 10_000, rtcConfiguration } = options;
    const pc = new (masterConnectionInternals.peerConnection(this.#master))({
      ...rtcConfiguration,
      iceServers,
    });
    const control = pc.createDataChannel(CONTROL_CHANNEL_LABEL, {
      protocol: CONTROL_CHANNEL_PROTOCOL,
    });
    ready.promise.catch(() => {});
    const session: Session = {
      pc,
      control,
      retries,
      remoteSet: false,
      pendingCandidates: [],
      offered: false,
      answered: false,
      localCandidates: [],
      ready,
      channels: new Set(),
      timer: setTimeout(() => {
        if (this.#session !== session || control.readyState === "open") return;
        this.#end(
          session,
          CloseCode.GOING_AWAY,
          "Connect timeout",
          new DOMException(`Connecting to slave ${this.id} timed out`, "TimeoutError"),
        );
      }, connectTimeout),
    };
    this.#session = session;
    control.onopen = () => {
      clearTimeout(session.timer);
      ready.resolve();
      this.dispatchEvent(new Event("connected"));
    };
    control.binaryType = "arraybuffer";
    control.onmessage = (event: MessageEvent) => {
      // The slave says why it closes just before it does.
      if (!(event.data instanceof ArrayBuffer) || this.#session !== session) return;
      const close = decodeControlClose(new Uint8Array(event.data));
      if (close) this.#end(session, close.code, close.reason);
    };
    control.onclose = () => {
      if (this.#session === session) this.#end(session, CloseCode.NORMAL, "Peer closed");
    };
    pc.onicecandidate = (event) => {
      if (this.#session !== session) return;
      const c = event.candidate;
      // End-of-candidates is implied by the connection opening; never sent (as enslavism).
      if (!c || !c.candidate) return;
      const packet = encodeCandidate(PacketType.ICE_CANDIDATE_TO_SLAVE, this.id, {
        candidate: c.candidate,
        sdpMid: c.sdpMid ?? null,
        sdpMLineIndex: c.sdpMLineIndex ?? null,
      });
      if (session.localCandidates) session.localCandidates.push(packet);
      else masterConnectionInternals.send(this.#master, packet);
    };
    pc.onconnectionstatechange = () => {
      if (this.#session !== session) return;
      if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        if (control.readyState !== "open" && session.retries < 2 && session.answered) {
          // Failed during set-up (libdatachannel, about 1 in 100 on loopback): start over.
          this.#retry(session);
          return;
        }
        this.#end(session, CloseCode.GOING_AWAY, `Peer connection ${pc.connectionState}`);
      }
    };
    (async () => {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      // The offer goes out at once and candidates trickle after it. Waiting for gathering to
      // complete would save a few signalling messages, but Chromium reports "complete" only
      // ~120 ms after its host candidates (measured: browser set-up p50 245 ms waiting, 67 ms
      // trickling; bench/webrtc_bench.ts). When gathering is already complete (some engines
      // finish at once), the local description holds every candidate: send it alone.
      let sdp = offer.sdp ?? "";
      if (pc.iceGatheringState === "complete" && pc.localDescription?.sdp) {
        sdp = pc.localDescription.sdp;
        session.localCandidates = [];
      }
      // Claim the DTLS client role. The slave (libdatachannel) would otherwise take it as
      // answerer and send its ClientHello as soon as its own ICE side is connected, often before
      // ours is; the hello is lost and the handshake waits for a 1 s retransmit (measured: in
      // 9–16 of 21 set-ups under load, against none with the client as DTLS client).
      sdp = sdp.replace(/a=setup:actpass/g, "a=setup:active");
      if (this.#session !== session) return;
      if (
        !masterConnectionInternals.send(
          this.#master,
          encodeSdp(PacketType.OFFER_TO_SLAVE, this.id, sdp),
        )
      ) {
        this.#end(session, CloseCode.GOING_AWAY, "Master unreachable");
        return;
      }
      session.offered = true;
      const early = session.localCandidates ?? [];
      session.localCandidates = null;
      for (const packet of early) masterConnectionInternals.send(this.#master, packet);
    })().catch((error) => {
      if (this.#session === session) {
        this.#end(session, CloseCode.GOING_AWAY, "Offer failed", error);
      }
    });
    return ready.promise;
  }

  /**
   * Opens a data channel on this slave's peer connection (connecting first if needed) and
   * resolves when it is open.
   */
  async createDataChannel(label: string, options: DataChannelOptions = {}): Promise<DataChannel> {
    if (label === CONTROL_CHANNEL_LABEL) {
      throw new WebRtcTypeError(
        "ERR_RESERVED_LABEL",
        `Label "${CONTROL_CHANNEL_LABEL}" is reserved`,
      );
    }
    await this.connect();
    const session = this.#session;
    if (!session) throw connectionClosed("Slave connection closed");
    const { ordered = true, maxRetransmits, maxPacketLifeTime, protocol = "" } = options;
    const init: Record<string, unknown> = { ordered, protocol };
    if (maxRetransmits !== undefined) init.maxRetransmits = maxRetransmits;
    if (maxPacketLifeTime !== undefined) init.maxPacketLifeTime = maxPacketLifeTime;
    const raw = session.pc.createDataChannel(label, init);
    const channel = new DataChannel(
      rtcChannelTransport(raw, () => session.pc.sctp?.maxMessageSize || 262144),
      options,
    );
    session.channels.add(channel);
    channel.addEventListener("close", () => session.channels.delete(channel), { once: true });
    await channel.opened;
    return channel;
  }

  /** Closes the peer connection and its channels, telling the slave why. Reopen with `connect()`. */
  close(code: number = CloseCode.NORMAL, reason = ""): void {
    this.#generation++;
    const session = this.#session;
    if (!session) return;
    reason = truncateUtf8(reason, MAX_CLOSE_REASON_LENGTH);
    masterConnectionInternals.send(
      this.#master,
      encodeClose(PacketType.CLOSE_TO_SLAVE, this.id, code, reason),
    );
    this.#end(session, code, reason, undefined, true);
  }

  #setUserData(userData: unknown): void {
    this.#userData = userData;
    this.dispatchEvent(new Event("update"));
  }

  /** The master no longer lists this slave: no new negotiations. */
  #detach(): void {
    this.#detached = true;
    const session = this.#session;
    if (session && session.control.readyState !== "open") {
      this.#end(session, CloseCode.GOING_AWAY, "Signalling lost");
    }
  }

  #onAnswer(sdp: string): void {
    const session = this.#session;
    if (!session || session.answered || !session.offered) return;
    session.answered = true;
    // Some implementations throw synchronously instead of rejecting.
    Promise.resolve().then(() => session.pc.setRemoteDescription({ type: "answer", sdp })).then(
      async () => {
        session.remoteSet = true;
        const queued = session.pendingCandidates;
        session.pendingCandidates = [];
        for (const c of queued) await this.#addCandidate(session, c);
      },
    ).catch((error) => {
      // node-datachannel 0.33 sometimes closes a connection natively while it applies the
      // answer ("Got a remote candidate without ICE transport", about 1 in 100 set-ups), and
      // the state may still read "connecting" when the rejection arrives: start over with a
      // fresh peer connection instead of failing the caller.
      const abortedNatively = session.pc.connectionState === "closed" ||
        String((error as Error | undefined)?.message).includes("without ICE transport");
      if (session.retries < 2 && abortedNatively) {
        this.#retry(session);
        return;
      }
      this.#end(session, CloseCode.PROTOCOL_ERROR, "Bad answer", error);
    });
  }

  #retry(session: Session): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    clearTimeout(session.timer);
    const { pc, control } = session;
    control.onopen = control.onclose = control.onmessage = null;
    pc.onicecandidate = null;
    pc.onconnectionstatechange = null;
    masterConnectionInternals.send(
      this.#master,
      encodeClose(PacketType.CLOSE_TO_SLAVE, this.id, CloseCode.NORMAL, "Retry"),
    );
    try {
      control.close();
    } catch { /* already closed */ }
    try {
      pc.close();
    } catch { /* already closed */ }
    this.#open(session.ready, session.retries + 1);
  }

  /** Candidates that come before the answer is applied wait in a queue. */
  #onCandidate(candidate: WireCandidate | null): void {
    const session = this.#session;
    if (!session) return;
    if (!session.remoteSet) {
      if (session.pendingCandidates.length < 64) session.pendingCandidates.push(candidate);
      return;
    }
    this.#addCandidate(session, candidate);
  }

  async #addCandidate(session: Session, candidate: WireCandidate | null): Promise<void> {
    if (!candidate) return;
    try {
      await session.pc.addIceCandidate({
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid ?? "0",
        sdpMLineIndex: candidate.sdpMLineIndex ?? 0,
      });
    } catch {
      // A candidate the engine cannot use (e.g. mDNS it cannot resolve) is not fatal.
    }
  }

  #onReject(reason: string): void {
    const session = this.#session;
    if (!session) return;
    this.dispatchEvent(new CustomEvent("rejected", { detail: reason }));
    const message = reason ? `Connection rejected: "${reason}"` : "Connection rejected";
    const error = new WebRtcError("ERR_REJECTED", message, { reason });
    this.#end(session, CloseCode.POLICY_VIOLATION, reason, error);
  }

  #onRemoteClose(code: number, reason: string): void {
    const session = this.#session;
    if (session) this.#end(session, code, reason);
  }

  #end(session: Session, code: number, reason: string, error?: unknown, notify = false): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    clearTimeout(session.timer);
    session.ready.reject(
      error ??
        connectionClosed(`Slave connection closed: "${reason}"`, { closeCode: code, reason }),
    );
    for (const channel of session.channels) dataChannelInternals.dispose(channel);
    session.channels.clear();
    const { control, pc } = session;
    control.onmessage = null;
    pc.onicecandidate = null;
    pc.onconnectionstatechange = null;
    let fallback: ReturnType<typeof setTimeout> | undefined;
    const torn = Promise.withResolvers<void>();
    this.#teardown = torn.promise;
    let closePc = () => {
      closePc = () => {};
      clearTimeout(fallback);
      try {
        pc.close();
      } catch { /* already closed */ }
      torn.resolve();
    };
    if (notify && control.readyState === "open") {
      // Tell the slave why over the data path (faster than signalling), then let the control
      // channel close gracefully before tearing the connection down.
      try {
        control.send(encodeControlClose(code, reason));
      } catch { /* closing */ }
      // Never close from inside a native callback: defer to a fresh task.
      control.onclose = () => setTimeout(() => closePc(), 0);
      fallback = setTimeout(() => closePc(), 500);
    } else {
      control.onclose = null;
      queueMicrotask(() => closePc());
    }
    try {
      control.close();
    } catch { /* already closed */ }
    this.dispatchEvent(new CustomEvent("close", { detail: { code, reason } }));
  }
}
