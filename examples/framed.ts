/**
 * framed/ demo: a small telemetry hub over loopback TCP. Three sensors send
 * numeric readings as big-endian `double` arrays; the hub answers each with a
 * JSON summary. Then one sensor's link drops and `reconnect.onDrop` brings
 * it back, delivering what was sent meanwhile.
 *
 * @module
 */

import { connect, listen } from "../framed/mod.ts";

/** One line for the tour menu. */
export const description = "TCP messaging: typed length-framed messages, JSON replies, reconnect";

/** Runs the demo and returns when every connection is closed. */
export default async function demo(): Promise<void> {
  await using hub = listen({
    hostname: "127.0.0.1",
    port: 0,
    receiveType: "double",
    sendType: "json",
  });
  console.log(`hub listening on ${hub.addr.hostname}:${hub.addr.port}`);

  let links = 0;
  const serving = (async () => {
    for await (const link of hub) {
      const id = ++links;
      console.log(`hub: link ${id} from port ${link.remoteAddr.port}`);
      (async () => {
        for await (const reading of link.readable) {
          const values = typeof reading === "number" ? [reading] : reading;
          const mean = values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
          await link.send({ link: id, count: values.length, mean: Number(mean.toFixed(3)) });
        }
      })().catch((error) => console.log(`hub: link ${id} ended: ${error}`));
    }
  })();

  const sensors = await Promise.all(
    ["thermo", "baro", "hygro"].map(async (name, i) => {
      const sensor = await connect({
        hostname: "127.0.0.1",
        port: hub.addr.port,
        sendType: "double",
        receiveType: "json",
        reconnect: { attempts: 20, interval: 50, onDrop: name === "thermo" },
      });
      return { name, sensor, base: 20 + i * 10 };
    }),
  );

  for (let round = 1; round <= 3; round++) {
    for (const { name, sensor, base } of sensors) {
      await sensor.send(Array.from({ length: round + 1 }, (_, k) => base + k * 0.5));
      const reader = sensor.readable.getReader();
      const { value } = await reader.read();
      reader.releaseLock();
      console.log(`${name.padEnd(6)} round ${round}: ${JSON.stringify(value)}`);
    }
  }

  // Drop thermo's link from the hub side; thermo reconnects on its own.
  const thermo = sensors[0].sensor;
  const thermoPort = thermo.localAddr.port;
  for (const link of hub.connections) {
    if (link.remoteAddr.port === thermoPort) await link.close();
  }
  console.log("hub: dropped thermo's link");
  // A message written before thermo notices the drop would go to the dead
  // socket (TCP has no delivery receipt), so wait for the new link.
  while (thermo.localAddr.port === thermoPort) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await thermo.send([99.5, 100.5]);
  const reader = thermo.readable.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  console.log(
    `thermo after reconnect (port ${thermoPort} → ${thermo.localAddr.port}): ${
      JSON.stringify(value)
    }`,
  );

  for (const { sensor } of sensors) await sensor.close();
  await hub.close();
  await serving;
  console.log(`hub served ${links} links in all`);
}

if (import.meta.main) await demo();
