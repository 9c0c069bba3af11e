/**
 * One mesh member in its own process, driven by the tests and the bench.
 *
 * Configuration: `Deno.args[0]` is JSON `MeshOptions` (plus `waitForGo`:
 * join only after a `{"cmd":"go"}` line). Events go to stdout as JSON lines;
 * commands come as JSON lines on stdin:
 *
 * - `{"cmd":"go"}` joins (with `waitForGo`)
 * - `{"cmd":"peers"}` → `{"ev":"peers","names":[…]}`
 * - `{"cmd":"broadcast","count":n,"window":w}` → broadcasts `{seq}` messages of type
 *   "seq", at most `w` unresolved at once → `{"ev":"sent","ms":…}`
 * - `{"cmd":"expect","count":n,"from"?:name}` → once `n` "seq" messages arrived from every
 *   peer (or from the peer named `from`)
 *   → `{"ev":"received","ms":…,"ordered":true}` (ms since the expect command)
 * - `{"cmd":"reset"}` forgets the sequence numbers seen so far (before a new round)
 *   → `{"ev":"reset"}` once done
 * - `{"cmd":"leave"}` leaves and exits
 *
 * @module
 */

import { joinMesh, type MeshOptions } from "../../mesh/mod.ts";

const config = JSON.parse(Deno.args[0]) as MeshOptions & { waitForGo?: boolean; fullAt?: number };
const encoder = new TextEncoder();
/** `MESH_DEBUG=1` (when env access is granted) logs every event to stderr. */
const debug = Deno.permissions.querySync({ name: "env", variable: "MESH_DEBUG" }).state ===
    "granted" && Deno.env.get("MESH_DEBUG") !== undefined;
function emit(value: unknown): void {
  if (debug) console.error(config.name, JSON.stringify(value));
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(value) + "\n"));
}

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
let buffered = "";
async function nextCommand(): Promise<{ cmd: string; [key: string]: unknown } | null> {
  while (true) {
    const newline = buffered.indexOf("\n");
    if (newline >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim()) return JSON.parse(line);
      continue;
    }
    const { value, done } = await lines.read();
    if (done) return null;
    buffered += value;
  }
}

if (config.waitForGo) {
  emit({ ev: "ready" });
  const go = await nextCommand();
  if (go?.cmd !== "go") Deno.exit(2);
}
const started = performance.now();
let mesh;
try {
  mesh = await joinMesh(config);
} catch (error) {
  emit({ ev: "error", code: (error as { code?: string }).code ?? (error as Error).name });
  Deno.exit(1);
}
emit({
  ev: "joined",
  id: mesh.id,
  port: mesh.addr.port,
  peers: mesh.peers.size,
  ms: performance.now() - started,
});
const fullAt = config.fullAt;
let reportedFull = false;
function checkFull(): void {
  if (fullAt !== undefined && !reportedFull && mesh!.peers.size >= fullAt) {
    reportedFull = true;
    emit({ ev: "full", ms: performance.now() - started });
  }
}
checkFull();
mesh.addEventListener("peerjoin", (e) => {
  emit({ ev: "peerjoin", name: e.detail.name, peers: mesh!.peers.size });
  checkFull();
});
mesh.addEventListener("connectionerror", (e) => {
  emit({ ev: "connectionerror", code: e.detail.error.code, peer: e.detail.peerId });
});
mesh.addEventListener("peerleave", (e) => {
  emit({ ev: "peerleave", name: e.detail.name, reason: e.detail.reason, peers: mesh!.peers.size });
});

const nextSeq = new Map<string, number>();
let ordered = true;
let expect: { count: number; since: number; from?: string } | undefined;
function checkExpect(): void {
  if (!expect) return;
  for (const peer of mesh!.peers.values()) {
    if (expect.from !== undefined && peer.name !== expect.from) continue;
    if ((nextSeq.get(peer.id) ?? 0) < expect.count) return;
  }
  emit({ ev: "received", ms: performance.now() - expect.since, ordered });
  expect = undefined;
}
mesh.addEventListener("message", (e) => {
  const { from, type, content } = e.detail;
  if (type !== "seq") return;
  const seq = (content as { seq: number }).seq;
  const want = nextSeq.get(from) ?? 0;
  if (seq !== want) {
    if (ordered && debug) {
      console.error(`${config.name}: seq ${seq} from ${e.detail.peer.name}, wanted ${want}`);
    }
    ordered = false;
  }
  nextSeq.set(from, seq + 1);
  if (expect && seq + 1 >= expect.count) checkExpect();
});

while (true) {
  const command = await nextCommand();
  if (command === null || command.cmd === "leave") break;
  if (command.cmd === "peers") {
    emit({ ev: "peers", names: [...mesh.peers.values()].map((p) => p.name).sort() });
  } else if (command.cmd === "broadcast") {
    const count = command.count as number;
    const window = (command.window as number) ?? 256;
    const t0 = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let seq = 0; seq < count; seq++) {
      inFlight.push(mesh.broadcast("seq", { seq }));
      if (inFlight.length >= window) {
        await Promise.all(inFlight);
        inFlight.length = 0;
      }
    }
    await Promise.all(inFlight);
    emit({ ev: "sent", ms: performance.now() - t0 });
  } else if (command.cmd === "reset") {
    // Sequence numbers start again at 0 (the sender restarts its count too).
    nextSeq.clear();
    emit({ ev: "reset" });
  } else if (command.cmd === "expect") {
    expect = {
      count: command.count as number,
      since: performance.now(),
      from: command.from as string | undefined,
    };
    checkExpect();
  }
}
await mesh.leave();
emit({ ev: "left" });
Deno.exit(0);
