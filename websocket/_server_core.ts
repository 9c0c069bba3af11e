/**
 * Server state shared by both engines. Private to the module.
 *
 * @module
 */

import type { RoomTarget } from "../cluster/rooms.ts";
import { SendQueue, type SendQueueLimits } from "../_common/send_queue.ts";
import type { Connection } from "./_connection.ts";
import { delay, type Message } from "./_engine.ts";
import { authorizeProblem, upgradeProblem } from "./_policy.ts";
import { ServerRooms } from "./_rooms.ts";
import type { ServerWebSocketConnection, WebSocketConnection } from "./connection.ts";
import { WebSocketTypeError } from "./errors.ts";
import type { ServeOptions, WebSocketServer } from "./server.ts";

/** How long `close()` waits for peers to answer the close frame before dropping them. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Connections waiting to be iterated: past this many, the closed ones are
 * dropped (a server used only through `connections`/`broadcast` must not grow).
 */
const PRUNE_PENDING_AT = 256;

/**
 * Each connection's fan-out queue (rooms, broadcasts): past these the member
 * is closed with 1013, so one that does not read never grows memory or
 * stalls the others.
 */
export const FAN_OUT_LIMITS: SendQueueLimits = {
  maxMessages: 1024,
  maxBytes: 4 * 1024 * 1024,
  sendTimeout: 0,
};

const fanOutQueues = new WeakMap<Connection, SendQueue<Message>>();
const encoder = new TextEncoder();

/**
 * Offers `data` to each connection's bounded send queue without awaiting
 * any: a member whose queue is full is closed with 1013 ("Try Again Later").
 */
export function fanOut(connections: Iterable<Connection>, data: string | Uint8Array): void {
  const size = typeof data === "string"
    ? (data.length < 256 ? data.length * 3 : encoder.encode(data).length)
    : data.byteLength;
  for (const connection of connections) {
    if (connection.readyState > 1) continue;
    let queue = fanOutQueues.get(connection);
    if (!queue) {
      const target = connection;
      queue = new SendQueue<Message>(FAN_OUT_LIMITS, {
        write: (message) => target.send(message),
        onStall: () => void target.close(1013, "Send queue stalled").catch(() => {}),
      });
      fanOutQueues.set(connection, queue);
    }
    if (queue.offer(data, size) === "full") {
      queue.close();
      void connection.close(1013, "Send queue full").catch(() => {});
    }
  }
}

/** How an engine listens: where, and how to stop listening. */
export interface Listening {
  addr: Deno.NetAddr;
  stop(): Promise<void>;
}

/** Server state shared by both engines: admission, the accept queue, the open set. */
export class ServerCore implements WebSocketServer {
  addr!: Deno.NetAddr;
  readonly finished: Promise<void>;
  #open = new Set<Connection>();
  #opening = 0;
  #queue: Connection[] = [];
  /** Iterators waiting for the next connection (several may iterate; each connection goes to one). */
  #waiting: (() => void)[] = [];
  #closing: Promise<void> | undefined;
  #finished = Promise.withResolvers<void>();
  #listening: Listening | undefined;
  /** Set once the listener stopped: a handshake still "opening" then (a hung authorize) is not waited for. */
  #stopped = false;
  #closeStarted = Promise.withResolvers<void>();
  #options: ServeOptions;
  #rooms: ServerRooms;

  constructor(options: ServeOptions) {
    this.#options = options;
    this.#rooms = new ServerRooms(options.cluster, fanOut);
    this.finished = this.#finished.promise;
  }

  /** Called once the engine listens. */
  listening(listening: Listening): void {
    this.#listening = listening;
    this.addr = listening.addr;
  }

  get isClosing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * The engine-independent checks before a handshake: path, upgrade
   * validity, capacity, authorization. `null` means go ahead.
   */
  async admission(request: Request): Promise<Response | null> {
    const { path, maxConnections = 10_000, authorize, handshakeTimeout = 10_000 } = this.#options;
    if (this.#closing) return new Response("Server is closing", { status: 503 });
    if (path !== undefined && new URL(request.url).pathname !== path) {
      return new Response("Not Found", { status: 404 });
    }
    const problem = upgradeProblem(request);
    if (problem) return problem;
    if (this.#open.size + this.#opening >= maxConnections) {
      return new Response("Too many connections", { status: 503 });
    }
    this.#opening++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A hung authorize() must neither hold the client forever nor block close().
      const denied = await Promise.race([
        authorizeProblem(request, authorize),
        new Promise<Response>((resolve) => {
          timer = setTimeout(
            () => resolve(new Response("Authorization timed out", { status: 503 })),
            handshakeTimeout,
          );
        }),
        this.#closeStarted.promise.then(() => new Response("Server is closing", { status: 503 })),
      ]);
      if (denied) return denied;
    } finally {
      clearTimeout(timer);
      this.#opening--;
    }
    if (this.#closing) return new Response("Server is closing", { status: 503 });
    return null;
  }

  /** Tracks a connection from the handshake on; it is yielded once open. */
  admit(connection: Connection): void {
    connection.useRooms(() => this.#rooms.hub);
    this.#opening++;
    connection.opened.then(() => {
      this.#opening--;
      if (this.#closing) {
        void connection.close(1001, "Server closing").catch(() => {});
        return;
      }
      this.#open.add(connection);
      connection.closed.then(() => this.#open.delete(connection));
      if (this.#queue.length >= PRUNE_PENDING_AT) {
        // Nobody is iterating: keep the open ones (bounded by maxConnections), forget the closed.
        this.#queue = this.#queue.filter((pending) => pending.readyState !== 3);
      }
      this.#queue.push(connection);
      this.#waiting.shift()?.();
    }, () => {
      this.#opening--;
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ServerWebSocketConnection> {
    while (true) {
      const next = this.#queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.#closing) return;
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiting.push(resolve);
      await promise;
    }
  }

  get connections(): ServerWebSocketConnection[] {
    return [...this.#open];
  }

  async broadcast(data: string | Uint8Array): Promise<void> {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new WebSocketTypeError("ERR_INVALID_DATA", "Data must be a string or a Uint8Array");
    }
    await Promise.all(
      [...this.#open].map((connection) =>
        connection.readyState === 1 ? connection.send(data as Message).catch(() => {}) : undefined
      ),
    );
  }

  to(room: string): RoomTarget<WebSocketConnection> {
    return this.#rooms.hub.to(room) as RoomTarget<WebSocketConnection>;
  }

  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    this.#closeStarted.resolve();
    this.#wakeAll();
    // Close frames first: stopping the listener may cut upgraded connections (native engine).
    const closing = async () => {
      while (this.#opening > 0 && !this.#stopped) await delay(5);
      const open = [...this.#open, ...this.#queue];
      this.#queue.length = 0;
      await Promise.all(
        open.map((connection) => connection.close(1001, "Server closing").catch(() => {})),
      );
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      closing(),
      new Promise((resolve) => timer = setTimeout(resolve, CLOSE_GRACE_MS)),
    ]);
    clearTimeout(timer);
    this.#stopped = true;
    await this.#listening?.stop();
    await this.#rooms.close();
    this.#wakeAll();
    this.#finished.resolve();
  }

  #wakeAll(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
