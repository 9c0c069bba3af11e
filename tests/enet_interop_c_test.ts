/**
 * Interop with C libenet 1.3.17 (Debian libenet-dev) through the helper
 * tests/enet_peers/enet_peer.c, built here with gcc: our client against the
 * C echo server and the C client against our echo server, plain, with
 * checksum, with the range coder, and with both.
 */
import assert from "node:assert/strict";
import { createHost, type Host, PacketFlag, type Peer } from "../enet/mod.ts";
import { buildCPeer, type LineProcess, startServer } from "./enet_peers/peers.ts";
import { defineInteropTests } from "./enet_peers/interop_suite.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

const buildDir = Deno.makeTempDirSync({ prefix: "netkit-enet-c-" });
const binary = await buildCPeer(buildDir);
addEventListener("unload", () => {
  try {
    Deno.removeSync(buildDir, { recursive: true });
  } catch { /* gone */ }
});

defineInteropTests("C libenet", binary, [], [
  { name: "plain", args: [], options: {} },
  { name: "plain, one runtime op per datagram", args: [], options: { socket: "deno" } },
  { name: "checksum", args: ["--checksum"], options: { checksum: true } },
  { name: "range coder", args: ["--range-coder"], options: { compression: "range-coder" } },
  {
    name: "checksum + range coder",
    args: ["--checksum", "--range-coder"],
    options: { checksum: true, compression: "range-coder" },
  },
]);

/** The C echo server in its own process, and our one-peer client connected to it. */
async function connectToCServer(): Promise<
  { server: LineProcess; client: Host; peer: Peer } & AsyncDisposable
> {
  const { process: server, port } = await startServer(binary, ["server"]);
  try {
    const client = await createHost({ address: { hostname: LOOPBACK4, port: 0 }, peerCount: 1 });
    try {
      const peer = await client.connect({ hostname: LOOPBACK4, port }, { channelCount: 1 });
      return {
        server,
        client,
        peer,
        async [Symbol.asyncDispose]() {
          await client.close();
          await server[Symbol.asyncDispose]();
        },
      };
    } catch (error) {
      await client.close();
      throw error;
    }
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

Deno.test("a ping answered from the event loop shares one datagram with the acknowledgement of the C server's echo", async () => {
  await using link = await connectToCServer();
  const { server, client, peer } = link;
  const events = client[Symbol.asyncIterator]();
  const ping = new Uint8Array(16);
  // C acknowledges a packet in one datagram and sends its echo in the next:
  // the ACK of the echo and the next ping must not go out separately.
  const pings = 100;
  const sentBefore = client.totalSentPackets;
  for (let i = 0; i < pings; i++) {
    peer.send(0, ping, PacketFlag.RELIABLE);
    for (;;) {
      const { value } = await deadline(events.next(), 5000, "echo");
      if (value?.type === "receive") break;
    }
  }
  const perPing = (client.totalSentPackets - sentBefore) / pings;
  assert.ok(perPing < 1.2, `${perPing.toFixed(2)} datagrams per ping`);
  peer.disconnect(5);
  await server.waitFor((l) => l === "DISCONNECT 5");
});

Deno.test("a disconnect right after connect() still acknowledges the C server's VERIFY_CONNECT", async () => {
  await using link = await connectToCServer();
  const { server, peer } = link;
  peer.disconnect(77);
  assert.deepEqual(await deadline(peer.closed, 5000, "local disconnect"), {
    reason: "local",
    data: 77,
  });
  await server.waitFor((l) => l === "DISCONNECT 77");
});
