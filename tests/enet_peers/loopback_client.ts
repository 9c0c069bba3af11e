/**
 * Child process of `tests/enet_usability_test.ts`: a client host created
 * without an address connects to `127.0.0.1:<port>` (first argument) and
 * sends one reliable message. Run with `--allow-net=127.0.0.1` only: prints
 * `connected` on success, the error's name and message otherwise.
 */
import { createHost } from "../../enet/mod.ts";

const port = Number(Deno.args[0]);
try {
  await using client = await createHost({ peerCount: 1 });
  const peer = await client.connect({ hostname: "127.0.0.1", port }, { timeout: 3000 });
  await peer.sendAcknowledged(0, "from the child");
  console.log("connected", client.address.hostname);
} catch (error) {
  console.log(`${(error as Error).name}: ${(error as Error).message}`);
}
