/**
 * Request/reply: the asking side ({@linkcode PendingRequests}: request ids,
 * the pending map, abort wiring) and the answering side
 * ({@linkcode RequestHandlers}: handlers by type, the per-peer bound on
 * requests being answered). No sockets: a reply goes out through whatever
 * {@linkcode ReplyChannel} the caller hands in.
 *
 * @module
 */

import { MeshError, MeshRangeError } from "./errors.ts";
import type { MeshPeer } from "./peer.ts";
import type { MeshRequestHandler } from "./types.ts";
import {
  decodeContent,
  type DecodedReply,
  encodeContent,
  encodeReply,
  messageTooLarge,
  REPLY_BUSY,
  REPLY_ERROR,
  REPLY_NO_HANDLER,
  REPLY_OK,
} from "./_protocol.ts";

interface Pending {
  peer: string;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/** Requests of ours waiting for their REPLY. */
export class PendingRequests {
  #pending = new Map<number, Pending>();
  #nextId = 1;

  /** Requests waiting. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Registers a request to `peer`: returns its id (1 to 2^32-1, wrapping)
   * and the promise of its answer, which rejects with the signal's reason
   * when `signal` aborts first.
   */
  open(peer: string, signal?: AbortSignal): { id: number; answer: Promise<unknown> } {
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const onAbort = () => {
      this.#pending.delete(id);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#pending.set(id, {
      peer,
      resolve: (value) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      },
      reject: (reason) => {
        signal?.removeEventListener("abort", onAbort);
        reject(reason);
      },
    });
    return { id, answer: promise };
  }

  /** Rejects request `id` (its frame could not be sent). */
  fail(id: number, reason: unknown): void {
    this.#pending.get(id)?.reject(reason);
    this.#pending.delete(id);
  }

  /**
   * Settles the request a REPLY from `peer` answers. A reply to no request
   * of ours, or from another peer than the one asked, is ignored.
   *
   * @throws {MeshSyntaxError} when the reply's content is malformed
   */
  settle(peer: string, reply: DecodedReply): void {
    const pending = this.#pending.get(reply.requestId);
    if (!pending || pending.peer !== peer) return;
    this.#pending.delete(reply.requestId);
    const content = decodeContent(reply.enc, reply.body);
    if (reply.status === REPLY_OK) pending.resolve(content);
    else if (reply.status === REPLY_NO_HANDLER) {
      pending.reject(new MeshError("ERR_NO_HANDLER", String(content)));
    } else if (reply.status === REPLY_BUSY) {
      pending.reject(new MeshRangeError("ERR_TOO_MANY_REQUESTS", String(content)));
    } else pending.reject(new MeshError("ERR_REMOTE_HANDLER", String(content)));
  }

  /** Rejects every request to `peer` with `reason()` (its connection is gone). */
  failPeer(peer: string, reason: () => unknown): void {
    for (const [id, request] of this.#pending) {
      if (request.peer !== peer) continue;
      this.#pending.delete(id);
      request.reject(reason());
    }
  }

  /** Rejects every request (the member leaves). */
  failAll(reason: unknown): void {
    for (const [, request] of this.#pending) request.reject(reason);
    this.#pending.clear();
  }
}

/** Where the answers to one peer go (a `Link` is one). */
export interface ReplyChannel {
  /** Whether replies can still be sent. */
  readonly open: boolean;
  /** Requests from this peer being answered right now. */
  handling: number;
  /** Sends a frame. */
  post(frame: Uint8Array): Promise<void>;
}

/** Limits and hooks of {@linkcode RequestHandlers}. */
export interface RequestHandlersOptions {
  /** Requests from one peer answered at once; more get `REPLY_BUSY`. */
  maxRequestsInFlight: number;
  /** Largest answer, in bytes (a larger one becomes an error reply). */
  maxMessageSize: number;
  /** Aborts when the member leaves: handlers see it, and stop being waited for. */
  signal: AbortSignal;
  /** Keeps track of a running handler (the member waits for them when it leaves). */
  track: (task: Promise<unknown>) => void;
}

/** The handlers of `onRequest()` and the answering of REQUEST frames. */
export class RequestHandlers {
  #options: RequestHandlersOptions;
  #handlers = new Map<string, MeshRequestHandler>();

  /** @param options limits and hooks */
  constructor(options: RequestHandlersOptions) {
    this.#options = options;
  }

  /** Sets the handler of `type`; disposing the result removes it (unless replaced since). */
  register(type: string, handler: MeshRequestHandler): Disposable {
    this.#handlers.set(type, handler);
    return {
      [Symbol.dispose]: () => {
        if (this.#handlers.get(type) === handler) this.#handlers.delete(type);
      },
    };
  }

  /**
   * Answers request `requestId` of `type` from `peer` on `channel`.
   *
   * @throws {MeshSyntaxError} when the request's content is malformed
   */
  answer(
    channel: ReplyChannel,
    peer: MeshPeer,
    requestId: number,
    type: string,
    enc: number,
    body: Uint8Array,
  ): void {
    const { maxRequestsInFlight, maxMessageSize, signal, track } = this.#options;
    const handler = this.#handlers.get(type);
    const reply = (status: number, content: unknown) => {
      let encoded;
      try {
        encoded = encodeContent(content);
        if (encoded.body.length > maxMessageSize) {
          throw messageTooLarge(encoded.body.length, maxMessageSize);
        }
      } catch (error) {
        status = REPLY_ERROR;
        encoded = encodeContent(`Answer cannot be sent: ${(error as Error).message}`);
      }
      if (channel.open) channel.post(encodeReply(requestId, status, encoded)).catch(() => {});
    };
    if (!handler) return reply(REPLY_NO_HANDLER, `No handler for request type "${type}"`);
    if (channel.handling >= maxRequestsInFlight) {
      // Bounded per peer: a flood of requests gets quick refusals, not memory.
      return reply(
        REPLY_BUSY,
        `More than maxRequestsInFlight of ${maxRequestsInFlight} requests are being answered`,
      );
    }
    const content = decodeContent(enc, body);
    channel.handling++;
    track(
      (async () => {
        // A handler that never settles must not keep leave() waiting.
        let onAbort: (() => void) | undefined;
        try {
          const aborted = new Promise<never>((_, reject) => {
            onAbort = () => reject(signal.reason);
            if (signal.aborted) onAbort();
            else signal.addEventListener("abort", onAbort, { once: true });
          });
          aborted.catch(() => {});
          reply(REPLY_OK, await Promise.race([handler(content, peer, signal), aborted]));
        } catch (error) {
          reply(REPLY_ERROR, error instanceof Error ? error.message : String(error));
        } finally {
          if (onAbort) signal.removeEventListener("abort", onAbort);
          channel.handling--;
        }
      })(),
    );
  }
}
