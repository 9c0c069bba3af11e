/**
 * A UDP impairment proxy for tests: a bad network between a client and a server
 * on loopback. Clients send to {@linkcode UdpImpairProxy.address}; each client
 * source gets its own upstream socket toward the server (like a NAT), so the
 * server sees one distinct address per client. Both directions suffer seeded
 * loss, duplication, delay with jitter and extra reordering; a switch turns on
 * 100 % loss for an outage phase.
 *
 * ```ts
 * await using proxy = await UdpImpairProxy.start({
 *   target: { hostname: "127.0.0.1", port: serverPort },
 *   loss: 0.1, duplicate: 0.05, reorder: 0.1, delay: 20, jitter: 10, seed: 1,
 * });
 * client.connect(proxy.address);
 * await proxy.blackout(2000); // 100 % loss for 2 s
 * ```
 *
 * Private to the tests (not published). Needs `--unstable-net` (deno.json has it).
 *
 * @module
 */

import { prng } from "./prng.ts";

/** A loopback UDP address. */
export interface UdpAddress {
  hostname: string;
  port: number;
}

/** How the proxy damages traffic; every probability is per datagram, 0..1. */
export interface ImpairmentOptions {
  /** Where datagrams from clients go (the server). */
  target: UdpAddress;
  /** Client-facing bind address. @default {hostname: "127.0.0.1", port: 0} */
  listen?: UdpAddress;
  /** Seed of the random decisions. @default 1 */
  seed?: number;
  /** Probability a datagram is dropped. @default 0 */
  loss?: number;
  /** Probability a datagram is delivered twice (the copy gets its own delay). @default 0 */
  duplicate?: number;
  /** Probability a datagram is held back by an extra `reorderDelay`. @default 0 */
  reorder?: number;
  /** Extra delay of a held-back datagram, ms. @default 2 × jitter + 5 */
  reorderDelay?: number;
  /** Base one-way delay, ms. @default 0 */
  delay?: number;
  /** Uniform jitter added to the delay, ± ms. @default 0 */
  jitter?: number;
  /** Sees every datagram as it reaches the proxy (before impairment), e.g. to capture traffic. */
  tap?: (direction: "toServer" | "toClient", data: Uint8Array) => void;
}

/** Counters for one direction. */
export interface DirectionStats {
  /** Datagrams that reached the proxy. */
  received: number;
  /** Dropped by random loss. */
  lost: number;
  /** Dropped because the blackhole switch was on. */
  blackholed: number;
  /** Extra copies scheduled. */
  duplicated: number;
  /** Datagrams given the extra reorder delay. */
  held: number;
  /** Datagrams sent on (copies included). */
  delivered: number;
  /** Deliveries that overtook an earlier datagram (observed reordering). */
  reordered: number;
}

interface Pending {
  due: number;
  order: number;
  data: Uint8Array;
  conn: Deno.DatagramConn;
  to: Deno.NetAddr;
  serial: number;
  stats: DirectionStats & { lastSerial: number };
}

function emptyStats(): DirectionStats & { lastSerial: number } {
  return {
    received: 0,
    lost: 0,
    blackholed: 0,
    duplicated: 0,
    held: 0,
    delivered: 0,
    reordered: 0,
    lastSerial: -1,
  };
}

/** The proxy. Start with {@linkcode UdpImpairProxy.start}; close with `await using` or `close()`. */
export class UdpImpairProxy implements AsyncDisposable {
  /** Client-facing address: point clients here. */
  readonly address: UdpAddress;
  /** When true every datagram in both directions is dropped (100 % loss phase). */
  blackhole = false;

  readonly #front: Deno.DatagramConn;
  readonly #target: Deno.NetAddr;
  readonly #upstreams = new Map<string, Deno.DatagramConn>();
  readonly #random: () => number;
  readonly #options: Required<Omit<ImpairmentOptions, "target" | "listen" | "seed" | "tap">>;
  readonly #tap: ImpairmentOptions["tap"];
  #lastClient: Deno.NetAddr | undefined;
  readonly #toServer = emptyStats();
  readonly #toClient = emptyStats();
  readonly #heap: Pending[] = [];
  readonly #loops: Promise<void>[] = [];
  readonly #sends = new Set<Promise<void>>();
  #order = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDue = Infinity;
  #closed = false;

  private constructor(front: Deno.DatagramConn, options: ImpairmentOptions) {
    const {
      target,
      seed = 1,
      loss = 0,
      duplicate = 0,
      reorder = 0,
      delay = 0,
      jitter = 0,
      reorderDelay = 2 * jitter + 5,
    } = options;
    this.#front = front;
    const local = front.addr as Deno.NetAddr;
    this.address = { hostname: local.hostname, port: local.port };
    this.#target = { transport: "udp", hostname: target.hostname, port: target.port };
    this.#random = prng(seed);
    this.#options = { loss, duplicate, reorder, delay, jitter, reorderDelay };
    this.#tap = options.tap;
    this.#loops.push(this.#pumpFront());
  }

  /** Binds the client-facing socket and starts forwarding. */
  static start(options: ImpairmentOptions): Promise<UdpImpairProxy> {
    const { listen = { hostname: "127.0.0.1", port: 0 } } = options;
    const front = Deno.listenDatagram({ transport: "udp", ...listen });
    return Promise.resolve(new UdpImpairProxy(front, options));
  }

  /** Counters per direction (client → server, server → client). */
  get stats(): { toServer: DirectionStats; toClient: DirectionStats } {
    const strip = ({ lastSerial: _, ...rest }: DirectionStats & { lastSerial: number }) => rest;
    return { toServer: strip(this.#toServer), toClient: strip(this.#toClient) };
  }

  /**
   * Sends `data` to the server from the upstream socket of the most recent
   * client, so the server takes it for that client's traffic (spoofing on
   * loopback, for fuzzing). Not impaired, not counted.
   */
  async injectToServer(data: Uint8Array): Promise<void> {
    const client = this.#lastClient;
    const upstream = client && this.#upstreams.get(`${client.hostname}|${client.port}`);
    if (!upstream) throw new Error("No client has sent anything through the proxy yet");
    await upstream.send(data, this.#target);
  }

  /** Sends `data` to the most recent client as if it came from the server. */
  async injectToClient(data: Uint8Array): Promise<void> {
    if (!this.#lastClient) throw new Error("No client has sent anything through the proxy yet");
    await this.#front.send(data, this.#lastClient);
  }

  /** Drops everything in both directions for `ms`, then restores forwarding. */
  async blackout(ms: number): Promise<void> {
    this.blackhole = true;
    try {
      await new Promise((resolve) => setTimeout(resolve, ms));
    } finally {
      this.blackhole = false;
    }
  }

  async #pumpFront(): Promise<void> {
    try {
      for (;;) {
        const [data, from] = await this.#front.receive();
        const client = from as Deno.NetAddr;
        this.#lastClient = client;
        const key = `${client.hostname}|${client.port}`;
        let upstream = this.#upstreams.get(key);
        if (!upstream) {
          const v6 = this.#target.hostname.includes(":");
          upstream = Deno.listenDatagram({
            transport: "udp",
            hostname: v6 ? "::1" : "127.0.0.1",
            port: 0,
          });
          this.#upstreams.set(key, upstream);
          this.#loops.push(this.#pumpUpstream(upstream, client));
        }
        this.#impair(data, upstream, this.#target, this.#toServer);
      }
    } catch (error) {
      if (!this.#closed) throw error;
    }
  }

  async #pumpUpstream(upstream: Deno.DatagramConn, client: Deno.NetAddr): Promise<void> {
    try {
      for (;;) {
        const [data] = await upstream.receive();
        this.#impair(data, this.#front, client, this.#toClient);
      }
    } catch (error) {
      if (!this.#closed) throw error;
    }
  }

  #impair(
    data: Uint8Array,
    conn: Deno.DatagramConn,
    to: Deno.NetAddr,
    stats: DirectionStats & { lastSerial: number },
  ): void {
    this.#tap?.(stats === this.#toServer ? "toServer" : "toClient", data);
    const serial = stats.received++;
    if (this.blackhole) {
      stats.blackholed++;
      return;
    }
    const { loss, duplicate, reorder, delay, jitter, reorderDelay } = this.#options;
    // Draw every decision for every datagram so a seed gives the same fates
    // whatever the settings of the other knobs.
    const lost = this.#random() < loss;
    const duplicated = this.#random() < duplicate;
    const held = this.#random() < reorder;
    const jitter1 = (this.#random() * 2 - 1) * jitter;
    const jitter2 = (this.#random() * 2 - 1) * jitter;
    if (lost) {
      stats.lost++;
      return;
    }
    const now = performance.now();
    const base = Math.max(0, delay + jitter1 + (held ? reorderDelay : 0));
    if (held) stats.held++;
    this.#schedule({ due: now + base, order: this.#order++, data, conn, to, serial, stats });
    if (duplicated) {
      stats.duplicated++;
      this.#schedule({
        due: now + Math.max(0, delay + jitter2),
        order: this.#order++,
        data,
        conn,
        to,
        serial,
        stats,
      });
    }
  }

  #schedule(item: Pending): void {
    if (this.#closed) return;
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
    this.#arm();
  }

  #pop(): Pending | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l], heap[m])) m = l;
        if (r < heap.length && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  }

  #arm(): void {
    if (this.#closed || this.#heap.length === 0) return;
    const due = this.#heap[0].due;
    if (this.#timer !== undefined && due >= this.#timerDue) return;
    clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerDue = Infinity;
      this.#release();
    }, Math.max(0, due - performance.now()));
  }

  #release(): void {
    const now = performance.now();
    while (this.#heap.length > 0 && this.#heap[0].due <= now + 0.5) {
      const item = this.#pop()!;
      const { stats } = item;
      stats.delivered++;
      if (item.serial < stats.lastSerial) stats.reordered++;
      else stats.lastSerial = item.serial;
      const sending: Promise<void> = item.conn.send(item.data, item.to).then(
        () => {},
        () => {/* closed or full: counts as loss */},
      ).finally(() => this.#sends.delete(sending));
      this.#sends.add(sending);
    }
    this.#arm();
  }

  /** Stops forwarding, drops what is in flight and closes every socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#heap.length = 0;
    await Promise.allSettled([...this.#sends]);
    this.#front.close();
    for (const upstream of this.#upstreams.values()) upstream.close();
    await Promise.allSettled(this.#loops);
  }

  /** Same as {@linkcode UdpImpairProxy.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function before(a: Pending, b: Pending): boolean {
  return a.due < b.due || (a.due === b.due && a.order < b.order);
}
