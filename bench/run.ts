/**
 * Runs the benchmarks: every `bench/<module>_bench.ts`, or those named on the
 * command line (`deno task bench enet framed`); files starting with `_` are parts of another
 * bench, not benches of their own. Each runs in its own process
 * so one module's sockets and timers cannot disturb another's numbers.
 *
 * Each bench prints its own tables as it goes and hands its figures to `bench/_report.ts`
 * (`figure()`); afterwards this writes `bench/results.json` (machine, Deno version, date, load,
 * every figure with the peer's figure from the same run) and renders `BENCHMARKS.md` with SVG
 * charts in `bench/charts/`. Naming modules re-measures only those and keeps the others'
 * figures in results.json (each module carries its own date).
 *
 * `deno task bench --quick` runs every bench with smaller counts (a first look in about two
 * minutes); `--no-report` leaves results.json and BENCHMARKS.md alone.
 *
 * @module
 */

import type { StoredFigure } from "./_report.ts";
import { type ModuleResult, type Results, writeReport } from "./_render.ts";

const dir = new URL(".", import.meta.url);
const root = new URL("../", dir);
const quick = Deno.args.includes("--quick");
const writeResults = !Deno.args.includes("--no-report");
const wanted = new Set(Deno.args.filter((a) => !a.startsWith("--")));
const files: string[] = [];
for await (const entry of Deno.readDir(dir)) {
  const match = entry.name.match(/^(.+)_bench\.ts$/);
  if (
    entry.isFile && match && !entry.name.startsWith("_") &&
    (wanted.size === 0 || wanted.has(match[1]))
  ) {
    files.push(entry.name);
  }
}
files.sort();
const permissions = [
  "--allow-net=127.0.0.1,[::1],localhost,0.0.0.0",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
  "--allow-ffi",
];

/** How long one bench may run before it is stopped. */
const BENCH_LIMIT_MS = (quick ? 3 : 20) * 60_000;
const load1 = () => Deno.loadavg()[0];
const loadBefore = load1();
const loadSamples: number[] = [loadBefore];
const sampler = setInterval(() => loadSamples.push(load1()), 5000);
const runStarted = performance.now();
const clock = (ms: number) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
console.log(
  `${files.length} bench${files.length === 1 ? "" : "es"}${quick ? " (quick)" : ""}: ${
    files.join(", ")
  }; load average ${loadBefore.toFixed(2)} on ${navigator.hardwareConcurrency} cores`,
);

const results: ModuleResult[] = [];
let failed = 0;
for (const [index, file] of files.entries()) {
  const module = file.replace(/_bench\.ts$/, "");
  console.log(
    `\n### [${index + 1}/${files.length}] ${file} (at ${clock(performance.now() - runStarted)})`,
  );
  const figuresFile = await Deno.makeTempFile({ prefix: `netkit-bench-${module}-` });
  const started = performance.now();
  // A heartbeat for benches that stay quiet for long.
  const heartbeat = setInterval(() => {
    console.log(
      `  … ${module} still running (${clock(performance.now() - started)}, total ${
        clock(performance.now() - runStarted)
      })`,
    );
  }, 60_000);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, new URL(file, dir).pathname],
    env: { NETKIT_BENCH_FIGURES: figuresFile, ...(quick ? { NETKIT_BENCH_QUICK: "1" } : {}) },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // A bench that hangs must not hold up the others: its figures so far still count.
  const limit = setTimeout(() => {
    console.error(`### ${file}: no end after ${clock(BENCH_LIMIT_MS)}, stopping it`);
    child.kill("SIGKILL");
  }, BENCH_LIMIT_MS);
  const { code } = await child.status;
  clearTimeout(limit);
  clearInterval(heartbeat);
  const seconds = (performance.now() - started) / 1000;
  const figures = (await Deno.readTextFile(figuresFile)).split("\n").filter((l) => l.trim())
    .map((line) => JSON.parse(line) as StoredFigure);
  await Deno.remove(figuresFile).catch(() => {});
  console.log(
    `### ${file}: ${figures.length} figure${figures.length === 1 ? "" : "s"} in ${
      seconds.toFixed(0)
    } s`,
  );
  if (code !== 0) {
    console.error(`### ${file} exited with code ${code}`);
    failed++;
  }
  results.push({
    module,
    file,
    date: new Date().toISOString(),
    quick,
    seconds,
    exitCode: code,
    figures,
  });
}
clearInterval(sampler);
loadSamples.push(load1());

if (writeResults && files.length > 0) {
  const date = new Date().toISOString();
  for (const m of results) m.date = date;
  const path = new URL("results.json", dir);
  // Modules not run this time keep their last figures.
  let previous: ModuleResult[] = [];
  if (wanted.size > 0) {
    try {
      previous = (JSON.parse(await Deno.readTextFile(path)) as Results).modules;
    } catch { /* first run */ }
  }
  const ran = new Set(results.map((m) => m.module));
  // Deno refuses to read /proc/cpuinfo without --allow-all; `cat` may.
  const cpu = await new Deno.Command("cat", { args: ["/proc/cpuinfo"], stderr: "null" }).output()
    .then((o) => new TextDecoder().decode(o.stdout).match(/model name\s*:\s*(.+)/)?.[1].trim())
    .catch(() => undefined);
  const report: Results = {
    generatedBy: `deno task bench ${Deno.args.join(" ")}`.trim(),
    date,
    quick,
    machine: {
      os: Deno.build.os,
      osRelease: Deno.osRelease(),
      arch: Deno.build.arch,
      cpu: cpu ?? "unknown CPU",
      cores: navigator.hardwareConcurrency,
      memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30 * 10) / 10,
    },
    deno: Deno.version,
    load: {
      before: loadBefore,
      after: load1(),
      mean: loadSamples.reduce((a, b) => a + b, 0) / loadSamples.length,
      max: Math.max(...loadSamples),
    },
    modules: [...previous.filter((m) => !ran.has(m.module)), ...results]
      .sort((a, b) => a.module.localeCompare(b.module)),
  };
  await Deno.writeTextFile(path, JSON.stringify(report, null, 2) + "\n");
  await writeReport(report, root);
  console.log(
    `\nwrote bench/results.json, BENCHMARKS.md and bench/charts/ (total ${
      clock(performance.now() - runStarted)
    })`,
  );
}
if (failed) Deno.exit(1);
