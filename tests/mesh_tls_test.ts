import assert from "node:assert/strict";
import { joinMesh, MeshJoinError } from "../mesh/mod.ts";
import { deadline, run, tempDir } from "./_loopback.ts";

/** A CA and one leaf for 127.0.0.1 that every member of the test mesh presents. */
async function makePki(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (name: string) => `${dir}/${name}`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=mesh-test-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]); // deno-fmt-ignore
  await run("openssl", [
    "req", ...ec, "-keyout", f("member.key"), "-out", f("member.csr"), "-subj", "/CN=member",
  ]); // deno-fmt-ignore
  await Deno.writeTextFile(
    f("member.ext"),
    "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    f("member.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-out",
    f("member.pem"),
    "-days",
    "2",
    "-extfile",
    f("member.ext"),
  ]); // deno-fmt-ignore
  const read = (name: string) => Deno.readTextFile(f(name));
  return {
    ca: await read("ca.pem"),
    cert: await read("member.pem"),
    key: await read("member.key"),
  };
}

Deno.test("members with TLS certificates form a mesh and talk over TLS; a plain-TCP member cannot join", async (t) => {
  await using dir = tempDir("netkit-mesh-tls-");
  const pki = await makePki(dir.path);
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
          (e instanceof MeshJoinError && e.code === "ERR_SEED_UNREACHABLE") ||
          (e instanceof DOMException && e.name === "TimeoutError"),
      );
      assert.equal(a.peers.size, 2);
    });
  } finally {
    await Promise.all([a.leave(), b.leave(), c.leave()]);
  }
});
