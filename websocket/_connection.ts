/**
 * The one implementation of `WebSocketConnection`, over any engine socket.
 *
 * @module
 */

import {
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL_ERROR,
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
} from "./_frame.ts";
import {
  assertCloseReason,
  assertSendableCloseCode,
  type EngineSocket,
  type Message,
} from "./_engine.ts";
import type { RoomHub } from "../cluster/rooms.ts";
import type { FanOutMessage } from "./_sender.ts";
import type {
  ServerWebSocketConnection,
  WebSocketCloseInfo,
  WebSocketEngine,
} from "./connection.ts";
import {
  type WebSocketClosingError,
  WebSocketError,
  WebSocketRangeError,
  WebSocketTypeError,
} from "./errors.ts";

/**
 * An engine socket that can take a fan-out message at once (both engines
 * can; a third one need not).
 */
interface FanOutSocket extends EngineSocket {
  /**
   * Takes `message` at once, and returns `true`, when `send()` would not
   * wait; `false` means nothing was sent (`send()` it instead).
   */
  sendMessage?(message: FanOutMessage): boolean;
}

/** Metadata fixed at the handshake. */
export interface ConnectionInfo {
  engine: WebSocketEngine;
  path: string;
  headers: Headers;
  protocol: string;
  extensions: string;
  remoteAddr: Deno.NetAddr | null;
  /** Settles at open (rejects when closed before); already resolved for engines that open at construction. */
  opened?: Promise<void>;
}

/** Heartbeat settings in milliseconds. */
export interface HeartbeatOptions {
  interval: number;
  timeout: number;
}

/** A `WebSocketConnection` over an engine socket. */
export class Connection implements ServerWebSocketConnection {
  readonly path: string;
  readonly headers: Headers;
  readonly protocol: string;
  readonly extensions: string;
  readonly remoteAddr: Deno.NetAddr | null;
  readonly engine: WebSocketEngine;
  /** Settles when the connection opened; rejects if it closed first. */
  readonly opened: Promise<void>;
  #socket: FanOutSocket;
  #writable: WritableStream<Message> | undefined;
  #binaryActive = false;
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  #closed: Promise<WebSocketCloseInfo>;
  /** Set when we gave up on the peer (heartbeat, send queue): reported instead of the engine's 1006. */
  #localClose: WebSocketCloseInfo | undefined;
  /** The room hub of a server connection (created on first use); none on a client. */
  #rooms: (() => RoomHub<Connection>) | undefined;
  #joined = false;

  constructor(socket: EngineSocket, info: ConnectionInfo) {
    this.#socket = socket;
    this.path = info.path;
    this.headers = info.headers;
    this.protocol = info.protocol;
    this.extensions = info.extensions;
    this.remoteAddr = info.remoteAddr;
    this.engine = info.engine;
    this.opened = info.opened ?? Promise.resolve();
    this.opened.catch(() => {});
    this.#closed = socket.closed.then((info) => {
      clearTimeout(this.#heartbeatTimer);
      return this.#localClose ?? info;
    });
  }

  get readable(): ReadableStream<Message> {
    return this.#socket.readable;
  }

  get writable(): WritableStream<Message> {
    return this.#writable ??= new WritableStream<Message>({
      write: (chunk) => this.send(chunk),
      close: () => this.close(CLOSE_NORMAL),
      abort: () => this.close(CLOSE_INTERNAL_ERROR, "Writer aborted").catch(() => {}),
    });
  }

  get closed(): Promise<WebSocketCloseInfo> {
    return this.#closed;
  }

  get readyState(): 0 | 1 | 2 | 3 {
    return this.#socket.readyState;
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  send(data: string | Uint8Array): Promise<void> {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      return Promise.reject(
        new WebSocketTypeError("ERR_INVALID_DATA", "Data must be a string or a Uint8Array"),
      );
    }
    if (this.#binaryActive) {
      return Promise.reject(
        new WebSocketError(
          "ERR_BINARY_STREAM_ACTIVE",
          "A beginBinary() stream is open: close it before sending",
        ),
      );
    }
    return this.#socket.send(data);
  }

  /**
   * Fan-out (internal): takes `message` at once, and returns `true`, when
   * the engine can without waiting; `false` means nothing was sent (`send()`
   * it instead, and wait).
   */
  sendMessage(message: FanOutMessage): boolean {
    if (this.#binaryActive) return false;
    return this.#socket.sendMessage?.(message) ?? false;
  }

  ping(data?: Uint8Array): Promise<number> {
    return this.#socket.ping(data);
  }

  beginBinary(): WritableStream<Uint8Array> {
    if (this.#binaryActive) {
      throw new WebSocketError(
        "ERR_BINARY_STREAM_ACTIVE",
        "A beginBinary() stream is already open",
      );
    }
    if (this.readyState > 1) {
      throw new WebSocketError(
        "ERR_NOT_OPEN",
        `Connection is not open (readyState "${this.readyState}")`,
      );
    }
    const inner = this.#socket.beginBinary();
    const writer = inner.getWriter();
    this.#binaryActive = true;
    const done = () => {
      this.#binaryActive = false;
    };
    return new WritableStream<Uint8Array>({
      write: (chunk) => writer.write(chunk),
      close: () => writer.close().finally(done),
      abort: (reason) => writer.abort(reason).finally(done),
    });
  }

  close(code?: number, reason = ""): Promise<void> {
    try {
      if (code !== undefined) assertSendableCloseCode(code);
      else if (reason !== "") code = CLOSE_NORMAL;
      assertCloseReason(reason);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#socket.close(code, reason);
  }

  /**
   * Pings every `interval` ms (after the last ping was answered) and closes
   * with 1001 when no pong arrives within `timeout` ms. Engines that cannot
   * ping (native) implement heartbeats themselves and never call this.
   */
  startHeartbeat({ interval, timeout }: HeartbeatOptions): void {
    const beat = async () => {
      if (this.readyState !== 1) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeout);
      });
      const result = await Promise.race([this.ping().catch(() => "closed" as const), expired]);
      clearTimeout(timer);
      if (result === "timeout") {
        // A dead peer will not answer the close frame either: drop TCP soon after sending it.
        const reason = "No pong within heartbeat timeout";
        this.#localClose = {
          code: CLOSE_GOING_AWAY,
          reason,
          error: new WebSocketRangeError("ERR_HEARTBEAT_TIMEOUT", reason, {
            closeCode: CLOSE_GOING_AWAY,
            limit: timeout,
          }),
        };
        const closing = this.#socket.close(CLOSE_GOING_AWAY, reason).catch(() => {});
        const drop = setTimeout(() => this.#socket.terminate?.(), Math.min(timeout, 1_000));
        await closing;
        clearTimeout(drop);
        return;
      }
      if (result === "closed") return;
      this.#heartbeatTimer = setTimeout(beat, interval);
    };
    this.#heartbeatTimer = setTimeout(beat, interval);
  }

  /** Makes this a server connection with rooms from `hub` (called once, at admission). */
  useRooms(hub: () => RoomHub<Connection>): void {
    this.#rooms = hub;
    // A closed connection leaves every room, on every server's view.
    void this.#closed.then(() => this.#joined ? hub().leaveAll(this) : undefined).catch(() => {});
  }

  join(room: string): Promise<void> {
    if (!this.#rooms) return Promise.reject(noRooms());
    if (this.readyState > 1) {
      return Promise.reject(
        new WebSocketError(
          "ERR_NOT_OPEN",
          `Connection is not open (readyState "${this.readyState}")`,
        ),
      );
    }
    try {
      this.#joined = true;
      return this.#rooms().join(this, room);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  leave(room: string): Promise<void> {
    if (!this.#rooms) return Promise.reject(noRooms());
    try {
      return this.#joined ? this.#rooms().leave(this, room) : Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  get rooms(): ReadonlySet<string> {
    return this.#joined && this.#rooms ? this.#rooms().roomsOf(this) : new Set();
  }
  /**
   * Closes because the peer broke a limit: `closed` reports the error's
   * `closeCode` (1008 when it has none) and the error. A peer that does not
   * read would never see the close frame, so TCP is dropped a second later
   * (where the engine can drop it).
   */
  fail(error: WebSocketClosingError): void {
    if (this.readyState > 1 || this.#localClose) return;
    const code = error.closeCode ?? CLOSE_POLICY_VIOLATION;
    const reason = error.reason ?? error.message;
    this.#localClose = { code, reason, error };
    const closing = this.#socket.close(code, reason).catch(() => {});
    const drop = setTimeout(() => this.#socket.terminate?.(), 1_000);
    closing.finally(() => clearTimeout(drop));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.readyState < 2) await this.close(CLOSE_NORMAL).catch(() => {});
    await this.closed;
  }
}

function noRooms(): WebSocketTypeError {
  return new WebSocketTypeError(
    "ERR_UNSUPPORTED_BY_ENGINE",
    "Rooms exist on server connections only",
  );
}
