import assert from "node:assert/strict";
import { deadline } from "./_loopback.ts";
import { engineClient, engineServer, randomBytes, rawFrame, RawPeer } from "./_websocket_engine.ts";

/** Frames with random bits: opcodes, RSV, FIN, lengths (some lying), masks, payloads. */
function hostileBytes(seed: number, compressed: boolean): Uint8Array {
  const noise = randomBytes(4096, seed);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 8; i++) {
    const r = noise[i * 7];
    const opcode = noise[i * 7 + 1] & 0x0f;
    const length = r % 3 === 0 ? noise[i * 7 + 2] : noise[i * 7 + 2] * 300;
    parts.push(
      rawFrame(opcode, noise.subarray(0, Math.min(length, 4096)), {
        fin: (r & 1) === 0,
        rsv: compressed && r % 2 ? 4 : (r >> 1) & 7 & (r % 5 === 0 ? 7 : 0),
        mask: r % 11 !== 0,
        claimedLength: r % 13 === 0 ? length * 1000 : undefined,
      }),
    );
  }
  if (seed % 4 === 0) parts.push(noise.subarray(0, 64)); // plain garbage
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

for (const deflate of [false, true]) {
  Deno.test(`Rfc6455Socket survives hostile random frames and keeps serving others${deflate ? " (permessage-deflate, RSV1 noise)" : ""}`, async () => {
    await using server = engineServer(undefined, {
      maxMessageSize: 1 << 20,
      closeTimeout: 500,
      deflate,
    });
    const codes = new Map<number, number>();
    const results = await Promise.all(Array.from({ length: 40 }, async (_, seed) => {
      using peer = await RawPeer.connect(
        server.port,
        deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "",
      );
      await peer.write(hostileBytes(seed + 1, deflate)).catch(() => {});
      // The server must end the conversation: a close frame and/or EOF, never a hang.
      while (true) {
        const frame = await deadline(peer.readFrame(), 5000, `server reaction to seed ${seed}`);
        if (frame === null) return null;
        if (frame.opcode === 8) {
          const code = frame.payload.length >= 2
            ? (frame.payload[0] << 8) | frame.payload[1]
            : 1005;
          codes.set(code, (codes.get(code) ?? 0) + 1);
          return code;
        }
      }
    }));
    assert.ok(results.some((code) => code === 1002), `close codes seen: ${[...codes]}`);
    for (const code of results) {
      if (code !== null) assert.ok([1000, 1002, 1005, 1007, 1009].includes(code) || code >= 3000);
    }
    // A well-behaved client still gets its echo.
    const client = await engineClient(server.port);
    const reader = client.readable.getReader();
    await client.send("still alive");
    assert.equal((await reader.read()).value, "still alive");
    reader.releaseLock();
    await client.close(1000);
    await Promise.all(server.sockets.map((s) => s.closed));
  });
}
