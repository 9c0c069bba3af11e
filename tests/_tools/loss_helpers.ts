/**
 * Shared pieces of the ENet loss tests: the bad network of issue 5, numbered
 * messages and their order check, big deterministic payloads.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ImpairmentOptions } from "./udp_impair.ts";

/** The bad network of issue 5. */
export const BAD_NETWORK: Omit<ImpairmentOptions, "target"> = {
  loss: 0.1,
  duplicate: 0.05,
  reorder: 0.1,
  delay: 20,
  jitter: 10,
};

/** A message: u32 channel-local serial, u32 global serial, then filler. */
export function message(serial: number, index: number, size = 24): Uint8Array {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, serial);
  view.setUint32(4, index);
  for (let i = 8; i < size; i++) bytes[i] = (index + i) & 0xFF;
  return bytes;
}

/** Deterministic 1 MB payload. */
export function bigPayload(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = seed >>> 0;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/** Checks per-channel order and completeness of received `message()`s. */
export function checkOrdered(
  received: { channelID: number; data: Uint8Array }[],
  expected: number[],
): void {
  const next = expected.map(() => 0);
  for (const { channelID, data } of received) {
    const serial = new DataView(data.buffer, data.byteOffset).getUint32(0);
    assert.equal(
      serial,
      next[channelID],
      `channel ${channelID}: got ${serial}, expected ${next[channelID]}`,
    );
    next[channelID]++;
  }
  assert.deepEqual(next, expected);
}
