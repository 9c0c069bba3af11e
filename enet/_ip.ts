/**
 * IP literals: parsed to bytes for the batched socket's `sockaddr`s, and
 * written back in the one spelling the engine compares addresses in (the
 * runtime's: RFC 5952 IPv6, IPv4-mapped IPv6 as IPv4).
 *
 * @module
 */

/** Where an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) puts its `ffff` and its IPv4 bytes. */
export const MAPPED_MARK = 10;
export const MAPPED_IPV4 = 12;

/** The 4 or 16 address bytes of an IP literal, or null (a name, or an IPv6 scope ID). */
export function ipBytes(hostname: string): Uint8Array | null {
  if (!hostname.includes(":")) {
    const parts = hostname.split(".");
    if (parts.length !== 4) return null;
    const bytes = new Uint8Array(4);
    for (let i = 0; i < 4; i++) {
      if (!/^\d{1,3}$/.test(parts[i])) return null;
      const value = Number(parts[i]);
      if (value > 255) return null;
      bytes[i] = value;
    }
    return bytes;
  }
  if (hostname.includes("%")) return null;
  const bare = hostname.startsWith("[") && hostname.endsWith("]")
    ? hostname.slice(1, -1)
    : hostname;
  const halves = bare.split("::");
  if (halves.length > 2) return null;
  const groups = (text: string): number[] | null => {
    if (text === "") return [];
    const out: number[] = [];
    const parts = text.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = ipBytes(part);
        if (v4 === null) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) out.push(parseInt(part, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[2 * i] = all[i] >> 8;
    bytes[2 * i + 1] = all[i] & 0xFF;
  }
  return bytes;
}

/**
 * The text of 4 or 16 address bytes as the runtime reports sources: dotted
 * IPv4; IPv6 in RFC 5952 form (lower case, the longest run of zero words as
 * "::"), an IPv4-mapped one as its IPv4 address.
 */
export function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  let mapped = bytes[MAPPED_MARK] === 0xFF && bytes[MAPPED_MARK + 1] === 0xFF;
  for (let i = 0; i < MAPPED_MARK && mapped; i++) mapped = bytes[i] === 0;
  if (mapped) return bytes.subarray(MAPPED_IPV4).join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  // The longest run of two or more zero words (the first of equals) becomes "::".
  let bestStart = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (from: number, to: number) =>
    words.slice(from, to).map((w) => w.toString(16)).join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/**
 * The spelling the sockets report for the IP literal `hostname` (source
 * addresses are compared as strings): IPv6 compressed and lower case
 * (RFC 5952: "0:0:0:0:0:0:0:1" is "::1"), an IPv4-mapped IPv6 address as its
 * IPv4 address ("::ffff:127.0.0.1" is "127.0.0.1"). `null` when `hostname`
 * is not an IP literal (a name). An IPv6 address with a scope ID
 * ("fe80::1%eth0") is left as given.
 */
export function canonicalIP(hostname: string): string | null {
  const bytes = ipBytes(hostname);
  if (bytes !== null) return ipText(bytes);
  if (!hostname.includes(":")) return null;
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}
