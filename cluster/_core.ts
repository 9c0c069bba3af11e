/**
 * The engine-independent part of a cluster connection: framing, duplicate
 * suppression, per-subject listener sets, the bounded publish buffer while
 * the engine is away, and subscriptions as async iterables. Private.
 *
 * @module
 */

import type { Engine, EngineEvents, EngineName } from "./_engine.ts";
import { checkSubject, type ClusterSettings, dataBytes } from "./_settings.ts";
import { decodeFrame, encodeFrame, type Frame } from "./_wire.ts";
import { ClusterError, ClusterRangeError } from "./errors.ts";
import type { Cluster, ClusterMessage, ClusterSubscription } from "./types.ts";
import type { KvStore } from "./_store.ts";
import { DirectoryImpl } from "./_directory.ts";
import { Listener } from "./_listener.ts";
import type { Directory, DirectoryOptions } from "./directory.ts";

/**
 * Milliseconds between a reconnect and the flush of held publishes, so that
 * the other servers (which reconnect on their own schedule: NATS retries
 * every 250 ms + jitter, Redis backs off to 500 ms) have resubscribed.
 */
export const RESUME_SETTLE_MS = 600;

interface Held {
  subject: string;
  frame: Uint8Array;
  resolve(): void;
  reject(error: unknown): void;
}

const decoder = new TextDecoder();

/** A cluster connection over any engine. */
export class ClusterCore implements Cluster, EngineEvents {
  readonly nodeId: string;
  readonly engine: EngineName;
  readonly settings: ClusterSettings;
  #engine: Engine | undefined;
  #up = true;
  #closed = false;
  #closing: Promise<void> | undefined;
  #seq = 0;
  #listeners = new Map<string, Set<Listener>>();
  /** Per subject: the engine (un)subscribe calls, one after the other. */
  #chains = new Map<string, Promise<void>>();
  #held: Held[] = [];
  #heldBytes = 0;
  #flushing = false;
  #settleTimer: ReturnType<typeof setTimeout> | undefined;
  #statusWatchers = new Set<(up: boolean) => void>();
  #closeWatchers = new Set<() => void | Promise<void>>();
  #directories = new Map<string, DirectoryImpl>();

  constructor(engine: EngineName, nodeId: string, settings: ClusterSettings) {
    this.engine = engine;
    this.nodeId = nodeId;
    this.settings = settings;
  }

  /** Called once the engine is connected. */
  attach(engine: Engine): void {
    this.#engine = engine;
  }

  get connected(): boolean {
    return this.#up && !this.#closed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // EngineEvents
  message(subject: string, payload: Uint8Array): void {
    const listeners = this.#listeners.get(subject);
    if (!listeners || listeners.size === 0) return;
    const frame = decodeFrame(payload);
    if (!frame) return;
    for (const listener of listeners) listener.deliver(frame);
  }

  status(up: boolean): void {
    if (this.#closed || up === this.#up) return;
    this.#up = up;
    clearTimeout(this.#settleTimer);
    if (up) this.#settleTimer = setTimeout(() => this.#flush(), RESUME_SETTLE_MS);
    for (const watcher of this.#statusWatchers) watcher(up);
  }

  /** Calls `watcher` on every engine status change until the returned function is called. */
  watchStatus(watcher: (up: boolean) => void): () => void {
    this.#statusWatchers.add(watcher);
    return () => this.#statusWatchers.delete(watcher);
  }

  /**
   * Calls `watcher` once when the cluster closes, while publishing still
   * works; a returned promise is awaited (a directory deletes its entries).
   */
  onClose(watcher: () => void | Promise<void>): () => void {
    this.#closeWatchers.add(watcher);
    return () => this.#closeWatchers.delete(watcher);
  }

  /** Adds a listener on `subject`; resolves once the engine subscription is active. */
  listen(subject: string, listener: Listener): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    let listeners = this.#listeners.get(subject);
    if (!listeners) this.#listeners.set(subject, listeners = new Set());
    const first = listeners.size === 0;
    listeners.add(listener);
    if (first) return this.#chain(subject, () => this.#engine!.subscribe(subject));
    return this.#chains.get(subject) ?? Promise.resolve();
  }

  /** Removes a listener; the engine unsubscribes when it was the subject's last. */
  unlisten(subject: string, listener: Listener): Promise<void> {
    const listeners = this.#listeners.get(subject);
    if (!listeners?.delete(listener) || listeners.size > 0) return Promise.resolve();
    this.#listeners.delete(subject);
    if (this.#closed) return Promise.resolve();
    return this.#chain(subject, async () => {
      // A listener that came back meanwhile keeps the engine subscription.
      if (!this.#listeners.has(subject)) await this.#engine!.unsubscribe(subject);
    });
  }

  #chain(subject: string, step: () => Promise<void>): Promise<void> {
    const previous = this.#chains.get(subject) ?? Promise.resolve();
    const next = previous.then(step).catch(() => {
      // Engine away: it resubscribes every subject it knows on reconnect.
    });
    this.#chains.set(subject, next);
    next.then(() => {
      if (this.#chains.get(subject) === next) this.#chains.delete(subject);
    });
    return next;
  }

  /**
   * Publishes an already framed payload. `hold` says whether to buffer it
   * while the engine is away (otherwise it is dropped: presence heals itself).
   */
  publishFrame(subject: string, frame: Uint8Array, hold = true): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#up && this.#held.length === 0) {
      return this.#engine!.publish(subject, frame).catch((error) => {
        if (!hold) return;
        throw new ClusterError(
          "ERR_ENGINE_UNAVAILABLE",
          `The ${this.engine} engine refused the publish: ${(error as Error).message}`,
          { cause: error },
        );
      });
    }
    if (!hold) return Promise.resolve();
    const { bufferMessages, bufferBytes } = this.settings;
    if (this.#held.length >= bufferMessages || this.#heldBytes + frame.length > bufferBytes) {
      return Promise.reject(
        new ClusterError(
          "ERR_ENGINE_UNAVAILABLE",
          `The ${this.engine} engine is away and ${this.#held.length} messages (${this.#heldBytes} bytes) are held already`,
        ),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#held.push({ subject, frame, resolve, reject });
    this.#heldBytes += frame.length;
    return promise;
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#up && !this.#closed && this.#held.length > 0) {
        const held = this.#held[0];
        try {
          await this.#engine!.publish(held.subject, held.frame);
        } catch {
          if (!this.#up || this.#closed) return; // held again until the next reconnect
          // The engine refused this one message while up: it fails alone.
          held.reject(
            new ClusterError("ERR_ENGINE_UNAVAILABLE", `The ${this.engine} engine refused it`),
          );
        }
        this.#held.shift();
        this.#heldBytes -= held.frame.length;
        held.resolve();
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Sequence numbers of this node's own publishes. */
  nextSeq(): number {
    return ++this.#seq;
  }

  publish(subject: string, data: string | Uint8Array): Promise<void> {
    try {
      checkSubject(subject);
      const { bytes, text } = dataBytes(data, this.settings.maxMessageSize);
      return this.publishFrame(subject, encodeFrame(this.nodeId, this.nextSeq(), text, bytes));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  subscribe(subject: string, options: { signal?: AbortSignal } = {}): ClusterSubscription {
    checkSubject(subject);
    if (this.#closed) throw closedError();
    return new Subscription(this, subject, options.signal);
  }

  /** Opens the engine's key/value store `name`. */
  openStore(name: string): Promise<KvStore> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#engine!.store(name);
  }

  directory(name: string, options: DirectoryOptions = {}): Directory {
    if (this.#closed) throw closedError();
    let directory = this.#directories.get(name);
    if (!directory) {
      directory = new DirectoryImpl(this, name, options);
      this.#directories.set(name, directory);
    }
    return directory;
  }

  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    // Watchers first, while publishing still works: room hubs say goodbye.
    const goodbyes = [...this.#closeWatchers].map((watcher) => watcher());
    await Promise.all(goodbyes);
    this.#closed = true;
    clearTimeout(this.#settleTimer);
    for (const held of this.#held.splice(0)) held.reject(closedError());
    this.#heldBytes = 0;
    this.#listeners.clear();
    await Promise.all(this.#chains.values());
    await this.#engine?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function closedError(): ClusterError {
  return new ClusterError("ERR_CLUSTER_CLOSED", "The cluster connection is closed");
}

class Subscription implements ClusterSubscription {
  readonly subject: string;
  readonly ready: Promise<void>;
  #core: ClusterCore;
  #listener: Listener;
  #queue: ClusterMessage[] = [];
  #head = 0;
  #waiting: (() => void) | undefined;
  #ended = false;
  #error: unknown;
  #stopClose: () => void;
  #signal: AbortSignal | undefined;
  #onAbort = () => void this.unsubscribe();

  constructor(core: ClusterCore, subject: string, signal?: AbortSignal) {
    this.#core = core;
    this.subject = subject;
    this.#listener = new Listener((frame) => this.#push(frame));
    this.ready = core.listen(subject, this.#listener);
    this.#stopClose = core.onClose(() => this.#end());
    this.#signal = signal;
    if (signal?.aborted) void this.unsubscribe();
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  #push(frame: Frame): void {
    if (this.#ended) return;
    if (this.#queue.length - this.#head >= this.#core.settings.maxPending) {
      this.#error = new ClusterRangeError(
        "ERR_SUBSCRIPTION_OVERFLOW",
        `More than ${this.#core.settings.maxPending} messages on "${this.subject}" were left unread`,
      );
      void this.unsubscribe();
      return;
    }
    this.#queue.push({
      subject: this.subject,
      data: frame.text ? decoder.decode(frame.payload) : new Uint8Array(frame.payload),
      nodeId: frame.origin,
    });
    const wake = this.#waiting;
    this.#waiting = undefined;
    wake?.();
  }

  #end(): void {
    this.#ended = true;
    this.#stopClose();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const wake = this.#waiting;
    this.#waiting = undefined;
    wake?.();
  }

  unsubscribe(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    this.#end();
    return this.#core.unlisten(this.subject, this.#listener);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ClusterMessage> {
    try {
      while (true) {
        if (this.#head < this.#queue.length) {
          const message = this.#queue[this.#head];
          this.#queue[this.#head++] = undefined as unknown as ClusterMessage;
          if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
            this.#queue = this.#queue.slice(this.#head);
            this.#head = 0;
          }
          yield message;
          continue;
        }
        if (this.#error) throw this.#error;
        if (this.#ended) return;
        const { promise, resolve } = Promise.withResolvers<void>();
        this.#waiting = resolve;
        await promise;
      }
    } finally {
      await this.unsubscribe();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.unsubscribe();
  }
}
