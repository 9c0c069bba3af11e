/**
 * Batched system calls on the descriptor of a `Deno.listenDatagram` socket:
 * `sendmmsg` hands every datagram the engine built in one microtask pass to
 * the kernel in one call, and `recvmmsg` drains what the kernel queued after
 * the runtime's receive op reported the first datagram. One runtime op per
 * datagram costs 6–8 µs on loopback (C ENet spends about 5 µs on a whole 1 KB
 * message); one `sendmmsg` of 64 costs 2–3 µs per datagram.
 *
 * Used only where it cannot surprise anyone: Linux on x86-64 or AArch64 (the
 * struct layouts below are the LP64 ones of glibc and musl), with the FFI
 * permission already granted (never prompted for) and libc loadable. The
 * runtime keeps owning the socket: it polls, receives the first datagram of
 * every burst and closes it; this file only borrows the descriptor between
 * those points, and never after `close()`.
 *
 * @module
 */

import { ipBytes, ipText, MAPPED_IPV4, MAPPED_MARK } from "./_ip.ts";

/** `AF_INET` from `<sys/socket.h>`. */
const AF_INET = 2;
/** `AF_INET6` on Linux. */
const AF_INET6 = 10;
/** `SOL_SOCKET` on Linux x86-64 and AArch64. */
const SOL_SOCKET = 1;
/** `SO_TYPE` on Linux x86-64 and AArch64. */
const SO_TYPE = 3;
/** `SOCK_DGRAM` on Linux x86-64 and AArch64. */
const SOCK_DGRAM = 2;
/** `MSG_DONTWAIT`: return what is queued instead of blocking. */
const MSG_DONTWAIT = 0x40;
/** `MSG_TRUNC` in `msg_flags`: the datagram was longer than its buffer. */
const MSG_TRUNC = 0x20;

/** Offsets in `struct sockaddr_in`/`sockaddr_in6`: family (host order), port (network order), address. */
const SA_FAMILY = 0;
const SIN_PORT = 2;
const SIN_ADDR = 4;
const SIN6_ADDR = 8;
/** `sizeof(struct sockaddr_in6)`, room for either family. */
const SOCKADDR_SIZE = 28;
/** `sizeof(struct sockaddr_in)`. */
const SOCKADDR_IN_SIZE = 16;
/** `sizeof(struct iovec)`: base pointer, length. */
const IOVEC_SIZE = 16;
/** `sizeof(struct mmsghdr)`: a 56-byte `struct msghdr`, then `msg_len` and padding. */
const MMSGHDR_SIZE = 64;
/** Offsets in `struct mmsghdr` (LP64). */
const MSG_NAME = 0;
const MSG_NAMELEN = 8;
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_FLAGS = 48;
const MSG_LEN = 56;

/** Datagrams per `sendmmsg`/`recvmmsg` call. */
export const UDP_BATCH_SIZE = 64;
/** `recvmmsg` calls per wake-up before the engine gets to flush (256 datagrams). */
const DRAIN_CALLS = 4;
/** Descriptors probed with `getsockname` when `/proc/self/fd` cannot be listed. */
const DESCRIPTOR_SCAN_LIMIT = 4096;
/** Source addresses whose string form is kept (a cache, emptied when full). */
export const SOURCE_CACHE_SIZE = 1024;

const symbols = {
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof symbols>;

/** Where a batch of outgoing datagrams comes from: a buffer that stays put until the batch is sent. */
export interface BatchSource {
  /** The buffer the datagram lies in (its whole `ArrayBuffer` is addressed). */
  readonly bytes: Uint8Array;
  /** Called once per datagram queued from it, when that datagram was handed to the kernel (or dropped). */
  release(): void;
}

/** Receives one datagram; `data` is only valid during the call. */
type Handler = (data: Uint8Array, hostname: string, port: number) => void;

/** Whether the batched layer may be tried at all (platform and granted permission; no prompt). */
export function batchedUdpAllowed(): boolean {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno?.build === undefined || typeof deno.dlopen !== "function") return false;
  if (deno.build.os !== "linux") return false;
  if (deno.build.arch !== "x86_64" && deno.build.arch !== "aarch64") return false;
  try {
    return deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

function openLibc(): Libc | null {
  for (const name of ["libc.so.6", "libc.so"]) {
    try {
      return Deno.dlopen(name, symbols);
    } catch {
      // not this name (glibc or musl); try the next
    }
  }
  return null;
}

/** An `ArrayBuffer` of `size` bytes, off the JS heap so its address never moves, and that address. */
function pinned(size: number): [Uint8Array, number] {
  const bytes = new Uint8Array(new ArrayBuffer(size));
  return [bytes, Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)))];
}

/** Address bytes and port of a bound socket as `getsockname` reports them. */
function boundAs(libc: Libc, fd: number, name: Uint8Array, length: Uint32Array): boolean {
  length[0] = SOCKADDR_SIZE;
  return libc.symbols.getsockname(fd, name, length) === 0;
}

/**
 * The descriptor of the datagram socket bound to `family`/`port`/`address`
 * in this process, or -1. A bound UDP address belongs to one socket, so the
 * match is unambiguous; the runtime just created it, so with POSIX's lowest
 * free descriptor rule the scan from 3 meets it early.
 */
function findDescriptor(libc: Libc, family: number, port: number, address: Uint8Array): number {
  const name = new Uint8Array(new ArrayBuffer(SOCKADDR_SIZE));
  const nameView = new DataView(name.buffer);
  const length = new Uint32Array(1);
  const type = new Int32Array(1);
  const typeLength = new Uint32Array(1);
  const matches = (fd: number): boolean => {
    if (!boundAs(libc, fd, name, length)) return false;
    if (nameView.getUint16(SA_FAMILY, true) !== family) return false;
    if (nameView.getUint16(SIN_PORT) !== port) return false;
    const at = family === AF_INET ? SIN_ADDR : SIN6_ADDR;
    for (let i = 0; i < address.length; i++) if (name[at + i] !== address[i]) return false;
    typeLength[0] = 4;
    return libc.symbols.getsockopt(
          fd,
          SOL_SOCKET,
          SO_TYPE,
          new Uint8Array(type.buffer),
          new Uint8Array(typeLength.buffer),
        ) === 0 &&
      type[0] === SOCK_DGRAM;
  };
  let candidates: Iterable<number> | null = null;
  try {
    if (Deno.permissions.querySync({ name: "read", path: "/proc/self/fd" }).state === "granted") {
      candidates = [...Deno.readDirSync("/proc/self/fd")].map((entry) => Number(entry.name))
        .filter((fd) => fd > 2).sort((a, b) => a - b);
    }
  } catch {
    candidates = null;
  }
  if (candidates === null) {
    candidates = (function* () {
      for (let fd = 3; fd < DESCRIPTOR_SCAN_LIMIT; fd++) yield fd;
    })();
  }
  for (const fd of candidates) if (matches(fd)) return fd;
  return -1;
}

/**
 * `sendmmsg`/`recvmmsg` on one socket's descriptor. Outgoing datagrams are
 * queued by {@linkcode queue} and sent by {@linkcode flush} (at the latest
 * when the batch is full); {@linkcode drain} receives what is queued in the
 * kernel without waiting.
 */
export class UdpBatch {
  readonly #libc: Libc;
  readonly #fd: number;
  /** `AF_INET` or `AF_INET6`: the family of the socket, and so of every `msg_name`. */
  readonly #family: number;
  #closed = false;

  // Outgoing: mmsghdrs, iovecs and names of the queued datagrams.
  readonly #sendHeaders: Uint8Array;
  readonly #sendIovecWords: Uint32Array;
  readonly #sendNames: Uint8Array;
  #queued = 0;
  /** Sources of the queued datagrams, released once sent. */
  readonly #sources: (BatchSource | null)[] = [];
  /** Copies of datagrams that have no pinned buffer of their own. */
  readonly #staging: Uint8Array;
  readonly #stagingAddress: number;
  #stagingUsed = 0;
  /**
   * `address` → its `sockaddr` bytes for the socket's family (null: not an
   * IP literal here), with the hostname and port they were made from, in
   * case the object changes.
   */
  readonly #names = new WeakMap<
    object,
    { hostname: string; port: number; name: Uint8Array | null }
  >();
  /** Address of byte 0 of each source's `ArrayBuffer`. */
  readonly #addresses = new WeakMap<BatchSource, number>();

  // Incoming. (Every pinned buffer the kernel reads through a pointer is held
  // in a field: an unreachable one would be freed under the kernel's feet.)
  readonly #receiveHeaders: Uint8Array;
  readonly #receiveIovecs: Uint8Array;
  readonly #receiveView: DataView;
  readonly #receiveBuffers: Uint8Array;
  readonly #receiveNames: Uint8Array;
  readonly #receiveNamesView: DataView;
  readonly #slotSize: number;
  readonly #sourceNames = new SourceNames();

  private constructor(libc: Libc, fd: number, family: number, slotSize: number) {
    this.#libc = libc;
    this.#fd = fd;
    this.#family = family;
    this.#slotSize = slotSize;

    const [sendHeaders] = pinned(UDP_BATCH_SIZE * MMSGHDR_SIZE);
    const [sendIovecs, sendIovecsAt] = pinned(UDP_BATCH_SIZE * IOVEC_SIZE);
    const [sendNames, sendNamesAt] = pinned(UDP_BATCH_SIZE * SOCKADDR_SIZE);
    this.#sendHeaders = sendHeaders;
    this.#sendIovecWords = new Uint32Array(sendIovecs.buffer);
    this.#sendNames = sendNames;
    const nameLength = family === AF_INET ? SOCKADDR_IN_SIZE : SOCKADDR_SIZE;
    const sendView = new DataView(sendHeaders.buffer);
    for (let i = 0; i < UDP_BATCH_SIZE; i++) {
      const at = i * MMSGHDR_SIZE;
      sendView.setBigUint64(at + MSG_NAME, BigInt(sendNamesAt + i * SOCKADDR_SIZE), true);
      sendView.setUint32(at + MSG_NAMELEN, nameLength, true);
      sendView.setBigUint64(at + MSG_IOV, BigInt(sendIovecsAt + i * IOVEC_SIZE), true);
      sendView.setBigUint64(at + MSG_IOVLEN, 1n, true);
    }
    [this.#staging, this.#stagingAddress] = pinned(UDP_BATCH_SIZE * slotSize);

    const [receiveHeaders] = pinned(UDP_BATCH_SIZE * MMSGHDR_SIZE);
    const [receiveIovecs, receiveIovecsAt] = pinned(UDP_BATCH_SIZE * IOVEC_SIZE);
    const [receiveNames, receiveNamesAt] = pinned(UDP_BATCH_SIZE * SOCKADDR_SIZE);
    const [receiveBuffers, receiveBuffersAt] = pinned(UDP_BATCH_SIZE * slotSize);
    this.#receiveHeaders = receiveHeaders;
    this.#receiveView = new DataView(receiveHeaders.buffer);
    this.#receiveIovecs = receiveIovecs;
    this.#receiveBuffers = receiveBuffers;
    this.#receiveNames = receiveNames;
    this.#receiveNamesView = new DataView(receiveNames.buffer);
    const iovecView = new DataView(this.#receiveIovecs.buffer);
    for (let i = 0; i < UDP_BATCH_SIZE; i++) {
      const at = i * MMSGHDR_SIZE;
      iovecView.setBigUint64(i * IOVEC_SIZE, BigInt(receiveBuffersAt + i * slotSize), true);
      iovecView.setBigUint64(i * IOVEC_SIZE + 8, BigInt(slotSize), true);
      this.#receiveView.setBigUint64(
        at + MSG_NAME,
        BigInt(receiveNamesAt + i * SOCKADDR_SIZE),
        true,
      );
      this.#receiveView.setBigUint64(at + MSG_IOV, BigInt(receiveIovecsAt + i * IOVEC_SIZE), true);
      this.#receiveView.setBigUint64(at + MSG_IOVLEN, 1n, true);
    }
  }

  /**
   * The batched layer for the socket bound to `hostname`:`port`, or null
   * when it is not allowed here or its descriptor cannot be found (the
   * caller then sends one op per datagram). `slotSize` is the largest
   * datagram.
   */
  static open(hostname: string, port: number, slotSize: number): UdpBatch | null {
    if (!batchedUdpAllowed()) return null;
    const address = ipBytes(hostname);
    if (address === null) return null;
    const libc = openLibc();
    if (libc === null) return null;
    const family = address.length === 4 ? AF_INET : AF_INET6;
    const fd = findDescriptor(libc, family, port, address);
    if (fd < 0) {
      libc.close();
      return null;
    }
    return new UdpBatch(libc, fd, family, slotSize);
  }

  /**
   * Queues `data` for `address`. With a `source`, `data` lies in
   * `source.bytes` (which stays untouched until `source.release()`); without,
   * it is copied. Returns false when this layer cannot send it (to a name,
   * to a family the socket does not have, or longer than the largest
   * datagram), so the caller sends it itself.
   */
  queue(
    data: Uint8Array,
    address: { hostname: string; port: number },
    source: BatchSource | null,
  ): boolean {
    const { hostname, port } = address;
    let known = this.#names.get(address);
    if (known === undefined || known.hostname !== hostname || known.port !== port) {
      known = { hostname, port, name: this.#sockaddr(hostname, port) };
      this.#names.set(address, known);
    }
    const name = known.name;
    if (name === null || this.#closed || data.length > this.#slotSize) return false;
    if (
      this.#queued === UDP_BATCH_SIZE ||
      (source === null && this.#stagingUsed + data.length > this.#staging.length)
    ) this.flush();
    const slot = this.#queued;
    let pointer: number;
    if (source === null) {
      pointer = this.#stagingAddress + this.#stagingUsed;
      this.#staging.set(data, this.#stagingUsed);
      this.#stagingUsed += data.length;
    } else {
      let base = this.#addresses.get(source);
      if (base === undefined) {
        base = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(source.bytes))) -
          source.bytes.byteOffset;
        this.#addresses.set(source, base);
      }
      pointer = base + data.byteOffset;
    }
    // iovec: base (as two 32-bit halves, little-endian), length.
    const words = this.#sendIovecWords;
    const at = slot * (IOVEC_SIZE / 4);
    words[at] = pointer % 0x1_0000_0000;
    words[at + 1] = Math.floor(pointer / 0x1_0000_0000);
    words[at + 2] = data.length;
    words[at + 3] = 0;
    this.#sendNames.set(name, slot * SOCKADDR_SIZE);
    this.#sources[slot] = source;
    this.#queued = slot + 1;
    return true;
  }

  /** Sends every queued datagram. A datagram the kernel refuses (buffer full, unreachable) is lost, as one UDP send that failed would be. */
  flush(): void {
    const count = this.#queued;
    if (count === 0) return;
    let sent = 0;
    if (!this.#closed) {
      const headers = this.#sendHeaders;
      while (sent < count) {
        const result = this.#libc.symbols.sendmmsg(
          this.#fd,
          sent === 0 ? headers : headers.subarray(sent * MMSGHDR_SIZE),
          count - sent,
          MSG_DONTWAIT,
        );
        // -1 or a short count: the datagram at `sent` failed; skip it (lost).
        sent += result > 0 ? result : 1;
      }
    }
    this.#queued = 0;
    this.#stagingUsed = 0;
    const sources = this.#sources;
    for (let i = 0; i < count; i++) {
      const source = sources[i];
      if (source !== null) source.release();
      sources[i] = null;
    }
  }

  /**
   * Receives every datagram queued in the kernel (up to a bound per call),
   * handing each to `handler`; returns how many.
   */
  drain(handler: Handler): number {
    let total = 0;
    const view = this.#receiveView;
    for (let call = 0; call < DRAIN_CALLS && !this.#closed; call++) {
      for (let i = 0; i < UDP_BATCH_SIZE; i++) {
        view.setUint32(i * MMSGHDR_SIZE + MSG_NAMELEN, SOCKADDR_SIZE, true);
      }
      const count = this.#libc.symbols.recvmmsg(
        this.#fd,
        this.#receiveHeaders,
        UDP_BATCH_SIZE,
        MSG_DONTWAIT,
        null,
      );
      if (count <= 0) break;
      for (let i = 0; i < count && !this.#closed; i++) {
        const at = i * MMSGHDR_SIZE;
        // Longer than the largest datagram ENet sends: not ENet, dropped.
        if (view.getInt32(at + MSG_FLAGS, true) & MSG_TRUNC) continue;
        const length = view.getUint32(at + MSG_LEN, true);
        const start = i * this.#slotSize;
        const hostname = this.#sourceNames.text(
          this.#receiveNames,
          this.#receiveNamesView,
          i * SOCKADDR_SIZE,
        );
        if (hostname === null) continue;
        const port = this.#receiveNamesView.getUint16(i * SOCKADDR_SIZE + SIN_PORT);
        handler(this.#receiveBuffers.subarray(start, start + length), hostname, port);
      }
      total += count;
      if (count < UDP_BATCH_SIZE) break;
    }
    return total;
  }

  /** Stops every use of the descriptor (the runtime closes it) and releases libc. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#libc.close();
  }

  /** The `sockaddr` bytes for `hostname`:`port` in the socket's family, or null. */
  #sockaddr(hostname: string, port: number): Uint8Array | null {
    const ip = ipBytes(hostname);
    if (ip === null) return null;
    const name = new Uint8Array(this.#family === AF_INET ? SOCKADDR_IN_SIZE : SOCKADDR_SIZE);
    const view = new DataView(name.buffer);
    view.setUint16(SA_FAMILY, this.#family, true);
    view.setUint16(SIN_PORT, port);
    if (this.#family === AF_INET) {
      if (ip.length !== 4) return null;
      name.set(ip, SIN_ADDR);
    } else if (ip.length === 4) {
      // An IPv6 socket reaches IPv4 peers through their IPv4-mapped address.
      name[SIN6_ADDR + MAPPED_MARK] = name[SIN6_ADDR + MAPPED_MARK + 1] = 0xFF;
      name.set(ip, SIN6_ADDR + MAPPED_IPV4);
    } else name.set(ip, SIN6_ADDR);
    return name;
  }
}

/**
 * The text of received `sockaddr` source addresses, as the runtime would
 * report them, cached by address. Sources are the peer's choice (and can be
 * spoofed), so the cache empties when it reaches
 * {@linkcode SOURCE_CACHE_SIZE} entries instead of growing.
 */
export class SourceNames {
  readonly #texts = new Map<string | number, string>();

  /** Cached entries (at most {@linkcode SOURCE_CACHE_SIZE}). */
  get size(): number {
    return this.#texts.size;
  }

  /** The text of the `sockaddr` at `at` in `names` (`view` over the same bytes), or null for a family other than IPv4/IPv6. */
  text(names: Uint8Array, view: DataView, at: number): string | null {
    const family = view.getUint16(at + SA_FAMILY, true);
    let key: string | number;
    if (family === AF_INET) key = view.getUint32(at + SIN_ADDR);
    else if (family === AF_INET6) {
      key = "";
      for (let i = 0; i < 16; i += 4) key += view.getUint32(at + SIN6_ADDR + i).toString(16) + ",";
    } else return null;
    let text = this.#texts.get(key);
    if (text === undefined) {
      text = family === AF_INET
        ? names.subarray(at + SIN_ADDR, at + SIN_ADDR + 4).join(".")
        : ipText(names.subarray(at + SIN6_ADDR, at + SIN6_ADDR + 16));
      if (this.#texts.size >= SOURCE_CACHE_SIZE) this.#texts.clear();
      this.#texts.set(key, text);
    }
    return text;
  }
}
