/**
 * Issue 15, row 11, for every TLS server: `connections` TCP connections that
 * never send a ClientHello must each be closed by the server at its
 * `handshakeTimeout` (not before, and not much after: the socket is really
 * gone, not just forgotten), while probes keep being answered. Shared by the
 * framed and websocket red-team tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertHeld, probeDuring, type ServerProcess } from "./_harness.ts";
import { type Target, tlsSilentFlood } from "./attacks/framed.ts";

/** Floods `target` with silent TLS connections for 4 s and asserts the server closed each in time. */
export async function assertSilentTlsClosed(
  server: ServerProcess,
  target: Target,
  probe: (signal: AbortSignal) => Promise<void>,
  { handshakeTimeout, connections = 500 }: { handshakeTimeout: number; connections?: number },
): Promise<void> {
  const stop = AbortSignal.timeout(4000);
  const [attack, probes] = await Promise.all([
    tlsSilentFlood(target, stop, { connections }),
    probeDuring(probe, stop),
  ]);
  console.log(
    `${attack.closedByServer}/${attack.opened} closed by the server, first after ${
      attack.closeTimes[0]?.toFixed(0)
    } ms, last after ${attack.closeTimes.at(-1)?.toFixed(0)} ms; max RSS ${
      Math.round(server.maxRss / 2 ** 20)
    } MiB; probes ${probes.answered}/${probes.sent}`,
  );
  assertHeld(server, probes, "silent TLS connections");
  assert.equal(attack.opened, connections);
  assert.equal(
    attack.closedByServer,
    connections,
    "every silent connection was closed by the server",
  );
  // Each closes at its own deadline (opening them all takes a moment), and none much later.
  assert.ok(attack.closeTimes[0] >= handshakeTimeout * 0.9, "none closed before its deadline");
  assert.ok(
    attack.closeTimes.at(-1)! <= 3000,
    `the last was closed after ${attack.closeTimes.at(-1)?.toFixed(0)} ms`,
  );
}
