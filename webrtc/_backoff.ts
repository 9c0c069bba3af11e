/**
 * The reconnect schedule slaves and clients share after losing the master (browser-safe).
 *
 * @module
 */

/** How long to wait before reconnect attempt `attempt` (0-based): doubling, capped, ±25 % jitter. */
export function reconnectDelay(
  attempt: number,
  { initialDelay = 250, maxDelay = 5000 }: { initialDelay?: number; maxDelay?: number },
): number {
  return Math.min(maxDelay, initialDelay * 2 ** attempt) * (0.75 + Math.random() * 0.5);
}
