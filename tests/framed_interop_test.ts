import assert from "node:assert/strict";
import { connect, listen, type MessageType } from "../framed/mod.ts";
import { take } from "./_framed.ts";
import { deadline, LOOPBACK4 } from "./_loopback.ts";

const PEER = new URL("./framed_peers/seed_peer.mjs", import.meta.url).pathname;

/** Starts the Node peer as a server and reads its port. */
async function startNodeServer() {
  const child = new Deno.Command("node", {
    args: [PEER, "server"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await deadline(lines.read(), 10_000, "the Node peer's port");
  const { port } = JSON.parse(value!);
  return {
    port: port as number,
    async [Symbol.asyncDispose]() {
      await child.stdin.close();
      await lines.cancel();
      await child.status;
    },
  };
}

function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

Deno.test("our client reads frames a hand-written Node peer builds to the seed's format", async (t) => {
  await using node = await startNodeServer();
  const cases: [MessageType, unknown[]][] = [
    ["int", [[1, -2], 7, []]],
    ["double", [0.5, [1.5, -2]]],
    ["string", ["héllo", "", "é".repeat(150)]],
    ["bytes", [pattern(70000)]],
  ];
  for (const [type, expected] of cases) {
    await t.step(type, async () => {
      await using client = await connect({
        hostname: LOOPBACK4,
        port: node.port,
        sendType: "string",
        receiveType: type,
      });
      await client.send(type);
      assert.deepEqual(await take(client, expected.length), expected);
    });
  }
  await t.step("and the Node peer echoes what our client frames", async () => {
    await using client = await connect({
      hostname: LOOPBACK4,
      port: node.port,
      sendType: "bytes",
    });
    await client.send(new TextEncoder().encode("echo"));
    const payloads = [0, 1, 254, 255, 256, 65535, 65536, 1 << 20].map(pattern);
    await Promise.all(payloads.map((payload) => client.send(payload)));
    assert.deepEqual(await take(client, payloads.length), payloads);
  });
});

Deno.test("a hand-written Node client gets its frames echoed by our server", async () => {
  await using server = listen({ hostname: LOOPBACK4, port: 0, sendType: "bytes" });
  const serving = (async () => {
    for await (const connection of server) {
      await connection.readable.pipeTo(connection.writable).catch(() => {});
      return;
    }
  })();
  const output = await deadline(
    new Deno.Command("node", {
      args: [PEER, "client", String(server.addr.port)],
      stdout: "piped",
      stderr: "inherit",
    }).output(),
    20_000,
    "the Node client",
  );
  const report = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.deepEqual(report, {
    ok: true,
    bad: -1,
    lengths: [0, 1, 254, 255, 256, 65535, 65536, 300000],
  });
  await deadline(serving, 5000, "the echo to finish");
});
