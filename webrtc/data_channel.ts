/**
 * `DataChannel`: one WebRTC data channel with events and web streams, the same class on the slave
 * (node-datachannel) and the client (browser `RTCDataChannel`). Browser-safe.
 *
 * @module
 */

import { type WebRtcError, type WebRtcRangeError, WebRtcTypeError } from "./errors.ts";
import { connectionClosed, tooLarge } from "./_errors.ts";
import type { RTCDataChannelLike } from "./rtc_types.ts";
import { TypedEventTarget } from "../_common/typed_event_target.ts";
import { dataChannelInternals } from "./_internal.ts";

/** What a channel carries: text or binary messages. */
export type Message = string | Uint8Array;

/**
 * Options of `createDataChannel()`.
 */
export interface DataChannelOptions {
  /**
   * Deliver messages in order.
   * @default {true}
   */
  ordered?: boolean;
  /** Give up on a message after this many retransmits (unreliable). */
  maxRetransmits?: number;
  /** Give up on a message after this many milliseconds (unreliable). */
  maxPacketLifeTime?: number;
  /**
   * Sub-protocol name.
   * @default {""}
   */
  protocol?: string;
  /**
   * `writable` and `send()` callers wait while more than this many bytes are buffered.
   * @default {1048576}
   */
  highWaterMark?: number;
  /**
   * Waiting writers resume when the buffer falls to this many bytes
   * (`bufferedAmountLowThreshold`).
   * @default {262144}
   */
  lowWaterMark?: number;
  /**
   * Bytes received but not yet read from `readable` before the channel is closed with
   * `ERR_MESSAGE_TOO_LARGE` (data channels have no receive flow control).
   * @default {16777216}
   */
  receiveBufferSize?: number;
}

/** The message `send()` takes `data` as: text, or a byte view of exactly its bytes. */
function toMessage(data: unknown): Message {
  if (typeof data === "string" || data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  const kind = data === null
    ? "null"
    : typeof data === "object"
    ? (data as object).constructor?.name ?? "object"
    : typeof data;
  throw new WebRtcTypeError(
    "ERR_INVALID_DATA",
    `Expected a string, an ArrayBufferView or an ArrayBuffer, got ${kind}`,
  );
}

/** @internal The transport underneath a `DataChannel` (browser RTCDataChannel or node-datachannel). */
export interface ChannelTransport {
  readonly label: string;
  readonly protocol: string;
  readonly ordered: boolean;
  readonly maxRetransmits: number | null;
  readonly maxPacketLifeTime: number | null;
  readonly id: number | null;
  bufferedAmount(): number;
  setBufferedAmountLowThreshold(bytes: number): void;
  maxMessageSize(): number;
  isOpen(): boolean;
  send(data: Message): void;
  close(): void;
  /** Installs the callbacks; called once. */
  bind(handlers: ChannelHandlers): void;
}

/** @internal Callbacks from a transport. */
export interface ChannelHandlers {
  open(): void;
  message(data: Message): void;
  bufferedAmountLow(): void;
  close(): void;
  error(message: string): void;
}

/** Default `highWaterMark`. */
export const DEFAULT_HIGH_WATER_MARK = 1 << 20;
/** Default `lowWaterMark`. */
export const DEFAULT_LOW_WATER_MARK = 256 << 10;
/** Default `receiveBufferSize`. */
export const DEFAULT_RECEIVE_BUFFER_SIZE = 16 << 20;

/** Ready states of a data channel, as in `RTCDataChannel`. */
export type DataChannelState = "connecting" | "open" | "closing" | "closed";

function byteSize(data: Message): number {
  return typeof data === "string" ? data.length : data.byteLength;
}

/**
 * The events of a {@linkcode DataChannel}.
 *
 * @example
 * ```ts
 * import { connectMaster, type DataChannelEventMap } from "@netkit/realtime/webrtc/client";
 * const master = await connectMaster("ws://127.0.0.1:8081");
 * const channel = await master.slaves[0].createDataChannel("chat");
 * const onMessage = (e: DataChannelEventMap["message"]) => console.log(e.data);
 * channel.addEventListener("message", onMessage);
 * channel.addEventListener("error", (e) => console.log(e.error.code));
 * channel.removeEventListener("message", onMessage);
 * ```
 */
export interface DataChannelEventMap {
  /** The channel is open; `send()` works. */
  open: Event;
  /** A message arrived: `data` is a `string` (text) or a `Uint8Array` (binary). */
  message: MessageEvent<Message>;
  /** The buffered bytes fell to the low water mark; waiting writers resume. */
  bufferedamountlow: Event;
  /**
   * The channel failed; `error` is a `WebRtcError` (`ERR_CONNECTION_CLOSED`) or a
   * `WebRtcRangeError` (`ERR_MESSAGE_TOO_LARGE`: unread data over `receiveBufferSize`).
   */
  error: ErrorEvent & { readonly error: WebRtcError | WebRtcRangeError };
  /** The channel closed. */
  close: Event;
}

/**
 * One data channel between a client and a slave.
 *
 * Events: `open`, `message` (`MessageEvent` whose `data` is a `string` or `Uint8Array`),
 * `bufferedamountlow`, `error` (`ErrorEvent`), `close`.
 *
 * @example
 * ```ts
 * import { connectMaster } from "@netkit/realtime/webrtc/client";
 * const master = await connectMaster("ws://127.0.0.1:8081");
 * const channel = await master.slaves[0].createDataChannel("chat");
 * channel.addEventListener("message", (e) => console.log(e.data));
 * channel.send("hello");
 * const writer = channel.writable.getWriter();
 * await writer.write(new Uint8Array(1024)); // waits while the channel is backed up
 * ```
 */
export class DataChannel extends TypedEventTarget<DataChannelEventMap> {
  #transport: ChannelTransport;
  #state: DataChannelState = "connecting";
  #highWaterMark: number;
  #receiveBufferSize: number;
  #readableController?: ReadableStreamDefaultController<Message>;
  #readable?: ReadableStream<Message>;
  #writable?: WritableStream<Message>;
  #drainWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  #opened = Promise.withResolvers<void>();
  #closed = Promise.withResolvers<void>();
  #error?: Error;

  /** @internal Wraps a transport; users get channels from `createDataChannel()` or events. */
  constructor(transport: ChannelTransport, options: DataChannelOptions = {}) {
    super();
    const {
      highWaterMark = DEFAULT_HIGH_WATER_MARK,
      lowWaterMark = DEFAULT_LOW_WATER_MARK,
      receiveBufferSize = DEFAULT_RECEIVE_BUFFER_SIZE,
    } = options;
    this.#transport = transport;
    this.#highWaterMark = highWaterMark;
    this.#receiveBufferSize = receiveBufferSize;
    this.#opened.promise.catch(() => {});
    transport.setBufferedAmountLowThreshold(lowWaterMark);
    transport.bind({
      open: () => this.#onOpen(),
      message: (data) => this.#onMessage(data),
      bufferedAmountLow: () => {
        this.#wakeWriters();
        this.dispatchEvent(new Event("bufferedamountlow"));
      },
      close: () => this.#onClose(),
      error: (message) => {
        this.#error = connectionClosed(message);
        this.dispatchEvent(new ErrorEvent("error", { message, error: this.#error }));
      },
    });
    if (transport.isOpen()) this.#onOpen();
  }

  /** The channel's label. */
  get label(): string {
    return this.#transport.label;
  }
  /** The channel's sub-protocol. */
  get protocol(): string {
    return this.#transport.protocol;
  }
  /** Whether messages arrive in order. */
  get ordered(): boolean {
    return this.#transport.ordered;
  }
  /** Retransmit limit, or `null` for reliable. */
  get maxRetransmits(): number | null {
    return this.#transport.maxRetransmits;
  }
  /** Lifetime limit in ms, or `null`. */
  get maxPacketLifeTime(): number | null {
    return this.#transport.maxPacketLifeTime;
  }
  /** SCTP stream id, when known. */
  get id(): number | null {
    return this.#transport.id;
  }
  /** `connecting`, `open`, `closing` or `closed`. */
  get readyState(): DataChannelState {
    return this.#state;
  }
  /** Bytes queued for sending. */
  get bufferedAmount(): number {
    return this.#state === "open" ? this.#transport.bufferedAmount() : 0;
  }
  /** Largest message the peer accepts, in bytes. */
  get maxMessageSize(): number {
    return this.#transport.maxMessageSize();
  }
  /** Resolves when the channel opens; rejects if it closes first. */
  get opened(): Promise<void> {
    return this.#opened.promise;
  }
  /** Resolves when the channel has closed. */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /**
   * Sends one message now (no waiting): text, or the exact bytes of any `ArrayBufferView` or
   * `ArrayBuffer`. Throws `WebRtcTypeError` (`ERR_INVALID_DATA`) for anything else, `WebRtcError`
   * (`ERR_CONNECTION_CLOSED`) when the channel is not open and `WebRtcRangeError`
   * (`ERR_MESSAGE_TOO_LARGE`) over `maxMessageSize`. Use `writable` or `drain()` for backpressure.
   */
  send(data: Message | ArrayBufferView | ArrayBuffer): void {
    const message = toMessage(data);
    if (this.#state !== "open") {
      throw connectionClosed(`Data channel "${this.label}" is ${this.#state}`);
    }
    const max = this.#transport.maxMessageSize();
    if (typeof message !== "string" && message.byteLength > max) {
      throw tooLarge(message.byteLength, max);
    }
    if (typeof message === "string" && message.length > max) {
      const size = new TextEncoder().encode(message).length;
      if (size > max) throw tooLarge(size, max);
    }
    this.#transport.send(message);
  }

  /** Resolves once `bufferedAmount` is at or below the high-water mark. */
  drain(): Promise<void> {
    if (this.#state !== "open") {
      return Promise.reject(
        connectionClosed(`Data channel "${this.label}" is ${this.#state}`),
      );
    }
    if (this.#transport.bufferedAmount() <= this.#highWaterMark) return Promise.resolve();
    const waiter = Promise.withResolvers<void>();
    this.#drainWaiters.push(waiter);
    return waiter.promise;
  }

  /** Incoming messages as a stream. Created on first access; once read, `message` events still fire. */
  get readable(): ReadableStream<Message> {
    this.#readable ??= new ReadableStream<Message>({
      start: (controller) => {
        this.#readableController = controller;
        if (this.#state === "closed") controller.close();
      },
      cancel: () => {
        this.#readableController = undefined;
      },
    }, {
      highWaterMark: this.#receiveBufferSize,
      size: byteSize,
    });
    return this.#readable;
  }

  /** Outgoing messages as a stream; each write waits while the channel is backed up. */
  get writable(): WritableStream<Message> {
    this.#writable ??= new WritableStream<Message>({
      start: async () => {
        await this.#opened.promise;
      },
      write: async (chunk) => {
        await this.drain();
        this.send(chunk);
      },
      close: () => this.close(),
      abort: () => this.close(),
    });
    return this.#writable;
  }

  /** Closes the channel. */
  close(): void {
    if (this.#state === "closed" || this.#state === "closing") return;
    this.#state = "closing";
    try {
      this.#transport.close();
    } catch {
      this.#onClose();
    }
  }

  static {
    dataChannelInternals.dispose = (channel) => channel.#dispose();
  }

  /** Closes the channel because its peer connection went away. */
  #dispose(): void {
    this.close();
    this.#onClose();
  }

  #onOpen(): void {
    if (this.#state !== "connecting") return;
    this.#state = "open";
    this.#opened.resolve();
    this.dispatchEvent(new Event("open"));
  }

  #onMessage(data: Message): void {
    const controller = this.#readableController;
    if (controller) {
      if (controller.desiredSize !== null && controller.desiredSize < 0) {
        const error = tooLarge(
          this.#receiveBufferSize - controller.desiredSize,
          this.#receiveBufferSize,
          "Unread data",
        );
        this.#error = error;
        try {
          controller.error(error);
        } catch { /* already errored */ }
        this.#readableController = undefined;
        this.dispatchEvent(new ErrorEvent("error", { message: error.message, error }));
        this.close();
        return;
      }
      controller.enqueue(data);
    }
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  #wakeWriters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #onClose(): void {
    if (this.#state === "closed") return;
    const wasConnecting = this.#state === "connecting";
    this.#state = "closed";
    const error = this.#error ??
      connectionClosed(`Data channel "${this.label}" closed`, { closeCode: 1000 });
    if (wasConnecting) this.#opened.reject(error);
    for (const w of this.#drainWaiters) w.reject(error);
    this.#drainWaiters = [];
    try {
      this.#readableController?.close();
    } catch { /* already closed or errored */ }
    this.#readableController = undefined;
    this.#closed.resolve();
    this.dispatchEvent(new Event("close"));
  }
}

/** @internal A `ChannelTransport` over a standard `RTCDataChannel` (browsers, polyfills). */
export function rtcChannelTransport(
  channel: RTCDataChannelLike,
  maxMessageSize: () => number = () => 262144,
): ChannelTransport {
  channel.binaryType = "arraybuffer";
  return {
    label: channel.label,
    protocol: channel.protocol,
    ordered: channel.ordered,
    maxRetransmits: channel.maxRetransmits ?? null,
    maxPacketLifeTime: channel.maxPacketLifeTime ?? null,
    get id() {
      return channel.id ?? null;
    },
    bufferedAmount: () => channel.bufferedAmount,
    setBufferedAmountLowThreshold: (bytes) => {
      channel.bufferedAmountLowThreshold = bytes;
    },
    maxMessageSize,
    isOpen: () => channel.readyState === "open",
    // deno-lint-ignore no-explicit-any
    send: (data) => channel.send(data as any),
    close: () => channel.close(),
    bind(handlers) {
      channel.onopen = () => handlers.open();
      channel.onmessage = (event: MessageEvent) => {
        const data = event.data;
        if (typeof data === "string") handlers.message(data);
        else if (data instanceof ArrayBuffer) handlers.message(new Uint8Array(data));
        else if (ArrayBuffer.isView(data)) {
          handlers.message(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        }
      };
      channel.onbufferedamountlow = () => handlers.bufferedAmountLow();
      channel.onclose = () => handlers.close();
      channel.onerror = (event: Event) => {
        // deno-lint-ignore no-explicit-any
        const e = event as any;
        handlers.error(String(e?.error?.message ?? e?.message ?? "Data channel error"));
      };
    },
  };
}
