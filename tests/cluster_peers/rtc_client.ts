/**
 * A Deno webrtc client process (node-datachannel polyfill): `rtc_client.ts NAME COUNT URL...`.
 * Waits until slave NAME is listed, echoes COUNT messages over a data channel and prints
 * `{ "echoed": N, "ms": … }`; then waits until that slave is removed and listed again (its
 * master died, it came back through another) and prints `{ "again": N }` after echoing anew
 * (unless `RTC_ONCE` is set: then it exits after the first echo).
 *
 * @module
 */

import { RTCPeerConnection } from "node-datachannel/polyfill";
import {
  connectMaster,
  type RTCPeerConnectionConstructor,
  type SlaveConnection,
} from "../../webrtc/client.ts";

const [name, countText, ...urls] = Deno.args;
const count = Number(countText);
const started = performance.now();
const master = await connectMaster(urls, {
  RTCPeerConnection: RTCPeerConnection as unknown as RTCPeerConnectionConstructor,
  rtcConfiguration: { bindAddress: "127.0.0.1" },
  reconnect: { initialDelay: 100, maxDelay: 300 },
});

async function find(skip?: SlaveConnection): Promise<SlaveConnection> {
  const end = Date.now() + 15_000;
  while (Date.now() < end) {
    const slave = master.slaves.find((s) =>
      (s.userData as { name?: string }).name === name && s !== skip && s.id !== skip?.id
    );
    if (slave) return slave;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`slave ${name} never listed`);
}

let openMs = 0;
async function echo(slave: SlaveConnection, label: string): Promise<number> {
  const opening = performance.now();
  const channel = await slave.createDataChannel(label);
  openMs = performance.now() - opening;
  let got = 0;
  const done = new Promise<void>((resolve) =>
    channel.addEventListener("message", (e) => {
      if ((e as MessageEvent).data === `m${got}`) got++;
      if (got === count) resolve();
    })
  );
  for (let i = 0; i < count; i++) channel.send(`m${i}`);
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  return got;
}

let first = await find();
const listed = performance.now() - started;
// The first set-up may be cut short: a client of master A may still be connecting when the test
// kills A (createDataChannel() then rejects with WebRtcError ERR_CONNECTION_CLOSED "Signalling lost"). It
// echoes through the slave's entry at the next master instead, and that counts as the failover.
let echoed = 0;
let failedOver = false;
const firstEnd = Date.now() + 30_000;
while (true) {
  try {
    echoed = await echo(first, "first");
    break;
  } catch (error) {
    if (Date.now() > firstEnd) throw error;
    // Still listed: the set-up itself failed (retry it); gone: its master died.
    if (master.slaves.includes(first)) continue;
    failedOver = true;
    first = await find(first);
  }
}
console.log(JSON.stringify({ echoed, listedMs: listed, openMs, ms: performance.now() - started }));
if (Deno.env.get("RTC_ONCE")) Deno.exit(0);
// The slave's master dies: the entry goes, the slave comes back through another master.
const end = Date.now() + 15_000;
while (!failedOver && master.slaves.includes(first) && Date.now() < end) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const removed = failedOver || !master.slaves.includes(first);
// Right after a failover the new master may still list the dead master's entry for the slave
// (until the directory's timeout): a set-up through it fails, and the client tries the next.
let again = 0;
// After a failover during the first echo, `first` is already the entry at the live master.
let skip: SlaveConnection | undefined = failedOver ? undefined : first;
while (Date.now() < end + 15_000) {
  const second = await find(skip);
  try {
    again = await echo(second, "second");
    break;
  } catch {
    skip = second;
  }
}
console.log(JSON.stringify({ again, removed }));
master.close();
Deno.exit(0);
