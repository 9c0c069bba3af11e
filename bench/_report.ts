/**
 * The small API every bench uses to hand its figures to the report: one `figure()` call per
 * measured scenario, with our value and the peer's value from the same run. `bench/run.ts` sets
 * `NETKIT_BENCH_FIGURES` to a file per bench; `figure()` appends one JSON line to it, and
 * run.ts collects them into `bench/results.json` and renders `BENCHMARKS.md`. Run standalone
 * (without run.ts) a bench prints as before and `figure()` does nothing.
 *
 * `quick` is true under `deno task bench --quick`: benches shrink their counts for a first look.
 *
 * @module
 */

/** Which way a figure is better. */
export type Better = "higher" | "lower";

/** One measured scenario: ours beside the peer system(s), measured in the same run. */
export interface Figure {
  /** What was measured, e.g. "reliable 1 KiB echo". */
  scenario: string;
  /** Unit of every value, e.g. "msg/s", "ms", "MB/s". */
  unit: string;
  /** Whether a higher or a lower value is better. */
  better: Better;
  /** Our value, or several of ours by name (e.g. one per engine). */
  ours: number | Record<string, number | null>;
  /** The peers' values by name (null: the peer could not run). */
  peers: Record<string, number | null>;
  /** Peers whose value was not measured in this run but quoted (e.g. a published figure). */
  quoted?: string[];
  /** A short remark shown under the module's table. */
  note?: string;
}

/** A figure as stored in `bench/results.json`. */
export interface StoredFigure extends Figure {
  /** The module (from the bench's file name: `enet_bench.ts` → `enet`). */
  module: string;
}

/** Whether `deno task bench --quick` asked for a short run. */
export const quick: boolean = Deno.env.get("NETKIT_BENCH_QUICK") === "1" ||
  Deno.args.includes("--quick");

/** The module a bench belongs to, from the main module's file name. */
function moduleName(): string {
  const file = new URL(Deno.mainModule).pathname.split("/").pop() ?? "";
  return file.replace(/^_/, "").replace(/_bench\.ts$/, "").replace(/\.ts$/, "");
}

/** Records one figure for the report (a no-op when the bench runs on its own). */
export function figure(f: Figure): void {
  const path = Deno.env.get("NETKIT_BENCH_FIGURES");
  if (!path) return;
  const stored: StoredFigure = { module: moduleName(), ...f };
  Deno.writeTextFileSync(path, JSON.stringify(stored) + "\n", { append: true });
}

/** The value at quantile `q` (0..1) of `xs` (nearest rank). */
export function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
