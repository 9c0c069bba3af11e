/**
 * A webrtc master process sharing a cluster: `rtc_master.ts ENGINE_URL`. Prints
 * `{ "port": N }` once it listens, then runs until killed.
 *
 * @module
 */

import { connectCluster } from "../../cluster/mod.ts";
import { serveMaster } from "../../webrtc/mod.ts";

const cluster = await connectCluster(Deno.args[0]);
const master = serveMaster({ hostname: "127.0.0.1", port: 0, cluster, allowedOrigins: "*" });
console.log(JSON.stringify({ port: master.addr.port, nodeId: cluster.nodeId }));
