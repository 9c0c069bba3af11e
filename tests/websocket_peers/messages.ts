/**
 * Reading helpers the websocket tests share.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { WebSocketConnection } from "../../websocket/mod.ts";
import { deadline } from "../_loopback.ts";

/** The next message of `conn` (within 10 s), releasing the reader afterwards. */
export async function nextMessage(conn: WebSocketConnection): Promise<string | Uint8Array> {
  const reader = conn.readable.getReader();
  try {
    const { value, done } = await deadline(reader.read(), 10_000, "a message");
    assert.equal(done, false, "connection ended before a message arrived");
    return value!;
  } finally {
    reader.releaseLock();
  }
}

/**
 * Sends with `send(i)` (at most `max` times) until one send has not resolved
 * after `stallMs`: backpressure reached. Returns how many sends resolved and
 * the stalled one (`undefined` when every send resolved).
 */
export async function sendUntilStalled(
  send: (i: number) => Promise<void>,
  { max = 400, stallMs = 300 } = {},
): Promise<{ resolved: number; stalled: Promise<void> | undefined }> {
  for (let i = 0; i < max; i++) {
    const sending = send(i);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      sending.then(() => "sent" as const),
      new Promise<"stalled">((resolve) => timer = setTimeout(() => resolve("stalled"), stallMs)),
    ]);
    clearTimeout(timer);
    if (result === "stalled") return { resolved: i, stalled: sending };
  }
  return { resolved: max, stalled: undefined };
}
