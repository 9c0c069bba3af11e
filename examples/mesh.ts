/**
 * mesh/ demo: four members form a full mesh over loopback, chat, answer a
 * request, share replicated state, and one of them leaves.
 *
 * @module
 */

import { joinMesh, type Mesh } from "../mesh/mod.ts";

/** One line for the tour menu. */
export const description =
  "serverless P2P full mesh: join, broadcast, request, replicated state, leave";

function step(text: string): void {
  console.log(`  · ${text}`);
}

/** Runs the demo over 127.0.0.1 and returns when every member has left. */
export default async function demo(): Promise<void> {
  const options = {
    hostname: "127.0.0.1",
    port: 0,
    secret: "tour",
    heartbeatInterval: 200,
    suspectTimeout: 600,
    deadTimeout: 1200,
  };
  const alice = await joinMesh({ name: "alice", ...options });
  step(
    `alice started a mesh at ${alice.addr.hostname}:${alice.addr.port} (id ${
      alice.id.slice(0, 8)
    }…)`,
  );
  alice.state.set("round", 1);

  const others: Mesh[] = [];
  for (const name of ["bob", "carol", "dave"]) {
    // Each joins through the previous member; gossip makes the mesh full.
    const seed = (others.at(-1) ?? alice).addr;
    others.push(await joinMesh({ name, seeds: [seed], ...options }));
  }
  const [bob, carol, dave] = others;
  const everyone = [alice, ...others];
  while (everyone.some((m) => m.peers.size < 3)) await new Promise((r) => setTimeout(r, 10));
  step(`full mesh: ${everyone.map((m) => `${m.name} sees ${m.peers.size}`).join(", ")}`);
  step(`dave got the state on join: round = ${dave.state.get("round")}`);

  const heard = Promise.withResolvers<void>();
  let count = 0;
  for (const member of [alice, bob, carol]) {
    member.addEventListener("message", (e) => {
      step(
        `${member.name} ← ${e.detail.peer.name}: ${e.detail.type} ${
          JSON.stringify(e.detail.content)
        }`,
      );
      if (++count === 3) heard.resolve();
    });
  }
  await dave.broadcast("chat", { text: "hello, mesh" });
  await heard.promise;

  carol.onRequest<number[]>("sum", (numbers, from) => {
    step(`carol answers ${from.name}'s request`);
    return numbers.reduce((a, b) => a + b, 0);
  });
  const sum = await bob.request(carol.id, "sum", [1, 2, 3, 4], {
    signal: AbortSignal.timeout(1000),
  });
  step(`bob asked carol for a sum: ${sum}`);

  const changed = new Promise<void>((resolve) =>
    alice.state.addEventListener("change", (e) => {
      step(
        `alice sees state "${e.detail.key}" = ${JSON.stringify(e.detail.value)} (written by ${
          bob.peers.get(e.detail.from)?.name ?? "bob"
        })`,
      );
      resolve();
    }, { once: true })
  );
  bob.state.set("round", 2);
  await changed;

  const left = new Promise<void>((resolve) =>
    alice.addEventListener("peerleave", (e) => {
      step(`alice: ${e.detail.name} left (${e.detail.reason})`);
      resolve();
    }, { once: true })
  );
  await carol.leave();
  await left;
  step(`rtt alice → bob: ${alice.peers.get(bob.id)?.rtt.toFixed(2)} ms`);
  await Promise.all([alice, bob, dave].map((m) => m.leave()));
  step("everyone left");
}

if (import.meta.main) await demo();
