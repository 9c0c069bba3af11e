/**
 * Pure validation and defaults of {@linkcode MeshOptions}: no sockets, no
 * timers, so it is unit-tested on its own.
 *
 * @module
 */

import { MeshTypeError } from "./errors.ts";
import type { MeshOptions } from "./options.ts";
import type { MeshAddress } from "./peer.ts";

/** The options with every default filled in and every number checked. */
export type MeshSettings = Required<
  Omit<
    MeshOptions,
    "secret" | "cert" | "key" | "caCerts" | "signal" | "advertise" | "allowAddress"
  >
>;

/** Defaults of the numeric and address options (see {@linkcode MeshOptions}). */
export const DEFAULTS = {
  hostname: "127.0.0.1",
  port: 0,
  maxMessageSize: 16 * 1024 * 1024,
  heartbeatInterval: 1000,
  suspectTimeout: 3000,
  deadTimeout: 6000,
  reconnectInterval: 2000,
  forgetTimeout: 60_000,
  timeout: 10_000,
  handshakeTimeout: 5000,
  maxMembers: 1024,
  maxUnverifiedMembers: 256,
  maxUnreachableMembers: 32,
  maxPendingHandshakes: 128,
  maxRequestsInFlight: 256,
  maxStateEntries: 10_000,
  maxStateValueSize: 1024 * 1024,
  maxStateKeysPerMember: 1024,
  maxStateBytes: 32 * 1024 * 1024,
  maxQueuedBytes: 16 * 1024 * 1024,
  inboxSize: 1024,
} as const;

function checkNumber(name: string, value: unknown, min = 1): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new MeshTypeError(
      "ERR_INVALID_OPTION",
      `Option "${name}" must be a number >= ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Checks `options` and fills in the defaults.
 *
 * @throws {MeshTypeError} on a missing name, a malformed seed, an empty
 *   secret or a number out of range
 */
export function meshSettings(options: MeshOptions): MeshSettings {
  const { name, seeds = [], secret } = options;
  if (typeof name !== "string" || name.length === 0 || name.length > 256) {
    throw new MeshTypeError(
      "ERR_INVALID_OPTION",
      `Option "name" must be a string of 1 to 256 characters`,
    );
  }
  if (!Array.isArray(seeds)) {
    throw new MeshTypeError("ERR_INVALID_OPTION", `Option "seeds" must be an array`);
  }
  for (const seed of seeds) {
    if (
      typeof seed?.hostname !== "string" || !Number.isInteger(seed.port) || seed.port < 1 ||
      seed.port > 65535
    ) {
      throw new MeshTypeError(
        "ERR_INVALID_OPTION",
        `Seed ${JSON.stringify(seed)} needs a hostname and a port`,
      );
    }
  }
  if (secret !== undefined && (typeof secret !== "string" || secret.length === 0)) {
    throw new MeshTypeError("ERR_INVALID_OPTION", `Option "secret" must be a non-empty string`);
  }
  const d = { ...DEFAULTS, ...withoutUndefined(options) };
  return {
    name,
    hostname: d.hostname,
    port: d.port,
    seeds: seeds as MeshAddress[],
    maxMessageSize: checkNumber("maxMessageSize", d.maxMessageSize),
    heartbeatInterval: checkNumber("heartbeatInterval", d.heartbeatInterval, 10),
    suspectTimeout: checkNumber("suspectTimeout", d.suspectTimeout, 10),
    deadTimeout: checkNumber("deadTimeout", d.deadTimeout, 10),
    reconnectInterval: checkNumber("reconnectInterval", d.reconnectInterval, 10),
    forgetTimeout: checkNumber("forgetTimeout", d.forgetTimeout, 10),
    timeout: checkNumber("timeout", d.timeout),
    handshakeTimeout: checkNumber("handshakeTimeout", d.handshakeTimeout, 10),
    maxMembers: checkNumber("maxMembers", d.maxMembers),
    maxUnverifiedMembers: checkNumber("maxUnverifiedMembers", d.maxUnverifiedMembers),
    maxUnreachableMembers: checkNumber("maxUnreachableMembers", d.maxUnreachableMembers, 0),
    maxPendingHandshakes: checkNumber("maxPendingHandshakes", d.maxPendingHandshakes),
    maxRequestsInFlight: checkNumber("maxRequestsInFlight", d.maxRequestsInFlight),
    maxStateEntries: checkNumber("maxStateEntries", d.maxStateEntries),
    maxStateValueSize: checkNumber("maxStateValueSize", d.maxStateValueSize, 16),
    maxStateKeysPerMember: checkNumber("maxStateKeysPerMember", d.maxStateKeysPerMember),
    maxStateBytes: checkNumber("maxStateBytes", d.maxStateBytes, 16),
    maxQueuedBytes: checkNumber("maxQueuedBytes", d.maxQueuedBytes),
    inboxSize: checkNumber("inboxSize", d.inboxSize),
  };
}

/** `options` without the keys set to `undefined` (which take the default, as before). */
function withoutUndefined(options: MeshOptions): Partial<MeshOptions> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (value !== undefined) out[key] = value;
  return out as Partial<MeshOptions>;
}

/** Host names that bind every interface: the advertised host is then the one peers see. */
export const WILDCARDS: ReadonlySet<string> = new Set(["0.0.0.0", "::", "[::]", ""]);

type Family = "IPv4" | "IPv6" | "name";

function familyOf(hostname: string): Family {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(hostname)) return "IPv4";
  if (hostname.includes(":")) return "IPv6";
  return "name";
}

/**
 * The default `allowAddress`: addresses of the same family (IPv4, IPv6,
 * host name) as the bound address or one of the seeds.
 */
export function sameFamilies(
  boundHostname: string,
  seeds: readonly MeshAddress[],
): (addr: MeshAddress) => boolean {
  const families = new Set<Family>([familyOf(boundHostname)]);
  for (const seed of seeds) families.add(familyOf(seed.hostname));
  return (addr) => families.has(familyOf(addr.hostname));
}

/** The address to advertise: `advertise` over the bound one (a wildcard stays as given). */
export function advertisedAddress(
  hostname: string,
  bound: Deno.NetAddr,
  advertise: Partial<MeshAddress>,
): { addr: MeshAddress; advertiseHost: string } {
  return {
    addr: {
      hostname: advertise.hostname ?? (WILDCARDS.has(hostname) ? hostname : bound.hostname),
      port: advertise.port ?? bound.port,
    },
    advertiseHost: advertise.hostname ?? (WILDCARDS.has(hostname) ? "" : bound.hostname),
  };
}
