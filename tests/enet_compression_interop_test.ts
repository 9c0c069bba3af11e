/**
 * Compressed traffic on the wire with foreign peers: text, random bytes and
 * zeros, small and fragmented, echoed byte-exact by C libenet (range coder,
 * and range coder + checksum) and npm `enet` (range coder; it has no
 * checksum). A transparent proxy taps every datagram to prove compression is
 * really used in both directions, that every compressed body decodes with
 * our range coder, and that checksums verify with our CRC-32.
 */
import assert from "node:assert/strict";
import { createHost, type HostEvent, type HostOptions, PacketFlag } from "../enet/mod.ts";
import { verifyEnetChecksum } from "../enet/_crc32.ts";
import { EnetRangeCoder } from "../enet/_range_coder.ts";
import { LOOPBACK4 } from "./_loopback.ts";
import { EventPump } from "./_tools/enet_events.ts";
import { UdpImpairProxy } from "./_tools/udp_impair.ts";
import { buildCPeer, npmPeerScript, startServer } from "./enet_peers/peers.ts";

const buildDir = Deno.makeTempDirSync({ prefix: "netkit-enet-compression-" });
const cBinary = await buildCPeer(buildDir);
addEventListener("unload", () => {
  try {
    Deno.removeSync(buildDir, { recursive: true });
  } catch { /* gone */ }
});

const HEADER_FLAG_COMPRESSED = 0x4000;
const HEADER_FLAG_SENT_TIME = 0x8000;

function payloads(): { name: string; data: Uint8Array }[] {
  let state = 0xC0FFEE;
  const random = (n: number) =>
    new Uint8Array(n).map(() => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 24);
  const text = (n: number) =>
    new TextEncoder().encode(
      "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "
        .repeat(Math.ceil(n / 80)),
    ).subarray(0, n);
  return [
    { name: "text 200 B", data: text(200) },
    { name: "text 1300 B", data: text(1300) },
    { name: "text 20 KB (fragmented)", data: text(20_000) },
    { name: "random 200 B", data: random(200) },
    { name: "random 1300 B", data: random(1300) },
    { name: "random 20 KB (fragmented)", data: random(20_000) },
    { name: "zeros 1 B", data: new Uint8Array(1) },
    { name: "zeros 1300 B", data: new Uint8Array(1300) },
    { name: "zeros 100 KB (fragmented)", data: new Uint8Array(100_000) },
  ];
}

interface Tapped {
  direction: "toServer" | "toClient";
  data: Uint8Array;
}

/** Header size of a datagram (2 or 4) plus the checksum field when present. */
function bodyOffset(data: Uint8Array, checksum: boolean): number {
  const peerID = (data[0] << 8) | data[1];
  return (peerID & HEADER_FLAG_SENT_TIME ? 4 : 2) + (checksum ? 4 : 0);
}

async function exchange(
  command: string,
  args: string[],
  options: HostOptions,
  checksum: boolean,
): Promise<void> {
  const { process: server, port } = await startServer(command, args);
  await using _server = server;
  const tapped: Tapped[] = [];
  await using proxy = await UdpImpairProxy.start({
    target: { hostname: LOOPBACK4, port },
    tap: (direction, data) => tapped.push({ direction, data: data.slice() }),
  });
  await using client = await createHost({
    address: { hostname: LOOPBACK4, port: 0 },
    peerCount: 1,
    ...options,
  });
  const events: HostEvent[] = [];
  const pump = new EventPump(client, (event) => events.push(event));
  try {
    const peer = await client.connect(proxy.address, { channelCount: 2 });
    for (const [i, { name, data }] of payloads().entries()) {
      const before = events.length;
      peer.send(i % 2, data, PacketFlag.RELIABLE);
      await pump.until(() => events.length > before, 15_000, `echo of ${name}`);
      const echo = events[before];
      assert.ok(echo.type === "receive", `${name}: ${echo.type}`);
      assert.equal(echo.channelID, i % 2, name);
      assert.deepEqual(echo.data, data, `${name} came back byte-exact`);
    }
  } finally {
    await client.close();
    await pump.done;
  }

  // Compression really happened both ways, and every compressed body on the wire
  // (ours and theirs) decodes with our range coder.
  const coder = new EnetRangeCoder();
  const out = new Uint8Array(4096);
  const compressed = { toServer: 0, toClient: 0 };
  const plains = tapped.map(({ direction, data }) => {
    const peerID = (data[0] << 8) | data[1];
    const offset = bodyOffset(data, checksum);
    if (!(peerID & HEADER_FLAG_COMPRESSED)) return { direction, peerID, offset, plain: data };
    compressed[direction]++;
    const length = coder.decompress(data.subarray(offset), data.length - offset, out);
    assert.ok(length > 0, `${direction} compressed body decodes`);
    const plain = new Uint8Array(offset + length);
    plain.set(data.subarray(0, offset));
    plain.set(out.subarray(0, length), offset);
    return { direction, peerID, offset, plain };
  });
  if (checksum) {
    const connect = plains.find((t) => t.direction === "toServer" && t.plain[t.offset] === 0x82);
    assert.ok(connect, "saw the CONNECT");
    // connectID is at offset 40 of CONNECT; both sides seed the checksum field with it,
    // except in the CONNECT datagram itself (no peer ID yet: zeros).
    const connectID = connect.plain.slice(connect.offset + 40, connect.offset + 44);
    for (const { direction, peerID, offset, plain } of plains) {
      const seed = (peerID & 0xFFF) === 0xFFF ? null : connectID;
      assert.ok(verifyEnetChecksum(plain, offset - 4, seed), `${direction} checksum verifies`);
    }
  }
  assert.ok(compressed.toServer > 0, "we sent compressed datagrams");
  assert.ok(compressed.toClient > 0, "the foreign peer sent compressed datagrams");
}

Deno.test("range coder: C libenet echoes text, random and zero payloads byte-exact, compressed both ways", async () => {
  await exchange(cBinary, ["server", "--range-coder"], { compression: "range-coder" }, false);
});

Deno.test("range coder + checksum: C libenet echoes text, random and zero payloads byte-exact, every datagram's CRC verifies", async () => {
  await exchange(cBinary, ["server", "--range-coder", "--checksum"], {
    compression: "range-coder",
    checksum: true,
  }, true);
});

Deno.test("range coder: npm enet echoes text, random and zero payloads byte-exact, compressed both ways", async () => {
  await exchange("node", ["--no-warnings", npmPeerScript, "server", "--range-coder"], {
    compression: "range-coder",
  }, false);
});
