/**
 * An ENet server application for the red-team tests, in its own process.
 * Prints `{"hostname","port","pid"}` first, then a stats line every 250 ms:
 * `{"t","peers","waitingData","waitingPackets","maxPeerWaitingData","gaps"}`.
 *
 * Mode `echo` (argument 1): echoes every packet at once.
 *
 * Mode `slow`: a slow application on the host's event iterator. Packets of
 * 512 bytes or more are jobs that take it 20 ms each (it awaits, as an app
 * waiting on a database would); smaller ones are pings it echoes at once.
 * Jobs carry a 4-byte sequence number per peer: the app counts gaps (lost
 * packets), which must stay 0.
 */
import { createHost, type Peer } from "../../../enet/mod.ts";

const mode = Deno.args[0] ?? "echo";
const host = await createHost({ address: { hostname: "127.0.0.1", port: 0 } });
console.log(JSON.stringify({ ...host.address, pid: Deno.pid }));

const expected = new Map<Peer, number>();
let gaps = 0;
let maxPeerWaitingData = 0;
const started = performance.now();
setInterval(() => {
  for (const peer of host.peers) {
    maxPeerWaitingData = Math.max(maxPeerWaitingData, peer.waitingData);
  }
  console.log(JSON.stringify({
    t: Math.round(performance.now() - started),
    peers: host.peers.length,
    waitingData: host.waitingData,
    waitingPackets: host.waitingPackets,
    maxPeerWaitingData,
    gaps,
  }));
}, 250);

for await (const event of host) {
  if (event.type !== "receive") continue;
  if (mode === "slow" && event.data.length >= 512) {
    const sequence = new DataView(event.data.buffer, event.data.byteOffset).getUint32(0);
    const next = expected.get(event.peer) ?? 0;
    if (sequence !== next) gaps++;
    expected.set(event.peer, sequence + 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    continue;
  }
  try {
    event.peer.send(event.channelID, event.data, event.flags);
  } catch { /* the peer left meanwhile */ }
}
