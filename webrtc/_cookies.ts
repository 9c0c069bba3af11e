/**
 * `Cookie` header parsing for the master's authorization hooks. Not part of the public API.
 *
 * @module
 */

/** Parses a `Cookie` header into name → value. */
export function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      out[decodeURIComponent(name)] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}
