/**
 * The datagram socket under a host: `Deno.listenDatagram` when the runtime
 * offers it (`--unstable-net`), `node:dgram` otherwise. On Linux with the FFI
 * permission granted, the Deno socket sends and drains in batches through
 * {@linkcode UdpBatch}. All deliver bursts: every datagram already queued in
 * the kernel is handed to `onDatagram` before `onBurstEnd` runs once, so the
 * engine can flush the acknowledgements of a whole burst in one pass.
 *
 * @module
 */

import { ENET_PROTOCOL_MAXIMUM_MTU } from "./_protocol.ts";
import { UdpBatch } from "./_udp_batch.ts";

/** A UDP endpoint: host name or IP literal, and port. */
export interface Address {
  /** IPv4 or IPv6 literal, or a name (`Host.connect()` resolves it). */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** A datagram's source address as the engine compares it: IPv4-mapped IPv6 as IPv4. */
function canonicalSource(hostname: string): string {
  return hostname.charCodeAt(0) === 0x3A && hostname.startsWith("::ffff:") && hostname.includes(".")
    ? hostname.slice(7)
    : hostname;
}

/** Size of a {@linkcode SendChunk}: about 45 datagrams of 1392 bytes. */
const SEND_CHUNK_SIZE = 64 * 1024;

/**
 * A buffer the engine builds datagrams in and hands to the socket without a
 * copy. The runtime reads a datagram's bytes when the send runs, so the
 * engine reuses a chunk only once `pending` is back to 0.
 */
export class SendChunk {
  readonly bytes: Uint8Array = new Uint8Array(SEND_CHUNK_SIZE);
  readonly view: DataView = new DataView(this.bytes.buffer);
  /** Sends handed to the socket and not completed. */
  pending = 0;
  /** Completion callback of every send from this chunk (one closure per chunk, not per send). */
  readonly release = (): void => {
    this.pending--;
  };
}

/** Receives one datagram; `data` is only valid during the call. */
export type DatagramHandler = (data: Uint8Array, hostname: string, port: number) => void;

/** What the engine needs from a UDP socket. */
export interface DatagramSocket {
  /** The address actually bound. */
  readonly address: Address;
  /** Which implementation is in use (`"deno-batched"`: Deno's socket with `sendmmsg`/`recvmmsg`). */
  readonly kind: "deno" | "deno-batched" | "node";
  /**
   * Sends `data` to `address`; errors (unreachable, buffer full) count as
   * loss. When `chunk` is given, `data` lies in it and must stay untouched
   * until the send completes (`chunk.pending` is back down); otherwise the
   * caller gives up `data`.
   */
  send(data: Uint8Array, address: Address, chunk: SendChunk | null): void;
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
  /** `"auto"`: the fastest available; `"deno"`: `Deno.listenDatagram`, one op per datagram; `"node"`: `node:dgram`. */
  implementation: "auto" | "deno" | "node";
}

/**
 * How many receives are kept pending on a Deno socket without batched
 * receives, so bursts resolve together. (Each wake-up also costs a failed
 * receive call per pending op, which the batched socket avoids with one.)
 */
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
  if (typeof listen === "function" && options.implementation !== "node") {
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
  const batch = options.implementation === "auto"
    ? UdpBatch.open(bound.hostname, bound.port, ENET_PROTOCOL_MAXIMUM_MTU)
    : null;
  let closed = false;
  let burstScheduled = false;
  const endBurst = () => {
    burstScheduled = false;
    if (!closed) onBurstEnd();
  };
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    batch?.flush();
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
        onDatagram(data, canonicalSource(from.hostname), from.port);
        // The rest of the burst in one call; the one pending receive op
        // (re-armed after this) keeps the datagrams in order.
        batch?.drain(onDatagram);
      } finally {
        if (!burstScheduled) {
          burstScheduled = true;
          queueMicrotask(endBurst);
        }
      }
    }
  };
  const receives = batch === null ? CONCURRENT_RECEIVES : 1;
  for (let i = 0; i < receives; i++) loops.push(receiveLoop());
  const ignore = () => {};
  return {
    address: { hostname: bound.hostname, port: bound.port },
    kind: batch === null ? "deno" : "deno-batched",
    send(data, address, chunk) {
      if (closed) return;
      if (batch !== null && batch.queue(data, address, chunk)) {
        // Sent with the rest of this microtask pass's datagrams.
        if (chunk !== null) chunk.pending++;
        if (!flushScheduled) {
          flushScheduled = true;
          queueMicrotask(flush);
        }
        return;
      }
      // `send` reads only hostname and port: the engine's address object serves as is.
      const sent = conn.send(data, address as Deno.NetAddr);
      if (chunk === null) sent.catch(ignore);
      else {
        chunk.pending++;
        sent.then(chunk.release, chunk.release);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      batch?.close(); // sends what is queued, then never touches the descriptor again
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
      onDatagram(msg, canonicalSource(rinfo.address), rinfo.port);
    } finally {
      if (!burstScheduled) {
        burstScheduled = true;
        setImmediate(endBurst);
      }
    }
  });
  socket.on("error", () => {});
  const ignore = () => {};
  const bound = socket.address();
  return {
    address: { hostname: bound.address, port: bound.port },
    kind: "node",
    send(data, address, chunk) {
      if (closed) return;
      // A udp6 socket reaches IPv4 peers through their IPv4-mapped address.
      const hostname = family === "udp6" && !address.hostname.includes(":")
        ? `::ffff:${address.hostname}`
        : address.hostname;
      if (chunk === null) socket.send(data, address.port, hostname, ignore);
      else {
        chunk.pending++;
        socket.send(data, address.port, hostname, chunk.release);
      }
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
