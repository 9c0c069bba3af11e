/**
 * An echoing webrtc slave process: `rtc_slave.ts NAME URL...` registers at the first master
 * that answers (failing over along the list). Prints `{ "ready": true }`, and
 * `{ "reconnected": true }` after each re-registration.
 *
 * @module
 */

import type { DataChannel } from "../../webrtc/client.ts";
import { connectSlave } from "../../webrtc/slave.ts";

const [name, ...urls] = Deno.args;
const slave = await connectSlave(urls, {
  userData: { name },
  bindAddress: "127.0.0.1",
  reconnect: { initialDelay: 100, maxDelay: 300 },
});
slave.addEventListener("reconnect", () => console.log(JSON.stringify({ reconnected: true })));
console.log(JSON.stringify({ ready: true }));
for await (const client of slave) {
  client.addEventListener("datachannel", (e) => {
    const channel = (e as CustomEvent<DataChannel>).detail;
    channel.addEventListener("message", (m) => {
      try {
        channel.send((m as MessageEvent).data);
      } catch { /* closed meanwhile */ }
    });
  });
}
