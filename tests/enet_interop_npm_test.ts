/**
 * Interop with npm `enet` 0.2.9 (emscripten ENet 1.3.5) under Node through
 * tests/enet_peers/npm_enet_peer.cjs: our client against its echo server and
 * its client against our echo server, plain and with the range coder (it
 * has no checksum support).
 */
import { npmPeerScript } from "./enet_peers/peers.ts";
import { defineInteropTests } from "./enet_peers/interop_suite.ts";

defineInteropTests("npm enet", "node", ["--no-warnings", npmPeerScript], [
  { name: "plain", args: [], options: {} },
  { name: "range coder", args: ["--range-coder"], options: { compression: "range-coder" } },
]);
