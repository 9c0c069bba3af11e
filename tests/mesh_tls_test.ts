import assert from "node:assert/strict";
import { joinMesh, MeshError } from "../mesh/mod.ts";
import { makeServerCertificates } from "./_certs.ts";
import { deadline } from "./_loopback.ts";

Deno.test("members with TLS certificates form a mesh and talk over TLS; a plain-TCP member cannot join", async (t) => {
  const { caCert, cert, key } = await makeServerCertificates();
  const pki = { ca: caCert, cert, key };
  const tls = { cert: pki.cert, key: pki.key, caCerts: [pki.ca], secret: "and-a-secret" };
  const a = await joinMesh({ name: "a", ...tls });
  const b = await joinMesh({ name: "b", seeds: [a.addr], ...tls });
  const c = await joinMesh({ name: "c", seeds: [b.addr], ...tls });
  try {
    await t.step("the three form a full mesh and a broadcast reaches everyone", async () => {
      assert.equal(c.peers.size, 2);
      const got = Promise.all(
        [a, b].map((m) =>
          new Promise((resolve) =>
            m.addEventListener("message", (e) => resolve(e.detail.content), { once: true })
          )
        ),
      );
      await c.broadcast("hello", { over: "tls" });
      assert.deepEqual(await deadline(got, 3000, "broadcast over TLS"), [{ over: "tls" }, {
        over: "tls",
      }]);
    });
    await t.step("a member dialling in plain TCP is not let in", async () => {
      await assert.rejects(
        joinMesh({ name: "plain", seeds: [a.addr], secret: "and-a-secret", timeout: 1500 }),
        (e: Error) =>
          (e instanceof MeshError && e.code === "ERR_SEED_UNREACHABLE") ||
          (e instanceof DOMException && e.name === "TimeoutError"),
      );
      assert.equal(a.peers.size, 2);
    });
  } finally {
    await Promise.all([a.leave(), b.leave(), c.leave()]);
  }
});
