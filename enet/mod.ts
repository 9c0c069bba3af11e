/**
 * ENet 1.3 reliable UDP in pure TypeScript, wire-compatible with C libenet
 * 1.3.x and npm `enet`: connections with up to 255 channels, reliable
 * ordered, unreliable sequenced and unsequenced packets, fragmentation of
 * packets up to 32 MiB, RTT-driven retransmission, throttling, optional
 * CRC-32 checksums and ENet's range-coder compression; IPv4 and IPv6.
 *
 * Runs on `Deno.listenDatagram` (`--unstable-net`) or falls back to
 * `node:dgram`. Event-driven: no polling interval.
 *
 * @example Echo over loopback
 * ```ts
 * import { createHost, PacketFlag } from "@netkit/realtime/enet";
 *
 * await using server = await createHost({ address: { hostname: "127.0.0.1", port: 0 } });
 * await using client = await createHost({ address: { hostname: "127.0.0.1", port: 0 }, peerCount: 1 });
 * const peer = await client.connect(server.address, { channelCount: 2, data: 42 });
 * peer.send(0, "hello", PacketFlag.RELIABLE);
 * for await (const event of server) {
 *   if (event.type === "connect") console.log("connect data", event.data);
 *   if (event.type === "receive") {
 *     event.peer.send(event.channelID, event.data, event.flags);
 *     break;
 *   }
 * }
 * ```
 *
 * @module
 */

export * from "./host.ts";
export * from "./peer.ts";
export * from "./packet.ts";
export * from "./errors.ts";
export * from "./compressor.ts";
export * from "./announce.ts";
