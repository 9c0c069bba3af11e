/**
 * Shared-secret authentication: handshake proofs bound to the transcript, and
 * per-direction frame keys, all HMAC-SHA256 (synchronous `node:crypto`, which
 * is far cheaper per frame than the async WebCrypto API).
 *
 * @module
 */

import { createHmac, randomBytes } from "node:crypto";
import { equalBytes } from "../_common/bytes.ts";
import { MAC_SIZE, NONCE_SIZE } from "./_protocol.ts";

const encoder = new TextEncoder();

/** A fresh random nonce, base64. */
export function newNonce(): string {
  return randomBytes(NONCE_SIZE).toString("base64");
}

/** A fresh random member id (16 bytes, hex). */
export function newMemberId(): string {
  return randomBytes(16).toString("hex");
}

function hmac(key: Uint8Array | string, ...parts: Uint8Array[]): Uint8Array {
  const mac = createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  return new Uint8Array(mac.digest());
}

/**
 * Proof that one side of the handshake knows the secret: HMAC over a role
 * label and the HELLO and ACK bodies (ids, names, addresses and both nonces),
 * so a proof cannot be replayed on another connection or in the other role.
 */
export function handshakeProof(
  secret: string,
  role: "acceptor" | "dialer",
  hello: Uint8Array,
  ack: Uint8Array,
): Uint8Array {
  return hmac(
    secret,
    encoder.encode(`netkit-mesh/proof/${role}\0`),
    hello,
    new Uint8Array([0]),
    ack,
  );
}

/** Frame key for one direction of a connection. */
export function frameKey(
  secret: string,
  direction: "dialer-to-acceptor" | "acceptor-to-dialer",
  hello: Uint8Array,
  ack: Uint8Array,
): Uint8Array {
  return hmac(
    secret,
    encoder.encode(`netkit-mesh/key/${direction}\0`),
    hello,
    new Uint8Array([0]),
    ack,
  );
}

/** Authenticates frames in one direction with a running sequence number. */
export class FrameMac {
  #key: Uint8Array;
  #seq = 0n;
  #seqBytes = new Uint8Array(8);
  #seqView = new DataView(this.#seqBytes.buffer);

  constructor(key: Uint8Array) {
    this.#key = key;
  }

  #tag(frame: Uint8Array): Uint8Array {
    this.#seqView.setBigUint64(0, this.#seq++);
    return hmac(this.#key, this.#seqBytes, frame).subarray(0, MAC_SIZE);
  }

  /** The frame followed by its tag. */
  seal(frame: Uint8Array): Uint8Array {
    const sealed = new Uint8Array(frame.length + MAC_SIZE);
    sealed.set(frame);
    sealed.set(this.#tag(frame), frame.length);
    return sealed;
  }

  /** The frame without its tag, or `undefined` when the tag does not verify. */
  open(sealed: Uint8Array): Uint8Array | undefined {
    if (sealed.length <= MAC_SIZE) return undefined;
    const frame = sealed.subarray(0, sealed.length - MAC_SIZE);
    return equalBytes(this.#tag(frame), sealed.subarray(sealed.length - MAC_SIZE))
      ? frame
      : undefined;
  }
}
