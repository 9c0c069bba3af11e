/**
 * Several masters sharing one slave list over a cluster (`createMaster({ cluster })`).
 *
 * Each master lists its own registered slaves in the cluster directory `netkit-webrtc`
 * (entry `<nodeId>-<slaveId>`, meta = the userData JSON) plus one entry `<nodeId>` for itself,
 * all kept alive by the directory's heartbeat. Every master watches the directory and lists the
 * other masters' slaves to its clients under ids of its own (the browser wire protocol does not
 * change). Signalling between a client on master B and a slave on master A travels as cluster
 * messages on `netkit.webrtc.<nodeId>` of the master that holds the other end; see
 * `webrtc/PROTOCOL.md` ("Relaying between masters"). Data channels still go client→slave.
 *
 * This file takes the cluster object it is given; it never imports an engine client.
 *
 * @module
 */

import type { Cluster } from "../cluster/types.ts";
import type { Directory } from "../cluster/directory.ts";
import { PacketType } from "./_protocol.ts";

/** The directory every federated master writes to. */
export const FEDERATION_DIRECTORY = "netkit-webrtc";
const SUBJECT_PREFIX = "netkit.webrtc.";
/** Relay message kinds. */
const TO_SLAVE = 1;
const TO_CLIENT = 2;
const HEAD = 1 + 4 + 4;

/** Packets a master may relay to a slave's master, and back to a client's master. */
const TO_SLAVE_TYPES: ReadonlySet<number> = new Set([
  PacketType.OFFER_FROM_CLIENT,
  PacketType.ICE_CANDIDATE_FROM_CLIENT,
  PacketType.CLIENT_IDENTITY,
  PacketType.CLIENT_LEFT,
  PacketType.CLOSE_FROM_CLIENT,
]);
const TO_CLIENT_TYPES: ReadonlySet<number> = new Set([
  PacketType.ANSWER_TO_CLIENT,
  PacketType.ICE_CANDIDATE_TO_CLIENT,
  PacketType.REJECT_TO_CLIENT,
  PacketType.CLOSE_TO_CLIENT,
]);

/** What the master does for the federation. */
export interface FederationHooks {
  /** Another master's slave appeared: list it; returns its local id (undefined when refused). */
  addRemote(node: string, slaveId: number, userDataJson: string): number | undefined;
  /** Its userData changed. */
  updateRemote(localId: number, userDataJson: string): void;
  /** It is gone (unregistered, or its master died). */
  removeRemote(localId: number): void;
  /** A slave→client packet (client id already local) from the master of remote slave `localId`. */
  fromRemoteSlave(localId: number, bytes: Uint8Array): void;
  /** A client→slave packet for local slave `slaveId` from a client `clientId` of master `node`. */
  toLocalSlave(node: string, clientId: number, slaveId: number, bytes: Uint8Array): void;
  /** Master `node` is gone: forget its clients. */
  nodeGone(node: string): void;
}

interface Remote {
  node: string;
  slaveId: number;
  localId: number;
  json: string;
}

/** Frames a relay message. */
function frame(kind: number, slaveId: number, clientId: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEAD + bytes.length);
  out[0] = kind;
  const view = new DataView(out.buffer);
  view.setUint32(1, slaveId);
  view.setUint32(5, clientId);
  out.set(bytes, HEAD);
  return out;
}

/** One master's membership in the federation. */
export class Federation {
  #cluster: Cluster;
  #hooks: FederationHooks;
  #directory: Directory;
  #node: string;
  /** Remote slaves by `<node>-<slaveId>` (the directory id). */
  #remotes = new Map<string, Remote>();
  #byLocalId = new Map<number, Remote>();
  /** Directory writes per local slave, one after the other. */
  #chains = new Map<number, Promise<unknown>>();
  #abort = new AbortController();
  #running: Promise<unknown>;
  #ready: Promise<void>;

  constructor(cluster: Cluster, hooks: FederationHooks, maxUserDataSize: number) {
    this.#cluster = cluster;
    this.#hooks = hooks;
    this.#node = cluster.nodeId;
    this.#directory = cluster.directory(FEDERATION_DIRECTORY, {
      maxMetaBytes: maxUserDataSize + 64,
    });
    const subscription = cluster.subscribe(SUBJECT_PREFIX + this.#node, {
      signal: this.#abort.signal,
    });
    const relay = (async () => {
      for await (const message of subscription) {
        if (message.data instanceof Uint8Array) this.#onRelay(message.nodeId, message.data);
      }
    })();
    const watch = this.#watch();
    this.#ready = Promise.all([
      subscription.ready,
      this.#directory.register({
        id: this.#node,
        address: { hostname: "master", port: 0, protocol: "webrtc-master" },
        capacity: 0,
        meta: { kind: "master" },
      }),
    ]).then(() => {});
    this.#ready.catch(() => {});
    this.#running = Promise.allSettled([relay, watch]);
  }

  /** Settles once this master is listed and receives relays. */
  get ready(): Promise<void> {
    return this.#ready;
  }

  async #watch(): Promise<void> {
    try {
      for await (const { type, entry } of this.#directory.watch({ signal: this.#abort.signal })) {
        if (entry.nodeId === this.#node) continue;
        if (entry.meta.kind === "master") {
          if (type === "removed") this.#hooks.nodeGone(entry.nodeId);
          continue;
        }
        const slaveId = entry.meta.slave;
        const json = entry.meta.userData;
        if (typeof slaveId !== "number" || typeof json !== "string") continue;
        const key = entry.id;
        const known = this.#remotes.get(key);
        if (type === "removed") {
          if (!known) continue;
          this.#remotes.delete(key);
          this.#byLocalId.delete(known.localId);
          this.#hooks.removeRemote(known.localId);
        } else if (!known) {
          // Only the registering master may speak for a slave: the directory id carries its node.
          if (key !== `${entry.nodeId}-${slaveId}`) continue;
          const localId = this.#hooks.addRemote(entry.nodeId, slaveId, json);
          if (localId === undefined) continue;
          const remote = { node: entry.nodeId, slaveId, localId, json };
          this.#remotes.set(key, remote);
          this.#byLocalId.set(localId, remote);
        } else if (known.json !== json) {
          known.json = json;
          this.#hooks.updateRemote(known.localId, json);
        }
      }
    } catch {
      // The cluster closed.
    }
  }

  #onRelay(from: string, message: Uint8Array): void {
    if (message.length <= HEAD || from === this.#node) return;
    const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
    const slaveId = view.getUint32(1);
    const clientId = view.getUint32(5);
    // A copy: rewriting ids in place must not touch the subscription's buffer.
    const bytes = message.slice(HEAD);
    if (bytes.length < 5) return;
    if (message[0] === TO_SLAVE) {
      if (!TO_SLAVE_TYPES.has(bytes[0])) return;
      this.#hooks.toLocalSlave(from, clientId, slaveId, bytes);
    } else if (message[0] === TO_CLIENT) {
      if (!TO_CLIENT_TYPES.has(bytes[0])) return;
      // Only the master that registered slave `slaveId` speaks for it.
      const remote = this.#remotes.get(`${from}-${slaveId}`);
      if (!remote) return;
      new DataView(bytes.buffer).setUint32(1, clientId);
      this.#hooks.fromRemoteSlave(remote.localId, bytes);
    }
  }

  /** Sends a client→slave packet (its id = our client's id) to the master of remote slave `localId`. */
  sendToSlave(localId: number, bytes: Uint8Array): Promise<void> {
    const remote = this.#byLocalId.get(localId);
    if (!remote) return Promise.resolve();
    const clientId = new DataView(bytes.buffer, bytes.byteOffset).getUint32(1);
    return this.#cluster.publish(
      SUBJECT_PREFIX + remote.node,
      frame(TO_SLAVE, remote.slaveId, clientId, bytes),
    );
  }

  /** Sends a slave→client packet to client `clientId` of master `node`. */
  sendToClient(node: string, slaveId: number, clientId: number, bytes: Uint8Array): void {
    this.#cluster.publish(SUBJECT_PREFIX + node, frame(TO_CLIENT, slaveId, clientId, bytes.slice()))
      .catch(() => {});
  }

  #chain(slaveId: number, step: () => Promise<unknown>): void {
    const next = (this.#chains.get(slaveId) ?? Promise.resolve()).then(step).catch(() => {});
    this.#chains.set(slaveId, next);
    next.then(() => {
      if (this.#chains.get(slaveId) === next) this.#chains.delete(slaveId);
    });
  }

  /** A local slave registered. */
  slaveRegistered(slaveId: number, userDataJson: string): void {
    this.#chain(slaveId, () =>
      this.#directory.register({
        id: `${this.#node}-${slaveId}`,
        address: { hostname: "master", port: 0, protocol: "webrtc-slave" },
        capacity: 0,
        meta: { slave: slaveId, userData: userDataJson },
      }));
  }

  /** A local slave's userData changed. */
  slaveUpdated(slaveId: number, userDataJson: string): void {
    this.#chain(slaveId, () =>
      this.#directory.update(`${this.#node}-${slaveId}`, {
        meta: { slave: slaveId, userData: userDataJson },
      }));
  }

  /** A local slave left. */
  slaveLeft(slaveId: number): void {
    this.#chain(slaveId, () => this.#directory.unregister(`${this.#node}-${slaveId}`));
  }

  /** Whether `localId` is another master's slave. */
  isRemote(localId: number): boolean {
    return this.#byLocalId.has(localId);
  }

  /** Leaves the federation: this master's entries go, relays stop. */
  async close(): Promise<void> {
    await Promise.all(this.#chains.values());
    this.#abort.abort();
    const own = (await this.#directory.list().catch(() => []))
      .filter((entry) => entry.nodeId === this.#node);
    await Promise.all(own.map((entry) => this.#directory.unregister(entry.id).catch(() => {})));
    await this.#running;
  }
}
