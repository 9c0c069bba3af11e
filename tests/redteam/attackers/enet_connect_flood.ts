/**
 * Runs {@linkcode connectFlood} in its own process (`deno run -A`): the
 * forged sources bind 127.x.y.z addresses that the test task's
 * `--allow-net` list does not name. Args: hostname, port, perSecond,
 * durationMs. Prints the result as one JSON line.
 */
import { connectFlood } from "../attacks/enet.ts";

const [hostname, port, perSecond, durationMs] = Deno.args;
const result = await connectFlood({ hostname, port: Number(port) }, {
  perSecond: Number(perSecond),
  signal: AbortSignal.timeout(Number(durationMs)),
});
console.log(JSON.stringify(result));
