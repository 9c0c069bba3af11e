/**
 * Typed events: every event-dispatching class extends `TypedEventTarget<...EventMap>`, so the
 * README usages (`e.detail`, `e.data`, `e.identity`) type-check without a cast. `deno test`
 * type-checks this file first: before the typed event maps, the listeners below did not compile.
 *
 * No node-datachannel here (a native addon loaded by a second test isolate panics Deno, see
 * webrtc_e2e_test.ts): the slave side is a raw signalling peer, and the slave/data channel
 * usages are checked at the type level only.
 */
import assert from "node:assert/strict";
import type { RTCPeerConnection as PolyfillRTCPeerConnection } from "node-datachannel/polyfill";
import { TypedEventTarget } from "../_common/typed_event_target.ts";
import { joinMesh, type MeshStateEventMap } from "../mesh/mod.ts";
import { createMaster, type MasterEventMap, serveMaster } from "../webrtc/mod.ts";
import { encodeUserData } from "../webrtc/_protocol.ts";
import {
  connectMaster,
  type DataChannel,
  type RTCPeerConnectionConstructor,
  type SlaveConnection,
} from "../webrtc/client.ts";
import type { ClientConnection, Slave } from "../webrtc/slave.ts";
import { nextEvent, RawPeer, until } from "./_webrtc.ts";

/**
 * The README usages of the slave, client connection and data channel events, checked by the
 * type checker only (never called: a slave needs node-datachannel).
 */
export function readmeUsages(
  slave: Slave,
  client: ClientConnection,
  slaveConnection: SlaveConnection,
  channel: DataChannel,
): void {
  slave.addEventListener("offer", (e) => {
    if (e.identity?.banned) e.reject("Banned");
    console.log(e.clientId);
  });
  slave.addEventListener("connection", (e) => console.log(e.detail.id, e.detail.identity));
  slave.addEventListener("disconnect", (e) => console.log(e.detail.code));
  client.addEventListener("datachannel", (e) => {
    const ch = e.detail;
    ch.addEventListener("message", (m) => ch.send(m.data));
  });
  client.addEventListener("close", (e) => console.log(e.detail.code, e.detail.reason));
  slaveConnection.addEventListener("rejected", (e) => console.log(e.detail.toUpperCase()));
  slaveConnection.addEventListener("close", (e) => console.log(e.detail.code, e.detail.reason));
  channel.addEventListener("message", (e) => console.log(e.data.length));
  channel.addEventListener("error", (e) => console.log(e.error.code));
  // An object listener is typed too.
  channel.addEventListener("message", { handleEvent: (e) => console.log(e.data) });
}

// node-datachannel's polyfill is an `RTCPeerConnectionConstructor` as imported, without a cast.
export const polyfillFits: RTCPeerConnectionConstructor =
  null as unknown as typeof PolyfillRTCPeerConnection;

Deno.test("TypedEventTarget delivers mapped events to typed listeners and removeEventListener removes them", () => {
  const target = new TypedEventTarget<{ tick: CustomEvent<number> }>();
  const seen: number[] = [];
  const onTick = (e: CustomEvent<number>) => seen.push(e.detail);
  const object = { handleEvent: (e: CustomEvent<number>) => seen.push(-e.detail) };
  target.addEventListener("tick", onTick);
  target.addEventListener("tick", object);
  target.dispatchEvent(new CustomEvent("tick", { detail: 1 }));
  target.removeEventListener("tick", onTick);
  target.removeEventListener("tick", object);
  target.dispatchEvent(new CustomEvent("tick", { detail: 2 }));
  assert.deepEqual(seen, [1, -1]);
  // Names outside the map still take a plain listener.
  let other = 0;
  target.addEventListener("other", () => other++);
  target.dispatchEvent(new Event("other"));
  assert.equal(other, 1);
});

Deno.test("Master and MasterConnection events carry typed details: a slave's registration and departure", async () => {
  await using master = serveMaster({ hostname: "127.0.0.1", port: 0 });
  const base = `ws://127.0.0.1:${master.addr.port}`;
  const registered: number[] = [];
  const left: number[] = [];
  const clients: number[] = [];
  master.addEventListener("slaveconnection", (e) => registered.push(e.detail.id));
  master.addEventListener("slavedisconnect", (e) => left.push(e.detail.id));
  master.addEventListener("clientconnection", (e) => clients.push(e.detail.id));
  const client = await connectMaster(base, {
    // Never called: no data channel is opened here.
    RTCPeerConnection: class {} as unknown as RTCPeerConnectionConstructor,
    reconnect: false,
  });
  try {
    assert.deepEqual(clients, [0]);
    const names: string[] = [];
    const removed: string[] = [];
    client.addEventListener("slaveadded", (e) => names.push(e.detail.userData.name));
    client.addEventListener("slaveremoved", (e) => removed.push(e.detail.userData.name));
    const raw = new RawPeer(`${base}/netkit/slaves`);
    await raw.opened;
    raw.send(encodeUserData(0, JSON.stringify({ name: "eu-1" })));
    await until(() => names.length === 1, 5000, "slaveadded");
    assert.deepEqual(names, ["eu-1"]);
    assert.deepEqual(registered, [0]);
    await raw[Symbol.asyncDispose]();
    await until(() => removed.length === 1, 5000, "slaveremoved");
    assert.deepEqual(removed, ["eu-1"]);
    assert.deepEqual(left, [0]);
  } finally {
    const closed = nextEvent(client, "close");
    client.close();
    await closed;
  }
});

Deno.test("Master.removeEventListener() takes the typed listener it was given", async () => {
  const master = createMaster();
  const seen: number[] = [];
  const onError = (e: MasterEventMap["peererror"]) => seen.push(e.detail.id);
  master.addEventListener("peererror", onError);
  master.removeEventListener("peererror", onError);
  master.dispatchEvent(new CustomEvent("peererror", { detail: { role: "client", id: 7 } }));
  assert.deepEqual(seen, []);
  await master.close();
});

Deno.test("MeshState change events carry a typed detail and stop after removeEventListener", async () => {
  await using mesh = await joinMesh({ name: "solo", hostname: "127.0.0.1", port: 0 });
  const keys: string[] = [];
  const onChange = (e: MeshStateEventMap["change"]) =>
    keys.push(`${e.detail.key}=${e.detail.value}`);
  mesh.state.addEventListener("change", onChange);
  mesh.state.set("score", 10);
  mesh.state.removeEventListener("change", onChange);
  mesh.state.set("score", 11);
  assert.deepEqual(keys, ["score=10"]);
});
