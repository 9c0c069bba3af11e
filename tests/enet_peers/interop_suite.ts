/**
 * The interop test suite run against each foreign ENet implementation (C
 * libenet through enet_peer.c, npm `enet` through npm_enet_peer.cjs): both
 * directions, every variant of checksum/compression the peer supports.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHost, type Host, type HostOptions, PacketFlag, type Peer } from "../../enet/mod.ts";
import { deadline, LOOPBACK4 } from "../_loopback.ts";
import { fnv1a, LineProcess, pattern, receivedLines, startServer } from "./peers.ts";

/** One checksum/compression combination: helper flags and our options. */
export type Variant = { name: string; args: string[]; options: HostOptions };

/** Collects receive events of a client host until `count` or `ms`. */
async function collect(
  host: Host,
  count: number,
  ms: number,
): Promise<{ channelID: number; data: Uint8Array; flags: number }[]> {
  const got: { channelID: number; data: Uint8Array; flags: number }[] = [];
  const iterator = host[Symbol.asyncIterator]();
  const end = Date.now() + ms;
  while (got.length < count) {
    const remaining = end - Date.now();
    if (remaining <= 0) break;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      iterator.next(),
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), remaining)),
    ]);
    clearTimeout(timer);
    if (result === null) break;
    if (result.done) break;
    const event = result.value;
    if (event.type === "receive") got.push(event);
  }
  return got;
}

function checkOrderedEchoes(
  got: { channelID: number; data: Uint8Array }[],
  count: number,
  channels: number,
  length: number,
): void {
  assert.equal(got.length, count);
  const next = new Array(channels).fill(0).map((_, c) => c);
  for (const { channelID, data } of got) {
    const index = new DataView(data.buffer, data.byteOffset).getUint32(0);
    assert.equal(index, next[channelID], `channel ${channelID} out of order`);
    next[channelID] += channels;
    assert.deepEqual(data, pattern(length, index, true));
  }
}

/** Defines the interop tests against one foreign implementation. */
export function defineInteropTests(
  label: string,
  command: string,
  prefix: string[],
  variants: Variant[],
): void {
  for (const variant of variants) {
    Deno.test(`enet ↔ ${label} (${variant.name}): our client and the ${label} echo server exchange connect data, 10 000 ordered reliable messages on 4 channels, large packets and disconnect data`, async (t) => {
      const { process: server, port } = await startServer(command, [
        ...prefix,
        "server",
        ...variant.args,
      ]);
      await using _server = server;
      await using client = await createHost({
        address: { hostname: LOOPBACK4, port: 0 },
        peerCount: 1,
        ...variant.options,
      });
      let peer!: Peer;
      await t.step("connect data arrives", async () => {
        peer = await deadline(
          client.connect({ hostname: LOOPBACK4, port }, { channelCount: 4, data: 0xC0FFEE }),
          5000,
          "connect",
        );
        await server.waitFor((l) => l === `CONNECT ${0xC0FFEE}`);
        assert.equal(peer.state, "connected");
        assert.equal(peer.channelCount, 4);
      });
      await t.step(
        "10 000 reliable messages arrive in order and intact on 4 channels",
        async () => {
          const count = 10000;
          for (let k = 0; k < count; k++) {
            peer.send(k % 4, pattern(64, k, true), PacketFlag.RELIABLE);
          }
          const got = await collect(client, count, 20000);
          checkOrderedEchoes(got, count, 4, 64);
          assert.ok(got.every((e) => e.flags === PacketFlag.RELIABLE));
          await server.waitFor((l) => l.startsWith("RECV "), count);
        },
      );
      await t.step(
        "100 KB and 1 MB reliable fragmented packets reassemble byte-exact",
        async () => {
          for (const size of [100_000, 1_000_000]) {
            const data = pattern(size, size, false);
            peer.send(2, data, PacketFlag.RELIABLE);
            const [echoed] = await collect(client, 1, 15000);
            assert.ok(echoed, `no echo of ${size} bytes`);
            assert.equal(echoed.data.length, size);
            assert.equal(fnv1a(echoed.data), fnv1a(data));
          }
        },
      );
      await t.step("a 100 KB UNRELIABLE_FRAGMENT packet reassembles byte-exact", async () => {
        const data = pattern(100_000, 3, false);
        let echoed: { data: Uint8Array; flags: number } | undefined;
        for (let attempt = 0; attempt < 5 && echoed === undefined; attempt++) {
          peer.send(3, data, PacketFlag.UNRELIABLE_FRAGMENT);
          [echoed] = await collect(client, 1, 2000);
        }
        assert.ok(echoed, "no unreliable-fragment echo in 5 attempts");
        assert.equal(echoed.flags, PacketFlag.UNRELIABLE_FRAGMENT);
        assert.equal(fnv1a(echoed.data), fnv1a(data));
      });
      await t.step("unreliable and unsequenced traffic arrives without duplicates", async () => {
        // ENet's packet throttle drops unreliable packets on both sides once the RTT rises (the
        // 1 MB transfer above on a loaded machine can take it to zero, and at zero on both ends
        // about 1 in 1024 gets through), and it only rises again on acknowledgements of reliable
        // traffic. So: rounds of unreliable packets, each followed by a few reliable ones whose
        // acks let both throttles recover, until a quarter of the 400 arrived. Nothing getting
        // through at all, duplicates, reordering or damage still fail. Sequenced unreliable
        // packets go on channels 0 and 1, unsequenced on 3, reliable on 2, so a late echo of
        // an earlier round or phase is still checked against what it was sent as.
        const round = 100, wanted = 100, rounds = 12, reliablePerRound = 8;
        const reliableBase = 0x80000000;
        let next = 0, reliableSent = 0, reliableEchoes = 0;
        const seen = new Set<number>();
        const last = [-1, -1];
        const arrived = new Map<number, number>([[0, 0], [PacketFlag.UNSEQUENCED, 0]]);
        const check = (event: { channelID: number; data: Uint8Array; flags: number }) => {
          const index = new DataView(event.data.buffer, event.data.byteOffset).getUint32(0);
          assert.deepEqual(event.data, pattern(32, index, true), `echo ${index} damaged`);
          if (event.channelID === 2) {
            assert.equal(event.flags, PacketFlag.RELIABLE);
            assert.equal(index, reliableBase + reliableEchoes++, "reliable echo out of order");
            return;
          }
          assert.ok(index < next, `unknown index ${index}`);
          assert.ok(!seen.has(index), `duplicate ${index}`);
          seen.add(index);
          if (event.channelID === 3) assert.equal(event.flags, PacketFlag.UNSEQUENCED);
          else {
            assert.equal(event.flags, 0);
            assert.ok(index > last[event.channelID], "sequenced unreliable out of order");
            last[event.channelID] = index;
          }
          arrived.set(event.flags, arrived.get(event.flags)! + 1);
        };
        for (const flags of [0, PacketFlag.UNSEQUENCED]) {
          let sent = 0;
          for (let r = 0; r < rounds && arrived.get(flags)! < wanted; r++) {
            for (let k = 0; k < round; k++, sent++) {
              const channelID = flags === 0 ? next % 2 : 3;
              peer.send(channelID, pattern(32, next++, true), flags);
              if (k % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 2));
            }
            for (let k = 0; k < reliablePerRound; k++) {
              peer.send(2, pattern(32, reliableBase + reliableSent++, true), PacketFlag.RELIABLE);
            }
            for (const event of await collect(client, round + reliablePerRound, 1000)) check(event);
          }
          assert.ok(
            arrived.get(flags)! > 0,
            `none of ${sent} arrived (our packet throttle ${peer.packetThrottle}, RTT ${peer.roundTripTime} ms)`,
          );
        }
        const end = Date.now() + 5000;
        while (reliableEchoes < reliableSent && Date.now() < end) {
          for (const event of await collect(client, 1, end - Date.now())) check(event);
        }
        assert.equal(reliableEchoes, reliableSent, "every reliable echo arrived");
      });
      await t.step("disconnect data arrives both ways", async () => {
        peer.send(0, new TextEncoder().encode("disconnect:4242"));
        assert.deepEqual(await deadline(peer.closed, 5000, "remote disconnect"), {
          reason: "remote",
          data: 4242,
        });
        const again = await client.connect({ hostname: LOOPBACK4, port }, {
          channelCount: 1,
          data: 1,
        });
        again.disconnect(77);
        assert.deepEqual(await deadline(again.closed, 5000, "local disconnect"), {
          reason: "local",
          data: 77,
        });
        await server.waitFor((l) => l === "DISCONNECT 77");
      });
    });

    Deno.test(`enet ↔ ${label} (${variant.name}): the ${label} client and our echo server exchange connect data, 10 000 ordered reliable messages, large packets and disconnect data`, async (t) => {
      await using server = await createHost({
        address: { hostname: LOOPBACK4, port: 0 },
        ...variant.options,
      });
      const serverEvents: string[] = [];
      const echoing = (async () => {
        for await (const event of server) {
          if (event.type === "connect") serverEvents.push(`connect ${event.data}`);
          if (event.type === "disconnect") {
            serverEvents.push(`disconnect ${event.reason} ${event.data}`);
          }
          if (event.type === "receive") {
            const text = new TextDecoder().decode(event.data.subarray(0, 11));
            if (text === "disconnect:") {
              event.peer.disconnect(Number(new TextDecoder().decode(event.data.subarray(11))));
            } else if (event.peer.state === "connected") {
              event.peer.send(event.channelID, event.data, event.flags);
            }
          }
        }
      })();
      const target = `${LOOPBACK4}:${server.address.port}`;
      await using client = new LineProcess(command, [
        ...prefix,
        "client",
        "--connect",
        target,
        "--channels",
        "4",
        "--data",
        "31337",
        ...variant.args,
      ]);
      await t.step("connect data arrives", async () => {
        await client.waitFor((l) => l.startsWith("CONNECT"));
        await deadline(
          (async () => {
            while (!serverEvents.includes("connect 31337")) {
              await new Promise((r) => setTimeout(r, 10));
            }
          })(),
          5000,
          "server connect event",
        );
      });
      await t.step(
        "10 000 reliable messages arrive in order and intact on 4 channels",
        async () => {
          await client.send("burst 10000 4 1 64");
          await client.waitFor((l) => l.startsWith("RECV "), 10000, 30000);
          const got = receivedLines(client.lines);
          const next = [0, 1, 2, 3];
          for (const line of got) {
            assert.equal(line.first, next[line.channel]);
            next[line.channel] += 4;
            assert.equal(line.hash, fnv1a(pattern(64, line.first, true)));
            assert.equal(line.flags, PacketFlag.RELIABLE);
          }
          client.lines.length = 0;
        },
      );
      await t.step(
        "100 KB and 1 MB reliable and 100 KB unreliable-fragment packets reassemble byte-exact",
        async () => {
          for (const [size, flags] of [[100_000, 1], [1_000_000, 1], [100_000, 8]]) {
            let line;
            for (let attempt = 0; attempt < 5 && line === undefined; attempt++) {
              await client.send(`send 1 ${flags} ${size} 9`);
              try {
                await client.waitFor((l) => l.startsWith("RECV "), 1, flags === 8 ? 2000 : 15000);
              } catch (error) {
                if (flags !== 8) throw error;
              }
              line = receivedLines(client.lines)[0];
            }
            assert.ok(line, `no echo of ${size} bytes`);
            assert.equal(line.length, size);
            assert.equal(line.flags, flags);
            assert.equal(line.hash, fnv1a(pattern(size, 9, false)));
            client.lines.length = 0;
          }
        },
      );
      await t.step("unreliable and unsequenced traffic arrives without duplicates", async () => {
        for (const flags of [0, 2]) {
          await client.send(`burst 300 2 ${flags} 32`);
          await new Promise((r) => setTimeout(r, 500));
          const got = receivedLines(client.lines);
          assert.ok(got.length > 0, "none of 300 arrived");
          const seen = new Set<number>();
          for (const line of got) {
            assert.ok(!seen.has(line.first), `duplicate ${line.first}`);
            seen.add(line.first);
            assert.equal(line.hash, fnv1a(pattern(32, line.first, true)));
          }
          client.lines.length = 0;
        }
      });
      await t.step("disconnect data arrives both ways", async () => {
        await client.send("send 0 1 15 0"); // keeps the channel busy; harmless
        await client.waitFor((l) => l.startsWith("RECV "));
        const disconnectText = new TextEncoder().encode("disconnect:");
        assert.equal(disconnectText.length, 11);
        const peer = server.peers[0];
        peer.disconnect(555);
        await client.waitFor((l) => l === "DISCONNECT 555");
        assert.deepEqual(await deadline(peer.closed, 5000, "close"), {
          reason: "local",
          data: 555,
        });
      });
      await client[Symbol.asyncDispose]();
      await server.close();
      await echoing;
    });
  }

  Deno.test(`enet ↔ ${label}: a ${label} client's disconnect data reaches our server`, async () => {
    await using server = await createHost({ address: { hostname: LOOPBACK4, port: 0 } });
    await using client = new LineProcess(command, [
      ...prefix,
      "client",
      "--connect",
      `${LOOPBACK4}:${server.address.port}`,
    ]);
    const iterator = server[Symbol.asyncIterator]();
    const connected = await deadline(iterator.next(), 5000, "connect");
    assert.equal(connected.value?.type, "connect");
    await client.send("disconnect 987654");
    const closed = await deadline(iterator.next(), 5000, "disconnect");
    assert.equal(closed.value?.type, "disconnect");
    if (closed.value?.type === "disconnect") {
      assert.equal(closed.value.reason, "remote");
      assert.equal(closed.value.data, 987654);
    }
  });
}
