/**
 * Shared setup of the mesh red-team tests: the target member's process and
 * the probes of a well-behaved member.
 *
 * @module
 */

import { joinMesh, type Mesh, type MeshAddress } from "../../mesh/mod.ts";
import { type ServerProcess, startServer } from "./_harness.ts";

/** The target member's script. */
export const MESH_MEMBER = new URL("./servers/mesh_member.ts", import.meta.url);

/**
 * How often the harness samples the member's RSS (from /proc/PID/status, through `cat`): every
 * 50 ms, as often as the member used to report its own RSS before the harness could read it,
 * so a short spike is caught as before. One sample costs the test process about 1 ms.
 */
export const MEMBER_RSS_SAMPLE_MS = 50;

/** Starts the target member with `options` (see servers/mesh_member.ts). */
export async function startMember(
  options: Record<string, unknown> = {},
): Promise<{ server: ServerProcess; addr: MeshAddress; id: string }> {
  const server = await startServer(MESH_MEMBER, [JSON.stringify(options)], {
    sampleMs: MEMBER_RSS_SAMPLE_MS,
  });
  const addr = { hostname: server.info.hostname as string, port: server.info.port as number };
  return { server, addr, id: server.info.id as string };
}

/** Codes of the connections the target reported closing. */
export function reportedCodes(server: ServerProcess): string[] {
  return server.lines.map((line) => JSON.parse(line)).filter((e) => e.ev === "connectionerror")
    .map((e) => e.code);
}

/** Probes that join a fresh member through `seed` (it leaves in the background). */
export class JoinProbe {
  #leaving: Promise<void>[] = [];
  #count = 0;
  constructor(readonly seed: MeshAddress) {}

  readonly probe = async (signal: AbortSignal): Promise<void> => {
    const mesh = await joinMesh({
      name: `probe-${this.#count++}-${crypto.randomUUID().slice(0, 8)}`,
      seeds: [this.seed],
      timeout: 1000,
      signal,
    });
    this.#leaving.push(mesh.leave());
  };

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.#leaving);
  }
}

/** Probes that ask the target `"ping"` from one member joined once. */
export async function requestProbe(
  seed: MeshAddress,
  targetId: string,
): Promise<{ mesh: Mesh; probe: (signal: AbortSignal) => Promise<void> }> {
  const mesh = await joinMesh({ name: `asker-${crypto.randomUUID().slice(0, 8)}`, seeds: [seed] });
  return {
    mesh,
    probe: async (signal) => {
      const answer = await mesh.request(targetId, "ping", null, { signal });
      if (answer !== "pong") throw new Error(`Unexpected answer ${answer}`);
    },
  };
}

export { sleep } from "../_tools/sleep.ts";
