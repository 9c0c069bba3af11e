/**
 * mesh/_settings.ts on its own: defaults, range checks and the address
 * helpers, with no sockets.
 */
import assert from "node:assert/strict";
import { MeshTypeError } from "../mesh/mod.ts";
import { advertisedAddress, DEFAULTS, meshSettings, sameFamilies } from "../mesh/_settings.ts";

Deno.test("meshSettings() fills in every documented default", () => {
  const settings = meshSettings({ name: "a" });
  assert.equal(settings.hostname, "127.0.0.1");
  assert.equal(settings.port, 0);
  assert.deepEqual(settings.seeds, []);
  assert.equal(settings.heartbeatInterval, DEFAULTS.heartbeatInterval);
  assert.equal(settings.maxMessageSize, 16 * 1024 * 1024);
  assert.equal(settings.inboxSize, 1024);
  assert.equal(settings.maxUnreachableMembers, 32);
});

Deno.test("meshSettings() treats an option set to undefined as left out", () => {
  assert.equal(meshSettings({ name: "a", deadTimeout: undefined }).deadTimeout, 6000);
});

Deno.test("meshSettings() refuses a bad name, seed, secret or number with MeshTypeError", () => {
  for (
    const bad of [
      { name: "" },
      { name: "x".repeat(257) },
      { name: "a", seeds: [{ hostname: "h", port: 0 }] },
      { name: "a", secret: "" },
      { name: "a", heartbeatInterval: 5 },
      { name: "a", maxMembers: Number.NaN },
      { name: "a", maxStateValueSize: 15 },
      { name: "a", maxUnreachableMembers: -1 },
    ]
  ) {
    assert.throws(() => meshSettings(bad), MeshTypeError, JSON.stringify(bad));
  }
  assert.equal(meshSettings({ name: "a", maxUnreachableMembers: 0 }).maxUnreachableMembers, 0);
});

Deno.test("sameFamilies() allows the families of the bind address and the seeds only", () => {
  const allow = sameFamilies("127.0.0.1", [{ hostname: "::1", port: 1 }]);
  assert.equal(allow({ hostname: "10.0.0.1", port: 1 }), true);
  assert.equal(allow({ hostname: "fe80::1", port: 1 }), true);
  assert.equal(allow({ hostname: "example.com", port: 1 }), false);
});

Deno.test("advertisedAddress() prefers advertise, and leaves a wildcard host to the peers", () => {
  const bound = { transport: "tcp", hostname: "0.0.0.0", port: 4100 } as const;
  assert.deepEqual(advertisedAddress("0.0.0.0", bound, {}), {
    addr: { hostname: "0.0.0.0", port: 4100 },
    advertiseHost: "",
  });
  assert.deepEqual(advertisedAddress("0.0.0.0", bound, { hostname: "h", port: 1 }), {
    addr: { hostname: "h", port: 1 },
    advertiseHost: "h",
  });
  const local = { transport: "tcp", hostname: "127.0.0.1", port: 7 } as const;
  assert.deepEqual(advertisedAddress("127.0.0.1", local, {}).advertiseHost, "127.0.0.1");
});
