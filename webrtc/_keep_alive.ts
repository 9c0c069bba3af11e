/**
 * Keeps recently closed native peer connections reachable (browser-safe).
 *
 * @module
 */

/**
 * The last closed peer connections, kept reachable on purpose. node-datachannel (0.33) matches
 * late native callbacks to their wrapper by address: when a closed connection's wrapper is
 * garbage-collected and a new one is allocated at the same address, a stale "closed" callback
 * closes the new connection (seen as "Got a remote candidate without ICE transport" in about 1
 * of 30 quick reconnects). Holding the last few wrappers lets their callbacks drain first.
 */
const recentlyClosed: unknown[] = [];
/** Keeps `pc` reachable until 64 more connections have closed. */
export function keepAlive(pc: unknown): void {
  recentlyClosed.push(pc);
  if (recentlyClosed.length > 64) recentlyClosed.shift();
}
