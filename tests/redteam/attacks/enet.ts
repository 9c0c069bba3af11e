/**
 * Attacks on an ENet host, as exported functions the red-team tests run
 * against a server in its own process (issue 15, enet rows 17 and 18).
 *
 * - {@linkcode connectFlood}: forged CONNECTs from many source addresses
 *   (every 127.x.y.z is loopback on Linux, which stands in for spoofed
 *   sources), none of which ever completes the handshake.
 * - {@linkcode blastPeers}: real ENet peers that send reliable packets as
 *   fast as their send window allows at an application that consumes them
 *   slowly.
 *
 * @module
 */
import { createHost, type Host, type Peer } from "../../../enet/mod.ts";
import { prng } from "../../_tools/prng.ts";

/** A UDP address. */
export interface Target {
  hostname: string;
  port: number;
}

/** A stock-looking CONNECT datagram (what `enet_host_connect` sends) with a random connectID. */
export function forgedConnect(random: () => number, channelCount = 2): Uint8Array {
  const datagram = new Uint8Array(4 + 48);
  const view = new DataView(datagram.buffer);
  view.setUint16(0, 0x8000 | 0xFFF); // SENT_TIME, no peer yet
  view.setUint16(2, Math.floor(random() * 0x10000));
  view.setUint8(4, 0x82); // CONNECT | ACKNOWLEDGE
  view.setUint8(5, 0xFF);
  view.setUint16(6, 1);
  view.setUint16(8, Math.floor(random() * 4095)); // outgoingPeerID
  view.setUint8(10, 0xFF);
  view.setUint8(11, 0xFF);
  view.setUint32(12, 1392); // mtu
  view.setUint32(16, 65536); // windowSize
  view.setUint32(20, channelCount);
  view.setUint32(32, 5000); // throttle interval, acceleration, deceleration
  view.setUint32(36, 2);
  view.setUint32(40, 2);
  view.setUint32(44, Math.floor(random() * 0x100000000)); // connectID
  return datagram;
}

/** What a {@linkcode connectFlood} did. */
export interface ConnectFloodResult {
  /** CONNECT datagrams sent. */
  sent: number;
  /** Achieved rate, CONNECTs per second. */
  rate: number;
}

/**
 * Sends forged CONNECTs at `perSecond` from `sources` sockets bound to
 * distinct 127.x.y.z addresses until `signal` aborts. None is ever
 * acknowledged, like a spoofed flood (upstream lsalzman/enet#278), and the
 * replies are never read (a spoofer never sees them; reading 30 000 a
 * second would also starve the probes that share this process).
 */
export async function connectFlood(
  target: Target,
  { perSecond, sources = 64, seed = 278, signal }: {
    perSecond: number;
    sources?: number;
    seed?: number;
    signal: AbortSignal;
  },
): Promise<ConnectFloodResult> {
  const random = prng(seed);
  const sockets: Deno.DatagramConn[] = [];
  for (let i = 0; i < sources; i++) {
    const hostname = `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${(i & 255) + 1}`;
    sockets.push(Deno.listenDatagram({ transport: "udp", hostname, port: 0 }));
  }
  const to = { transport: "udp" as const, ...target };
  let sent = 0;
  const started = performance.now();
  while (!signal.aborted) {
    const due = Math.floor((performance.now() - started) * perSecond / 1000);
    const batch: Promise<number>[] = [];
    while (sent < due && batch.length < 256) {
      batch.push(sockets[sent % sources].send(forgedConnect(random), to).catch(() => 0));
      sent++;
    }
    await Promise.all(batch);
    if (sent >= due) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const elapsed = (performance.now() - started) / 1000;
  for (const socket of sockets) socket.close();
  return { sent, rate: Math.round(sent / elapsed) };
}

/** What one blasting peer of {@linkcode blastPeers} saw. */
export interface BlasterResult {
  /** Packets written into the channel stream. */
  written: number;
  /** How the connection ended (`"timeout"`, `"remote"`), or `"open"` if it lasted. */
  outcome: string;
}

/**
 * Connects `peers` ENet clients and has each write `size`-byte reliable
 * packets (a 4-byte big-endian sequence number, then filler) through its
 * channel 0 writable stream as fast as backpressure allows, until `signal`
 * aborts. Resolves once every client host is closed.
 */
export async function blastPeers(
  target: Target,
  { peers, size, signal, data = 0x0B1A }: {
    peers: number;
    size: number;
    signal: AbortSignal;
    data?: number;
  },
): Promise<BlasterResult[]> {
  const hosts: Host[] = [];
  const connections: Peer[] = [];
  // Every wait below races this, so the attack ends with its signal even while a write is
  // blocked on a full send window (a blocked `writer.write` does not see the signal).
  const aborted = new Promise<"aborted">((resolve) => {
    if (signal.aborted) resolve("aborted");
    else signal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
  try {
    for (let i = 0; i < peers && !signal.aborted; i++) {
      const host = await createHost({ address: { hostname: "127.0.0.1", port: 0 }, peerCount: 1 });
      hosts.push(host);
      // Events of the blasting side are irrelevant; drain them so none pile up.
      void (async () => {
        for await (const _ of host) { /* drain */ }
      })();
      try {
        connections.push(await host.connect(target, { channelCount: 1, data, signal }));
      } catch (error) {
        if (signal.aborted) break;
        throw error;
      }
    }
    const results = await Promise.all(connections.map(async (peer) => {
      const writer = peer.channel(0).writable.getWriter();
      let written = 0;
      let outcome = "open";
      peer.closed.then((info) => outcome = info.reason);
      try {
        while (!signal.aborted && outcome === "open") {
          const packet = new Uint8Array(size);
          new DataView(packet.buffer).setUint32(0, written);
          packet.fill(0x5A, 4);
          const write = writer.write(packet);
          // Closing the host below rejects a write left blocked here; that is expected.
          write.catch(() => {});
          if (await Promise.race([write, aborted]) === "aborted") break;
          written++;
          // Let the socket and the timer run between stream writes.
          if ((written & 63) === 0) {
            await Promise.race([new Promise((resolve) => setTimeout(resolve, 0)), aborted]);
          }
        }
      } catch (error) {
        // A write fails when the connection ends: report how it ended.
        outcome = peer.state === "disconnected"
          ? (await Promise.race([peer.closed, aborted.then(() => ({ reason: "open" }))])).reason
          : (error as { code?: string }).code ?? String(error);
      }
      // A write still blocked keeps going after the release and is rejected when the host closes.
      writer.releaseLock();
      return { written, outcome };
    }));
    return results;
  } finally {
    await Promise.all(hosts.map((host) => host.close()));
  }
}

/**
 * A well-behaved client's probe for `probeDuring`: connect, send `payload`
 * on channel 0, wait for the echo. Aborting `signal` closes the client, so
 * a probe that missed its deadline still ends; `pending` collects every
 * probe so the test can await them all before its sanitizers run.
 */
export function echoProbe(
  target: Target,
  payload: Uint8Array,
  pending: Set<Promise<void>>,
): (signal: AbortSignal) => Promise<void> {
  return (signal) => {
    const run = (async () => {
      const client = await createHost({
        address: { hostname: "127.0.0.1", port: 0 },
        peerCount: 1,
      });
      const close = () => void client.close();
      signal.addEventListener("abort", close, { once: true });
      try {
        const peer = await client.connect(target, { channelCount: 1, signal });
        peer.send(0, payload);
        for await (const event of client) {
          if (event.type === "receive") return;
        }
        signal.throwIfAborted();
      } finally {
        signal.removeEventListener("abort", close);
        await client.close();
      }
    })();
    const settled = run.catch(() => {});
    pending.add(settled);
    settled.then(() => pending.delete(settled));
    return run;
  };
}
