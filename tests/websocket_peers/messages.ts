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
