/**
 * Shared bits of the webrtc red-team tests: the master server script and the reports it prints.
 *
 * @module
 */

import { type ServerProcess, startServer } from "./_harness.ts";

/** One `peererror` the master reported: the peer it closed and why. */
export interface PeerErrorLine {
  role: "slave" | "client";
  id: number;
  code: string;
  closeCode: number;
}

/** Starts the master script with `options` (MasterOptions as JSON) in its own process. */
export function startMaster(options: Record<string, unknown> = {}): Promise<ServerProcess> {
  return startServer(new URL("./servers/webrtc_master.ts", import.meta.url), [
    JSON.stringify(options),
  ]);
}

/** The `peererror` reports the master printed so far. */
export function peerErrors(server: ServerProcess): PeerErrorLine[] {
  return server.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/**
 * The `peererror` reports once `done` holds for them, or those there are after `ms`: the master
 * prints a report as it closes the peer, but the line crosses a pipe while the close crosses a
 * socket, so a peer may see its close code before the test has read the line.
 */
export async function peerErrorsWhen(
  server: ServerProcess,
  done: (errors: PeerErrorLine[]) => boolean,
  ms = 2000,
): Promise<PeerErrorLine[]> {
  const deadline = performance.now() + ms;
  let errors = peerErrors(server);
  while (!done(errors) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    errors = peerErrors(server);
  }
  return errors;
}
