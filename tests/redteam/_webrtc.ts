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
