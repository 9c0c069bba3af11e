import assert from "node:assert/strict";
import { bundleClient } from "../tools/build_webrtc_client.ts";
import { CLIENT_JS } from "../webrtc/_client_bundle.ts";

Deno.test("the checked-in browser bundle is current with webrtc/client.ts (run `deno task build:client`)", async () => {
  const fresh = await bundleClient();
  assert.equal(CLIENT_JS, fresh, "webrtc/_client_bundle.ts is stale: run `deno task build:client`");
});

Deno.test("the browser bundle is a plain ES module that uses no Deno API", async () => {
  assert.doesNotMatch(CLIENT_JS, /\bDeno\./);
  assert.doesNotMatch(CLIENT_JS, /\bimport\s.*from\s/);
  let binary = "";
  for (const byte of new TextEncoder().encode(CLIENT_JS)) binary += String.fromCharCode(byte);
  const url = `data:text/javascript;base64,${btoa(binary)}`;
  const mod = await import(url);
  assert.equal(typeof mod.connectMaster, "function");
  assert.equal(typeof mod.DataChannel, "function");
});
