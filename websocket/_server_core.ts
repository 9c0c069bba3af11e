/**
 * Server state shared by both engines. Private to the module.
 *
 * @module
 */

import { CLOSE_GOING_AWAY, CLOSE_POLICY_VIOLATION } from "./_frame.ts";
import type { RoomTarget } from "../cluster/rooms.ts";
import { SendQueue } from "../_common/send_queue.ts";
import type { Connection } from "./_connection.ts";
import { delay } from "../_common/delay.ts";
import { DEFAULT_SEND_TIMEOUT, messageSize } from "./_engine.ts";
import { authorizeProblem, isUpgradeRequest, originProblem, upgradeProblem } from "./_policy.ts";
import { ServerRooms } from "./_rooms.ts";
import { FanOutMessage } from "./_sender.ts";
import type { ServerWebSocketConnection, WebSocketConnection } from "./connection.ts";
import { WebSocketRangeError, WebSocketTypeError } from "./errors.ts";
import type { ServeOptions, WebSocketServer } from "./options.ts";

/** How long `close()` waits for peers to answer the close frame before dropping them. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Connections waiting to be iterated: past this many, the closed ones are
 * dropped (a server used only through `connections`/`broadcast` must not grow).
 */
const PRUNE_PENDING_AT = 256;

/** Default fan-out queue limits per connection (see `ServeOptions`). */
export const DEFAULT_SEND_QUEUE_MESSAGES = 1024;
export const DEFAULT_SEND_QUEUE_BYTES = 1024 * 1024;

/** The fan-out limits of one server (or the defaults, for `handleUpgrade()` rooms). */
export type FanOutSettings = Pick<
  ServeOptions,
  "sendQueueMessages" | "sendQueueBytes" | "sendTimeout" | "sendQueueOverflow"
>;

/** Each connection's fan-out queue, made at its first fan-out. */
const fanOutQueues = new WeakMap<Connection, SendQueue<FanOutMessage>>();

/**
 * Offers `data` to the bounded send queue of every open connection in
 * `connections` and returns without waiting for any of them (`broadcast()`
 * and room delivery use it). A full queue applies `sendQueueOverflow` (close
 * with 1008 `ERR_SEND_QUEUE_FULL`, or skip the message for that connection);
 * a queued message the connection does not accept within `sendTimeout`
 * closes it with 1008 `ERR_SEND_TIMEOUT`.
 */
export function fanOut(
  connections: Iterable<Connection>,
  data: string | Uint8Array,
  settings: FanOutSettings = {},
): void {
  const size = messageSize(data);
  // Encoded and framed once for every member (lazily, by the first that needs it).
  const message = new FanOutMessage(data);
  for (const connection of connections) {
    if (connection.readyState !== 1) continue;
    const queue = fanOutQueues.get(connection) ?? queueOf(connection, settings);
    if (queue.offer(message, size) !== "full") continue;
    if ((settings.sendQueueOverflow ?? "close") === "close") {
      queue.close();
      connection.fail(
        new WebSocketRangeError(
          "ERR_SEND_QUEUE_FULL",
          "Send queue full: the peer does not read fast enough",
          { closeCode: CLOSE_POLICY_VIOLATION, limit: settings.sendQueueBytes },
        ),
      );
    }
  }
}

function queueOf(connection: Connection, settings: FanOutSettings): SendQueue<FanOutMessage> {
  const {
    sendQueueMessages = DEFAULT_SEND_QUEUE_MESSAGES,
    sendQueueBytes = DEFAULT_SEND_QUEUE_BYTES,
    sendTimeout = DEFAULT_SEND_TIMEOUT,
  } = settings;
  const queue = new SendQueue<FanOutMessage>({
    maxMessages: sendQueueMessages,
    maxBytes: sendQueueBytes,
    sendTimeout,
  }, {
    write: (message) => connection.send(message.data),
    writeNow: (message) => connection.sendMessage(message),
    onStall: () =>
      connection.fail(
        new WebSocketRangeError(
          "ERR_SEND_TIMEOUT",
          `Send timed out after ${sendTimeout} ms: the peer does not read`,
          { closeCode: CLOSE_POLICY_VIOLATION, limit: sendTimeout },
        ),
      ),
  });
  fanOutQueues.set(connection, queue);
  connection.closed.then(() => queue.close());
  return queue;
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
    this.#rooms = new ServerRooms(options.cluster, (members, data) => this.fanOut(members, data));
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
    const { path, maxConnections = 10_000, authorize, fallback, allowedOrigins } = this.#options;
    if (this.#closing) return new Response("Server is closing", { status: 503 });
    if (fallback !== undefined && !isUpgradeRequest(request)) return await this.#answer(request);
    if (path !== undefined && new URL(request.url).pathname !== path) {
      return new Response("Not Found", { status: 404 });
    }
    const problem = upgradeProblem(request) ?? originProblem(request, allowedOrigins);
    if (problem) return problem;
    if (this.#open.size + this.#opening >= maxConnections) {
      return new Response("Too many connections", { status: 503 });
    }
    this.#opening++;
    try {
      // A hung authorize() must neither hold the client forever nor block close().
      const denied = await this.#bounded(authorizeProblem(request, authorize), "Authorization");
      if (denied) return denied;
    } finally {
      this.#opening--;
    }
    if (this.#closing) return new Response("Server is closing", { status: 503 });
    return null;
  }

  /** The `fallback` answer to a plain HTTP request (never `null`: no upgrade follows). */
  async #answer(request: Request): Promise<Response> {
    const length = request.headers.get("content-length");
    if ((length !== null && length.trim() !== "0") || request.headers.has("transfer-encoding")) {
      return new Response("Request bodies are not accepted", { status: 413 });
    }
    const answering = (async () => {
      try {
        return await this.#options.fallback!(request);
      } catch {
        return new Response("Internal Server Error", { status: 500 });
      }
    })();
    return await this.#bounded(answering, "Answer") ?? new Response(null, { status: 204 });
  }

  /** `work`, or a 503 once `handshakeTimeout` passed or the server started closing. */
  async #bounded(
    work: Promise<Response | null>,
    what: string,
  ): Promise<Response | null> {
    const { handshakeTimeout = 10_000 } = this.#options;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        work,
        new Promise<Response>((resolve) => {
          timer = setTimeout(
            () => resolve(new Response(`${what} timed out`, { status: 503 })),
            handshakeTimeout,
          );
        }),
        this.#closeStarted.promise.then(() => new Response("Server is closing", { status: 503 })),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Tracks a connection from the handshake on; it is yielded once open. */
  admit(connection: Connection): void {
    connection.useRooms(() => this.#rooms.hub);
    this.#opening++;
    connection.opened.then(() => {
      this.#opening--;
      if (this.#closing) {
        void connection.close(CLOSE_GOING_AWAY, "Server closing").catch(() => {});
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

  broadcast(data: string | Uint8Array): Promise<void> {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      return Promise.reject(
        new WebSocketTypeError("ERR_INVALID_DATA", "Data must be a string or a Uint8Array"),
      );
    }
    this.fanOut(this.#open, data);
    return Promise.resolve();
  }

  /**
   * Offers `data` to the bounded send queue of every open connection in
   * `connections` and returns without waiting for any of them (internal:
   * `broadcast()` and room delivery use it), with this server's limits.
   */
  fanOut(connections: Iterable<Connection>, data: string | Uint8Array): void {
    fanOut(connections, data, this.#options);
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
        open.map((connection) =>
          connection.close(CLOSE_GOING_AWAY, "Server closing").catch(() => {})
        ),
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
