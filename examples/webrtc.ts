/**
 * webrtc tour: a master, two slaves and a client (node-datachannel's polyfill standing in for a
 * browser), all over loopback. Shows the slave list, a reliable and an unreliable channel on one
 * peer connection, a userData update, a rejection and a slave leaving.
 *
 * @module
 */

import ndc from "node-datachannel";
import { RTCPeerConnection } from "node-datachannel/polyfill";
import { serveMaster } from "../webrtc/mod.ts";
import { connectSlave } from "../webrtc/slave.ts";
import { connectMaster } from "../webrtc/client.ts";

/** One line for the tour menu. */
export const description =
  "master + slaves + client: slave list, reliable/unreliable data channels, reject, leave";

/** Runs the demo and returns when done. */
export default async function demo(): Promise<void> {
  await using master = serveMaster({
    hostname: "127.0.0.1",
    port: 0,
    authorizeSlave: (authData) => authData.token === "s3cret" || "Bad token",
    authorizeClient: () => ({ user: "demo-bot" }),
  });
  const url = `ws://127.0.0.1:${master.addr.port}`;
  console.log(`master on ${url} (browsers import ${url.replace("ws", "http")}/netkit/client.js)`);

  const eu = await connectSlave(url, {
    userData: { name: "eu-1", players: 0 },
    authData: { token: "s3cret" },
    bindAddress: "127.0.0.1",
  });
  eu.addEventListener("offer", (e) => {
    console.log(`eu-1: offer from client ${e.clientId}`, e.identity);
  });
  (async () => {
    for await (const client of eu) {
      client.addEventListener("datachannel", (e) => {
        const channel = e.detail;
        console.log(`eu-1: channel "${channel.label}" from client ${client.id}`);
        channel.addEventListener("message", (m) => channel.send(m.data));
      });
    }
  })();
  const full = await connectSlave(url, {
    userData: { name: "us-1 (full)" },
    authData: { token: "s3cret" },
    bindAddress: "127.0.0.1",
    maxConnections: 0,
  });

  const client = await connectMaster(url, {
    RTCPeerConnection,
    rtcConfiguration: { bindAddress: "127.0.0.1" },
  });
  try {
    while (client.slaves.length < 2) await new Promise((r) => setTimeout(r, 10));
    console.log("client sees:", client.slaves.map((s) => `${s.id}:${s.userData.name}`).join(", "));

    const slave = client.slaves.find((s) => s.userData.name === "eu-1")!;
    let started = performance.now();
    const chat = await slave.createDataChannel("chat");
    console.log(`reliable channel open in ${(performance.now() - started).toFixed(1)} ms`);
    started = performance.now();
    const state = await slave.createDataChannel("state", { ordered: false, maxRetransmits: 0 });
    console.log(
      `unreliable channel open in ${
        (performance.now() - started).toFixed(1)
      } ms (same peer connection)`,
    );

    const count = 1000;
    let echoed = 0;
    const all = Promise.withResolvers<void>();
    chat.addEventListener("message", () => ++echoed === count && all.resolve());
    started = performance.now();
    for (let i = 0; i < count; i++) chat.send(`message ${i}`);
    await all.promise;
    console.log(`${count} messages echoed in ${(performance.now() - started).toFixed(1)} ms`);

    let fast = 0;
    state.addEventListener("message", () => fast++);
    for (let i = 0; i < 200; i++) state.send(new Uint8Array([i]));
    await new Promise((r) => setTimeout(r, 200));
    console.log(`unreliable: ${fast}/200 binary messages echoed`);

    const updated = new Promise((r) => client.addEventListener("slaveupdated", r, { once: true }));
    eu.userData = { name: "eu-1", players: 1 };
    await updated;
    console.log("client sees the update:", slave.userData);

    const busy = client.slaves.find((s) => s.userData.name !== "eu-1")!;
    await busy.connect().catch((error) => console.log(`${busy.userData.name}: ${error.message}`));

    const removed = new Promise((r) => client.addEventListener("slaveremoved", r, { once: true }));
    started = performance.now();
    await eu.close();
    await removed;
    console.log(
      `eu-1 left: slaveremoved after ${(performance.now() - started).toFixed(1)} ms; ` +
        `chat is ${chat.readyState}`,
    );
  } finally {
    client.close();
    await eu.close();
    await full.close();
    await master.close();
    await new Promise((r) => setTimeout(r, 100));
    ndc.cleanup();
  }
}

if (import.meta.main) await demo();
