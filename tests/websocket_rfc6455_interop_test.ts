import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { deadline } from "./_loopback.ts";
import { engineClient, engineServer, randomBytes } from "./_websocket_engine.ts";

const PEERS = new URL("./websocket_peers/", import.meta.url);

/** A running npm `ws` echo server under Node. */
async function wsServer(options: { deflate?: unknown }): Promise<
  { port: number; events: () => Promise<Record<string, unknown>[]> } & AsyncDisposable
> {
  const child = new Deno.Command("node", {
    args: [fromFileUrl(new URL("ws_echo_server.mjs", PEERS)), JSON.stringify(options)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter());
  const reader = lines.getReader();
  const first = await deadline(reader.read(), 10_000, "ws server start");
  const { port } = JSON.parse(first.value!);
  const collected = (async () => {
    const events: Record<string, unknown>[] = [];
    while (true) {
      const { value, done } = await reader.read();
      if (done) return events;
      events.push(JSON.parse(value));
    }
  })();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await child.stdin.close();
    await child.status;
  };
  return {
    port,
    async events() {
      await stop();
      return await collected;
    },
    async [Symbol.asyncDispose]() {
      await stop();
      await collected;
    },
  };
}

function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) if (line.trim()) controller.enqueue(line);
    },
    flush(controller) {
      if (rest.trim()) controller.enqueue(rest);
    },
  });
}

/** Runs the npm `ws` client script against `url`; returns its JSON result. */
async function wsClient(url: string, options: Record<string, unknown>) {
  const out = await new Deno.Command("node", {
    args: [fromFileUrl(new URL("ws_client.mjs", PEERS)), url, JSON.stringify(options)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `ws client failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];

for (const deflate of [false, true]) {
  const label = deflate ? "with permessage-deflate" : "without compression";

  Deno.test(`ws (npm) client ↔ engine server, ${label}, up to 16 MiB`, async () => {
    const pongs: string[] = [];
    await using server = engineServer(async (socket) => {
      socket.onpong = (data) => pongs.push(new TextDecoder().decode(data));
      for await (const message of socket.readable) await socket.send(message);
    }, { deflate, maxMessageSize: 32 << 20 });
    const accepted = server.nextSocket();
    const result = await deadline(
      wsClient(`ws://127.0.0.1:${server.port}/interop`, { deflate, sizes: SIZES }),
      60_000,
      "ws client run",
    );
    assert.deepEqual(result.errors, []);
    assert.equal(result.echoes, SIZES.length + 2);
    assert.equal(result.pong, "ws-ping");
    assert.deepEqual(result.close, { code: 4000, reason: "" });
    assert.equal(/^permessage-deflate/.test(result.extensions), deflate, result.extensions);
    const socket = await accepted;
    assert.deepEqual(await socket.closed, { code: 4000, reason: "interop done" });
  });

  Deno.test(`engine client ↔ ws (npm) server, ${label}, up to 16 MiB`, async () => {
    await using server = await wsServer({ deflate });
    const client = await engineClient(server.port, { deflate, path: "/engine" });
    assert.equal(/permessage-deflate/.test(client.extensions), deflate);
    const reader = client.readable.getReader();
    for (const size of SIZES) {
      const data = randomBytes(size, size + 3);
      await client.send(data);
      const { value } = await deadline(reader.read(), 20_000, `echo of ${size} bytes`);
      assert.equal((value as Uint8Array).length, size);
      assert.deepEqual(value, data);
    }
    const text = "zürich ✓ ".repeat(50_000);
    await client.send(text);
    assert.equal((await reader.read()).value, text);
    // Fragmented send: ws reassembles continuation frames.
    const streamed = randomBytes(300_000, 99);
    const writer = client.beginBinary().getWriter();
    await writer.write(streamed.subarray(0, 123_456));
    await writer.write(streamed.subarray(123_456));
    await writer.close();
    assert.deepEqual((await reader.read()).value, streamed);
    // We ping ws: it pongs with our payload.
    const pongs: string[] = [];
    client.onpong = (data) => pongs.push(new TextDecoder().decode(data));
    const rtt = await client.ping(new TextEncoder().encode("engine-ping"));
    assert.ok(rtt >= 0);
    assert.deepEqual(pongs, ["engine-ping"]);
    // ws pings us; we pong automatically; ws reports the pong payload back.
    await client.send("ping-me");
    assert.equal((await reader.read()).value, "pong:from-ws");
    reader.releaseLock();
    await client.close(4001, "engine done");
    assert.equal((await client.closed).code, 4001);
    const events = await server.events();
    assert.equal(events[0].event, "connection");
    assert.equal(events[0].path, "/engine");
    assert.equal(/^permessage-deflate/.test(String(events[0].extensions)), deflate);
    assert.deepEqual(events.at(-1), { event: "close", code: 4001, reason: "engine done" });
  });
}

Deno.test("engine client ↔ ws (npm) server negotiates no-context-takeover and window bits", async () => {
  await using server = await wsServer({
    deflate: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
    },
  });
  const client = await engineClient(server.port, {
    deflate: { clientMaxWindowBits: 11 },
  });
  assert.match(client.extensions, /server_no_context_takeover/);
  assert.match(client.extensions, /client_no_context_takeover/);
  assert.match(client.extensions, /server_max_window_bits=10/);
  const reader = client.readable.getReader();
  for (let i = 0; i < 5; i++) {
    const text = `message ${i} `.repeat(2000 + i);
    await client.send(text);
    assert.equal((await reader.read()).value, text);
  }
  reader.releaseLock();
  await client.close(1000);
  assert.equal((await client.closed).code, 1000);
});

Deno.test("ws (npm) client with no-context-takeover offers ↔ engine server", async () => {
  await using server = engineServer(undefined, {
    deflate: { serverNoContextTakeover: true, serverMaxWindowBits: 12 },
  });
  const result = await deadline(
    wsClient(`ws://127.0.0.1:${server.port}/`, {
      deflate: { clientNoContextTakeover: true, clientMaxWindowBits: 10 },
      sizes: [10, 5000, 100_000],
    }),
    30_000,
    "ws client run",
  );
  assert.deepEqual(result.errors, []);
  assert.equal(result.echoes, 5);
  assert.match(result.extensions, /^permessage-deflate/);
  const agreed = server.sockets[0].extensions;
  assert.match(agreed, /server_no_context_takeover/);
  assert.match(agreed, /server_max_window_bits=12/);
  assert.match(agreed, /client_no_context_takeover/);
  assert.match(agreed, /client_max_window_bits=10/);
});
