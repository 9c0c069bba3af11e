/**
 * ENet's datagram checksum: CRC-32 (IEEE 802.3, reflected polynomial
 * `0xEDB88320`, initial value `0xFFFFFFFF`, final complement), table-driven,
 * bit-exact with C `enet_crc32(const ENetBuffer *, size_t)` from libenet 1.3.x.
 *
 * Byte order on the wire: C computes the standard CRC-32 value `crc` and returns
 * `ENET_HOST_TO_NET_32(crc)`, which protocol.c stores into the 4-byte checksum
 * field with a plain `enet_uint32` store. The bytes that land in the datagram
 * are therefore the standard CRC-32 value in **big-endian** order on every
 * host (CRC-32 of `"123456789"` is `0xCBF43926`, on the wire `CB F4 39 26`).
 * {@linkcode enetCrc32} returns that standard value as an unsigned number;
 * write it with {@linkcode writeEnetChecksum} (or `DataView.setUint32(…, false)`).
 *
 * What the checksum covers (protocol.c): the protocol header (2 or 4 bytes),
 * then the checksum field itself pre-filled with the 4 raw `connectID` bytes of
 * the peer (as they travel in CONNECT; 0 when the sender has no outgoing peer
 * ID yet, i.e. in the CONNECT datagram), then the **uncompressed** commands.
 *
 * @module
 */

/** The reflected IEEE polynomial. */
const ENET_CRC32_POLYNOMIAL = 0xEDB88320;

/**
 * Slicing-by-8 tables: table k (at k * 256) advances the CRC over a byte
 * followed by k zero bytes, so eight bytes fold in with eight lookups.
 */
const CRC_TABLES: Uint32Array = (() => {
  const tables = new Uint32Array(8 * 256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ ENET_CRC32_POLYNOMIAL : crc >>> 1;
    }
    tables[byte] = crc >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    for (let byte = 0; byte < 256; byte++) {
      const previous = tables[(k - 1) * 256 + byte];
      tables[k * 256 + byte] = (previous >>> 8) ^ tables[previous & 0xFF];
    }
  }
  return tables;
})();

/** The register value before any byte is fed in (C: `crc = 0xFFFFFFFF`). */
export const ENET_CRC32_INITIAL = 0xFFFFFFFF;

/**
 * Feeds `bytes[start, end)` into a running (not yet complemented) CRC register
 * and returns the new register. Start with {@linkcode ENET_CRC32_INITIAL} and
 * finish with {@linkcode finishEnetCrc32}.
 */
export function updateEnetCrc32(
  register: number,
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
): number {
  const t = CRC_TABLES;
  let crc = register | 0;
  let i = start;
  for (const last = end - 8; i <= last; i += 8) {
    crc ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    crc = t[1792 + (crc & 0xFF)] ^ t[1536 + ((crc >>> 8) & 0xFF)] ^
      t[1280 + ((crc >>> 16) & 0xFF)] ^ t[1024 + (crc >>> 24)] ^
      t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
  }
  for (; i < end; i++) crc = (crc >>> 8) ^ t[(crc ^ bytes[i]) & 0xFF];
  return crc >>> 0;
}

/** Complements the register: the standard CRC-32 value. */
export function finishEnetCrc32(register: number): number {
  return ~register >>> 0;
}

/**
 * CRC-32 over several buffers in order, as C `enet_crc32(buffers, count)`
 * computes it. Returns the standard CRC-32 value (`0xCBF43926` for
 * `"123456789"`); the wire carries it big-endian.
 */
export function enetCrc32(buffers: readonly Uint8Array[] | Uint8Array): number {
  if (buffers instanceof Uint8Array) {
    return finishEnetCrc32(updateEnetCrc32(ENET_CRC32_INITIAL, buffers));
  }
  let crc = ENET_CRC32_INITIAL;
  for (const buffer of buffers) crc = updateEnetCrc32(crc, buffer);
  return finishEnetCrc32(crc);
}

/**
 * Computes and stores the checksum of a complete datagram in place.
 *
 * `datagram[0, length)` holds the header, the 4-byte checksum field at
 * `checksumOffset` and the uncompressed commands. The field is first filled
 * with `connectID` (the 4 raw bytes as they appear in CONNECT, or zeros for
 * a sender without an outgoing peer ID), the CRC is computed over the whole
 * span, then written big-endian into the field. Returns the CRC value.
 */
export function writeEnetChecksum(
  datagram: Uint8Array,
  checksumOffset: number,
  connectID: Uint8Array | null,
  length: number = datagram.length,
): number {
  if (connectID) datagram.set(connectID.subarray(0, 4), checksumOffset);
  else datagram.fill(0, checksumOffset, checksumOffset + 4);
  const crc = finishEnetCrc32(updateEnetCrc32(ENET_CRC32_INITIAL, datagram, 0, length));
  datagram[checksumOffset] = crc >>> 24;
  datagram[checksumOffset + 1] = crc >>> 16;
  datagram[checksumOffset + 2] = crc >>> 8;
  datagram[checksumOffset + 3] = crc;
  return crc;
}

/**
 * Verifies a received datagram's checksum the way protocol.c does: reads the
 * field at `checksumOffset`, substitutes `connectID` (or zeros) for it, computes
 * the CRC over `datagram[0, length)` and restores the field. `length` must
 * cover the uncompressed commands (decompress first).
 */
export function verifyEnetChecksum(
  datagram: Uint8Array,
  checksumOffset: number,
  connectID: Uint8Array | null,
  length: number = datagram.length,
): boolean {
  const b0 = datagram[checksumOffset], b1 = datagram[checksumOffset + 1];
  const b2 = datagram[checksumOffset + 2], b3 = datagram[checksumOffset + 3];
  const received = ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
  if (connectID) datagram.set(connectID.subarray(0, 4), checksumOffset);
  else datagram.fill(0, checksumOffset, checksumOffset + 4);
  const crc = finishEnetCrc32(updateEnetCrc32(ENET_CRC32_INITIAL, datagram, 0, length));
  datagram[checksumOffset] = b0;
  datagram[checksumOffset + 1] = b1;
  datagram[checksumOffset + 2] = b2;
  datagram[checksumOffset + 3] = b3;
  return crc === received;
}
