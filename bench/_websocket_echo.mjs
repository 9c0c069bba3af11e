// The echo measurement shared by bench/websocket_bench.ts (Deno) and
// bench/_websocket_ws_peer.mjs (Node), so every system is timed by the same code.
// A client is { send(bytes), onMessage(callback) }; every echo frees a window slot.

/**
 * Keeps `window` messages in flight per client for `durationMs` and returns
 * echoes per second, round-trip percentiles (ms) and the process CPU time
 * (user + system) per echo in µs: `cpuMicros()` reads the process CPU clock.
 * CPU per echo stays meaningful on a shared, loaded machine where wall-clock
 * rates swing with the neighbours.
 */
export async function measureEcho(clients, payload, window, durationMs, cpuMicros) {
  const rtts = [];
  let echoes = 0;
  const cpuStart = cpuMicros();
  const started = performance.now();
  const stopAt = started + durationMs;
  await Promise.all(clients.map((client) =>
    new Promise((resolve) => {
      const sentAt = [];
      let outstanding = 0;
      const sendOne = () => {
        sentAt.push(performance.now());
        outstanding++;
        client.send(payload);
      };
      client.onMessage(() => {
        const now = performance.now();
        rtts.push(now - sentAt.shift());
        outstanding--;
        echoes++;
        if (now < stopAt) sendOne();
        else if (outstanding === 0) resolve();
      });
      for (let i = 0; i < window; i++) sendOne();
    })
  ));
  const elapsed = (performance.now() - started) / 1000;
  rtts.sort((a, b) => a - b);
  const pick = (q) => rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * q))] ?? 0;
  const cpu = (cpuMicros() - cpuStart) / Math.max(echoes, 1);
  return { rate: echoes / elapsed, p50: pick(0.5), p99: pick(0.99), cpu };
}
