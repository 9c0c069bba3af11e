/**
 * Relaying between masters at the packet level (no WebRTC stack): two masters on one real
 * nats-server (JetStream) or redis-server; a raw slave on master A, a raw client on master B. The
 * offer and answer cross the cluster with ids rewritten on both sides; a third cluster member
 * cannot answer for A's slave nor take over its directory entry; the slave leaving is seen at B.
 */

import assert from "node:assert/strict";
import { type ClusterError, connectCluster } from "../cluster/mod.ts";
import { serveMaster } from "../webrtc/mod.ts";
import { decodePacket, encodeSdp, PacketType } from "../webrtc/_protocol.ts";
import {
  type EngineKind,
  hasEngine,
  startDirectoryEngine,
} from "./cluster_peers/directory_engines.ts";
import { bytes, RawPeer } from "./_webrtc.ts";

/** Reads packets until one of `type` arrives. */
async function nextOf(peer: RawPeer, type: number, what: string): Promise<Uint8Array> {
  const end = Date.now() + 8_000;
  while (Date.now() < end) {
    const packet = await peer.next(what);
    if (packet[0] === type) return packet;
  }
  throw new Error(`no ${what}`);
}

/** The slave ids listed in an ADD_SLAVES packet, with their userData. */
function listed(packet: Uint8Array): { id: number; userData: string }[] {
  const decoded = decodePacket(packet);
  assert.equal(decoded.type, PacketType.ADD_SLAVES);
  return (decoded as { slaves: { id: number; userData: string }[] }).slaves;
}

for (const kind of ["nats", "redis"] as EngineKind[]) {
  Deno.test({
    name:
      `relaying on ${kind}: a raw client on master B gets master A's slave listed, its offer answered through the cluster, and no forged answer`,
    ignore: !hasEngine(kind),
    async fn() {
      await using engine = await startDirectoryEngine(kind);
      await using clusterA = await connectCluster(engine.url);
      await using clusterB = await connectCluster(engine.url);
      await using intruder = await connectCluster(engine.url);
      await using masterA = serveMaster({ hostname: "127.0.0.1", port: 0, cluster: clusterA });
      await using masterB = serveMaster({ hostname: "127.0.0.1", port: 0, cluster: clusterB });
      await Promise.all([masterA.clusterReady, masterB.clusterReady]);
      const urlA = `ws://127.0.0.1:${masterA.addr.port}/netkit`;
      const urlB = `ws://127.0.0.1:${masterB.addr.port}/netkit`;

      await using slave = new RawPeer(`${urlA}/slaves`);
      await slave.opened;
      slave.send(bytes(PacketType.REGISTER, '{"name":"eu-1"}'));
      await using client = new RawPeer(`${urlB}/clients`);
      await client.opened;
      let slaveAtB: number | undefined;
      while (slaveAtB === undefined) {
        const found = listed(await nextOf(client, PacketType.ADD_SLAVES, "the slave list"))
          .find((s) => s.userData === '{"name":"eu-1"}');
        slaveAtB = found?.id;
      }

      client.send(encodeSdp(PacketType.OFFER_TO_SLAVE, slaveAtB, "v=0 offer"));
      const offer = decodePacket(await nextOf(slave, PacketType.OFFER_FROM_CLIENT, "the offer"));
      assert.equal((offer as { sdp: string }).sdp, "v=0 offer");
      const proxyId = (offer as { id: number }).id;

      // A cluster member that is not the slave's master answers for it: dropped at B.
      const slaveAtA = [...masterA.slaves.keys()][0];
      const forged = new Uint8Array(9 + 5 + 6);
      forged[0] = 2; // relay kind: to a client
      new DataView(forged.buffer).setUint32(1, slaveAtA);
      new DataView(forged.buffer).setUint32(5, [...masterB.clients.keys()][0]);
      forged.set(encodeSdp(PacketType.ANSWER_TO_CLIENT, 0, "forged"), 9);
      await intruder.publish(`netkit.webrtc.${clusterB.nodeId}`, forged);
      // Nor can it take over the slave's directory entry.
      const directory = intruder.directory("netkit-webrtc");
      const entryId = `${clusterA.nodeId}-${slaveAtA}`;
      await assert.rejects(
        directory.register({ id: entryId, address: { hostname: "x", port: 1 }, capacity: 0 }),
        (error: ClusterError) => error.code === "ERR_DUPLICATE_ID",
      );
      await assert.rejects(
        directory.update(entryId, { meta: { slave: 0, userData: '{"name":"evil"}' } }),
        (error: ClusterError) => error.code === "ERR_NOT_OWNER",
      );
      await assert.rejects(
        directory.unregister(entryId),
        (error: ClusterError) => error.code === "ERR_NOT_OWNER",
      );

      // The real answer crosses back with B's id for the slave.
      slave.send(encodeSdp(PacketType.ANSWER_TO_CLIENT, proxyId, "v=0 answer"));
      const answer = decodePacket(await nextOf(client, PacketType.ANSWER_FROM_SLAVE, "the answer"));
      assert.deepEqual(
        [(answer as { id: number }).id, (answer as { sdp: string }).sdp],
        [slaveAtB, "v=0 answer"],
      );

      // The slave leaves master A: B removes it from its client's list.
      slave.socket.close();
      const removal = decodePacket(
        await nextOf(client, PacketType.REMOVE_SLAVES, "the slave's removal"),
      );
      assert.deepEqual((removal as { ids: number[] }).ids, [slaveAtB]);
      await masterA.close();
      await masterB.close();
    },
  });
}
