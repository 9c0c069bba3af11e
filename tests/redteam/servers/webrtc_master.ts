/**
 * A webrtc master for the red-team tests, in its own process: `deno run -A webrtc_master.ts
 * '<MasterOptions as JSON>'`. Prints `{"url":"ws://127.0.0.1:<port>"}` first, then one JSON line
 * per peer the master closed for breaking a rule (`{"role":…,"id":…,"code":…,"closeCode":…}`).
 *
 * @module
 */

import { serveMaster } from "../../../webrtc/mod.ts";

const options = JSON.parse(Deno.args[0] ?? "{}");
const master = serveMaster({ hostname: "127.0.0.1", port: 0, ...options });
master.addEventListener("peererror", (event) => {
  const { role, id, error } = (event as CustomEvent).detail;
  console.log(JSON.stringify({ role, id, code: error.code, closeCode: error.closeCode }));
});
console.log(JSON.stringify({ url: `ws://127.0.0.1:${master.addr.port}` }));
