/**
 * The accept loop every raw-TCP server front shares: accepts until the
 * listener is closed, and keeps serving through a failed accept (say, out of
 * file descriptors) after a short back-off instead of spinning on it.
 *
 * Shared by every module; not part of the public API.
 *
 * @module
 */

/** How long to wait after a failed accept before the next one. */
export const ACCEPT_RETRY_MS = 50;

/**
 * Hands each accepted connection to `onConnection` until `listener` closes.
 *
 * @example
 * ```ts
 * import { acceptLoop } from "./accept_loop.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepting = acceptLoop(listener, (conn) => conn.close());
 * listener.close();
 * await accepting;
 * ```
 */
export async function acceptLoop<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  onConnection: (conn: C) => void,
): Promise<void> {
  while (true) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
      continue;
    }
    onConnection(conn);
  }
}
