/**
 * The connection handshake, HELLO → ACK → PROOF → READY, on both sides,
 * with the MAC set-up when a secret is in use:
 *
 * ```
 * dialer                                   acceptor
 *   HELLO {v,id,name,host,port,nonce,auth,to?}  →
 *                  ←  ACK proof(acceptor, HELLO, ACK) {id,name,host,port,nonce}
 *   PROOF proof(dialer, HELLO, ACK)             →
 *                  ←  READY                      (or REJECT {code,message} at any step)
 * ```
 *
 * Who may join is not decided here: the acceptor asks its `admit()` and
 * `confirm()` callbacks, the dialer its `nameFree()` callback. The clock
 * and the timers are injected; the connection is anything with the shape of
 * a `framed/` connection, so an in-memory pair works as well as a socket.
 *
 * @module
 */

import { equalBytes } from "../_common/bytes.ts";
import { frameKey, FrameMac, handshakeProof, newNonce } from "./_auth.ts";
import { MeshError, MeshSyntaxError } from "./errors.ts";
import { destroyConnection, readFrame } from "./_link.ts";
import {
  type Ack,
  decodeJsonBody,
  decodeReject,
  encodeAckFrame,
  encodeHelloFrame,
  encodeProofFrame,
  encodeReject,
  encodeSignal,
  endsJoin,
  type Hello,
  isAck,
  isHello,
  KIND_ACK,
  KIND_HELLO,
  KIND_PROOF,
  KIND_READY,
  KIND_REJECT,
  MAX_HANDSHAKE_SIZE,
  PROOF_SIZE,
  PROTOCOL_VERSION,
  type Reject,
  type RejectCode,
  utf8,
} from "./_protocol.ts";

/** What the handshake needs of a connection (a `framed/` connection of bytes has it). */
export interface HandshakeConnection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly remoteAddr: Deno.NetAddr;
  send(frame: Uint8Array): Promise<void>;
}

/** The handshake refused by the other side (or found it must refuse). */
export class Refusal extends Error {
  /** @param reject the code and message */
  constructor(readonly reject: Reject) {
    super(reject.message);
  }
}

/** The join error for a refusal that ends a join (name taken, wrong secret or version). */
export function joinEnding(error: unknown): MeshError | undefined {
  if (!(error instanceof Refusal) || !endsJoin(error.reject.code)) return undefined;
  return new MeshError(error.reject.code, String(error.reject.message));
}

/** A refusal to send: code and message. */
export interface Rejection {
  code: RejectCode;
  message: string;
}

/** Who this member is, its secret, and the clock. */
export interface HandshakeEnv {
  id: string;
  name: string;
  /** Advertised host ("" to let the peer use the address it sees). */
  host: string;
  port: number;
  secret?: string;
  /** Milliseconds a handshake may take. */
  timeout: number;
  /** The clock (`performance.now()` in a mesh). */
  now: () => number;
  /** Runs `fn` after `ms`; returns the cancel function. */
  after: (ms: number, fn: () => void) => () => void;
  /** Keeps track of a background task. */
  track: (task: Promise<unknown>) => void;
}

/** The outcome of a completed handshake. */
export interface Handshaken {
  /** The peer, as it introduced itself (`host` resolved to what it connects from when ""). */
  peer: { id: string; name: string; host: string; port: number };
  /** The reader of the connection, positioned after the handshake. */
  reader: ReadableStreamDefaultReader<Uint8Array>;
  sendMac?: FrameMac;
  receiveMac?: FrameMac;
}

/** The acceptor's membership decisions. */
export interface AcceptHooks {
  /** Whether this handshake still holds its slot (a flood may evict it). */
  holdsSlot: () => boolean;
  /** Whether this member is leaving. */
  isClosed: () => boolean;
  /** Decides on a HELLO (and reserves its id): a refusal, or undefined to go on. */
  admit: (hello: Hello) => Rejection | undefined;
  /** The last word after the PROOF: a refusal, or undefined to send READY. */
  confirm: (hello: Hello) => Rejection | undefined;
}

/** The dialer's membership decisions. */
export interface DialHooks {
  /** Whether this member is leaving. */
  isClosed: () => boolean;
  /** Whether no live member other than `id` holds `name`. */
  nameFree: (name: string, id: string) => boolean;
}

/** Runs handshakes for one member. */
export class Handshaker {
  #env: HandshakeEnv;

  /** @param env who this member is, its secret and clock */
  constructor(env: HandshakeEnv) {
    this.#env = env;
  }

  /** Sends a REJECT and closes the connection shortly after (so the refusal gets out first). */
  refuse(
    conn: HandshakeConnection,
    code: RejectCode,
    message: string,
    extra: object = {},
  ): undefined {
    send(conn, encodeReject(code, message, extra));
    // Give the refusal a moment to leave before the socket goes.
    const cancel = this.#env.after(200, () => destroyConnection(conn));
    this.#env.track(conn.closed.finally(cancel));
    return undefined;
  }

  /**
   * The acceptor's side. Resolves to the handshaken peer, or `undefined`
   * when the handshake ended without one (refused, evicted, hung up).
   * Rejects on a protocol violation, a refusal by the dialer or a timeout.
   */
  async accept(conn: HandshakeConnection, hooks: AcceptHooks): Promise<Handshaken | undefined> {
    const env = this.#env;
    const deadline = env.now() + env.timeout;
    const reader = conn.readable.getReader();
    const helloFrame = await this.#withTimeout(readFrame(reader), conn, deadline);
    if (!hooks.holdsSlot() || !helloFrame) return; // dropped, or hung up
    if (helloFrame[0] !== KIND_HELLO) {
      throw new MeshSyntaxError("ERR_INVALID_FRAME", "Expected HELLO");
    }
    const hello = decodeJsonBody(helloFrame, 1, MAX_HANDSHAKE_SIZE);
    if (!isHello(hello)) return this.refuse(conn, "ERR_INVALID_FRAME", "Malformed HELLO");
    if (hello.v !== PROTOCOL_VERSION) {
      return this.refuse(
        conn,
        "ERR_PROTOCOL_VERSION",
        `Protocol version ${hello.v} is not supported (want ${PROTOCOL_VERSION})`,
      );
    }
    if (Boolean(hello.auth) !== (env.secret !== undefined)) {
      return this.refuse(conn, "ERR_BAD_SECRET", "Secret does not match");
    }
    if (hooks.isClosed()) return this.refuse(conn, "ERR_MESH_CLOSED", "Member is leaving");
    if (hello.id === env.id) return this.refuse(conn, "ERR_SELF", "Connected to itself");
    if (hello.to !== undefined && hello.to !== env.id) {
      return this.refuse(conn, "ERR_WRONG_PEER", "Another member lives at this address", {
        id: env.id,
      });
    }
    if (hello.name === env.name) {
      return this.refuse(conn, "ERR_NAME_TAKEN", `Name "${hello.name}" is already taken`);
    }
    const host = hello.host === "" ? conn.remoteAddr.hostname : hello.host;
    const refusal = hooks.admit(hello);
    if (refusal) return this.refuse(conn, refusal.code, refusal.message);
    const ack: Ack = {
      id: env.id,
      name: env.name,
      host: env.host,
      port: env.port,
      nonce: newNonce(),
    };
    const ackJson = utf8(JSON.stringify(ack));
    const helloJson = helloFrame.subarray(1);
    const proof = env.secret
      ? handshakeProof(env.secret, "acceptor", helloJson, ackJson)
      : new Uint8Array(PROOF_SIZE);
    send(conn, encodeAckFrame(proof, ackJson));
    const proofFrame = await this.#withTimeout(readFrame(reader), conn, deadline);
    if (!hooks.holdsSlot()) return;
    if (!proofFrame) throw new Error("Closed during handshake");
    if (proofFrame[0] === KIND_REJECT) throw new Refusal(decodeReject(proofFrame));
    if (proofFrame[0] !== KIND_PROOF || proofFrame.length !== 1 + PROOF_SIZE) {
      throw new MeshSyntaxError("ERR_INVALID_FRAME", "Expected PROOF");
    }
    let sendMac: FrameMac | undefined;
    let receiveMac: FrameMac | undefined;
    if (env.secret) {
      const expected = handshakeProof(env.secret, "dialer", helloJson, ackJson);
      if (!equalBytes(expected, proofFrame.subarray(1))) {
        return this.refuse(conn, "ERR_BAD_SECRET", "Secret does not match");
      }
      sendMac = new FrameMac(frameKey(env.secret, "acceptor-to-dialer", helloJson, ackJson));
      receiveMac = new FrameMac(frameKey(env.secret, "dialer-to-acceptor", helloJson, ackJson));
    }
    if (hooks.isClosed()) return this.refuse(conn, "ERR_MESH_CLOSED", "Member is leaving");
    const last = hooks.confirm(hello);
    if (last) return this.refuse(conn, last.code, last.message);
    send(conn, encodeSignal(KIND_READY));
    return {
      peer: { id: hello.id, name: hello.name, host, port: hello.port },
      reader,
      sendMac,
      receiveMac,
    };
  }

  /**
   * The dialer's side, on a connection to `hostname` (expecting member `to`
   * there, when given). Resolves to the handshaken peer; rejects with a
   * {@linkcode Refusal} when refused, or on a protocol violation or a
   * timeout.
   */
  async dial(
    conn: HandshakeConnection,
    hostname: string,
    to: string | undefined,
    hooks: DialHooks,
  ): Promise<Handshaken> {
    const env = this.#env;
    const reader = conn.readable.getReader();
    const hello: Hello = {
      v: PROTOCOL_VERSION,
      id: env.id,
      name: env.name,
      host: env.host,
      port: env.port,
      nonce: newNonce(),
      auth: env.secret !== undefined,
      ...(to ? { to } : {}),
    };
    const helloFrame = encodeHelloFrame(hello);
    send(conn, helloFrame);
    const deadline = env.now() + env.timeout;
    const answer = await this.#withTimeout(readFrame(reader), conn, deadline);
    if (!answer) throw new Error("Closed during handshake");
    if (answer[0] === KIND_REJECT) throw new Refusal(decodeReject(answer));
    if (answer[0] !== KIND_ACK || answer.length < 1 + PROOF_SIZE) throw new Error("Expected ACK");
    const ackJson = answer.subarray(1 + PROOF_SIZE);
    const ack = decodeJsonBody(ackJson, 0, MAX_HANDSHAKE_SIZE);
    if (!isAck(ack)) throw new MeshSyntaxError("ERR_INVALID_FRAME", "Malformed ACK");
    const helloJson = helloFrame.subarray(1);
    let sendMac: FrameMac | undefined;
    let receiveMac: FrameMac | undefined;
    let proof: Uint8Array = new Uint8Array(PROOF_SIZE);
    if (env.secret) {
      const expected = handshakeProof(env.secret, "acceptor", helloJson, ackJson);
      if (!equalBytes(expected, answer.subarray(1, 1 + PROOF_SIZE))) {
        this.refuse(conn, "ERR_BAD_SECRET", "Secret does not match");
        throw new Refusal({ code: "ERR_BAD_SECRET", message: "Member could not prove the secret" });
      }
      proof = handshakeProof(env.secret, "dialer", helloJson, ackJson);
      sendMac = new FrameMac(frameKey(env.secret, "dialer-to-acceptor", helloJson, ackJson));
      receiveMac = new FrameMac(frameKey(env.secret, "acceptor-to-dialer", helloJson, ackJson));
    }
    if (ack.id === env.id) throw new Refusal({ code: "ERR_SELF", message: "Dialled itself" });
    if (!hooks.nameFree(ack.name, ack.id)) {
      this.refuse(conn, "ERR_NAME_TAKEN", `Name "${ack.name}" is already taken`);
      throw new Refusal({ code: "ERR_DUPLICATE_NAME", message: "Two live members share a name" });
    }
    send(conn, encodeProofFrame(proof));
    const ready = await this.#withTimeout(readFrame(reader), conn, deadline);
    if (!ready) throw new Error("Closed during handshake");
    if (ready[0] === KIND_REJECT) throw new Refusal(decodeReject(ready));
    if (ready[0] !== KIND_READY) throw new Error("Expected READY");
    if (hooks.isClosed()) throw new Error("Leaving");
    const host = ack.host === "" ? hostname : ack.host;
    return {
      peer: { id: ack.id, name: ack.name, host, port: ack.port },
      reader,
      sendMac,
      receiveMac,
    };
  }

  /** Races `promise` against the handshake's deadline; at the deadline the connection goes. */
  async #withTimeout<T>(
    promise: Promise<T>,
    conn: HandshakeConnection,
    deadline: number,
  ): Promise<T> {
    let cancel: (() => void) | undefined;
    const timeout = new Promise<never>((_, reject) => {
      cancel = this.#env.after(Math.max(0, deadline - this.#env.now()), () => {
        destroyConnection(conn);
        reject(new DOMException("Handshake timed out", "TimeoutError"));
      });
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      cancel?.();
    }
  }
}

function send(conn: HandshakeConnection, frame: Uint8Array): void {
  conn.send(frame).catch(() => {});
}
