/**
 * Interop with C libenet 1.3.17 (Debian libenet-dev) through the helper
 * tests/enet_peers/enet_peer.c, built here with gcc: our client against the
 * C echo server and the C client against our echo server, plain, with
 * checksum, with the range coder, and with both.
 */
import { buildCPeer } from "./enet_peers/peers.ts";
import { defineInteropTests } from "./enet_peers/interop_suite.ts";

const buildDir = Deno.makeTempDirSync({ prefix: "netkit-enet-c-" });
const binary = await buildCPeer(buildDir);
addEventListener("unload", () => {
  try {
    Deno.removeSync(buildDir, { recursive: true });
  } catch { /* gone */ }
});

defineInteropTests("C libenet", binary, [], [
  { name: "plain", args: [], options: {} },
  { name: "checksum", args: ["--checksum"], options: { checksum: true } },
  { name: "range coder", args: ["--range-coder"], options: { compression: "range-coder" } },
  {
    name: "checksum + range coder",
    args: ["--checksum", "--range-coder"],
    options: { checksum: true, compression: "range-coder" },
  },
]);
