/**
 * The datagram socket under a host: `Deno.listenDatagram` when the runtime
 * offers it (`--unstable-net`), `node:dgram` otherwise. Both deliver bursts:
 * every datagram already queued in the kernel is handed to `onDatagram`
 * before `onBurstEnd` runs once, so the engine can flush the acknowledgements
 * of a whole burst in one pass.
 *
 * @module
 */

import { ENET_PROTOCOL_MAXIMUM_MTU } from "./_protocol.ts";
import { copyBytes } from "./_slab.ts";

/** A UDP endpoint: host name or IP literal, and port. */
export interface Address {
  /** IPv4 or IPv6 literal (or a name resolved by the runtime). */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** Receives one datagram; `data` is only valid during the call. */
export type DatagramHandler = (data: Uint8Array, hostname: string, port: number) => void;

/** What the engine needs from a UDP socket. */
export interface DatagramSocket {
  /** The address actually bound. */
  readonly address: Address;
  /** Which implementation is in use. */
  readonly kind: "deno" | "node";
  /** Sends a copy of `data`; errors (unreachable, buffer full) count as loss. */
  send(data: Uint8Array, hostname: string, port: number): void;
  /** Releases the socket; pending receives end quietly. */
  close(): Promise<void>;
}

/** Options for {@linkcode openDatagramSocket}. */
export interface OpenDatagramSocketOptions {
  /** Address to bind. */
  address: Address;
  /** Called once per datagram. */
  onDatagram: DatagramHandler;
  /** Called once after each burst of datagrams. */
  onBurstEnd: () => void;
  /** Use `node:dgram` even when `Deno.listenDatagram` exists (tests). */
  forceNode?: boolean;
}

/** How many receives are kept pending on a Deno socket so bursts resolve together. */
const CONCURRENT_RECEIVES = 16;

type ListenDatagram = (options: {
  transport: "udp";
  hostname: string;
  port: number;
  reuseAddress?: boolean;
}) => Deno.DatagramConn;

/** Opens a UDP socket bound to `address`. */
export async function openDatagramSocket(
  options: OpenDatagramSocketOptions,
): Promise<DatagramSocket> {
  const listen = (globalThis as { Deno?: { listenDatagram?: ListenDatagram } }).Deno
    ?.listenDatagram;
  if (typeof listen === "function" && !options.forceNode) {
    return openDeno(listen, options);
  }
  return await openNode(options);
}

function openDeno(listen: ListenDatagram, options: OpenDatagramSocketOptions): DatagramSocket {
  const { onDatagram, onBurstEnd } = options;
  const conn = listen({
    transport: "udp",
    hostname: options.address.hostname,
    port: options.address.port,
  });
  const bound = conn.addr as Deno.NetAddr;
  let closed = false;
  let burstScheduled = false;
  const endBurst = () => {
    burstScheduled = false;
    if (!closed) onBurstEnd();
  };
  const loops: Promise<void>[] = [];
  const receiveLoop = async () => {
    const buffer = new Uint8Array(ENET_PROTOCOL_MAXIMUM_MTU);
    while (!closed) {
      let data: Uint8Array;
      let from: Deno.NetAddr;
      try {
        const [received, addr] = await conn.receive(buffer);
        data = received;
        from = addr as Deno.NetAddr;
      } catch {
        if (closed) return;
        continue;
      }
      if (closed) return;
      try {
        onDatagram(data, from.hostname, from.port);
      } finally {
        if (!burstScheduled) {
          burstScheduled = true;
          queueMicrotask(endBurst);
        }
      }
    }
  };
  for (let i = 0; i < CONCURRENT_RECEIVES; i++) loops.push(receiveLoop());
  const targets = new Map<string, Deno.NetAddr>();
  return {
    address: { hostname: bound.hostname, port: bound.port },
    kind: "deno",
    send(data, hostname, port) {
      if (closed) return;
      const key = `${hostname}|${port}`;
      let target = targets.get(key);
      if (target === undefined) {
        if (targets.size > 4096) targets.clear();
        target = { transport: "udp", hostname, port };
        targets.set(key, target);
      }
      conn.send(copyBytes(data), target).catch(() => {});
    },
    async close() {
      if (closed) return;
      closed = true;
      conn.close();
      await Promise.allSettled(loops);
    },
  };
}

async function openNode(options: OpenDatagramSocketOptions): Promise<DatagramSocket> {
  const { onDatagram, onBurstEnd } = options;
  const dgram = await import("node:dgram");
  const family = options.address.hostname.includes(":") ? "udp6" : "udp4";
  const socket = dgram.createSocket({ type: family });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(options.address.port, options.address.hostname, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  let closed = false;
  let burstScheduled = false;
  // Node runs microtasks after every 'message' callback; setImmediate runs
  // after the poll phase has delivered every datagram already readable.
  const endBurst = () => {
    burstScheduled = false;
    if (!closed) onBurstEnd();
  };
  socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
    if (closed) return;
    try {
      onDatagram(msg, rinfo.address, rinfo.port);
    } finally {
      if (!burstScheduled) {
        burstScheduled = true;
        setImmediate(endBurst);
      }
    }
  });
  socket.on("error", () => {});
  const bound = socket.address();
  return {
    address: { hostname: bound.address, port: bound.port },
    kind: "node",
    send(data, hostname, port) {
      if (closed) return;
      socket.send(copyBytes(data), port, hostname, () => {});
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
