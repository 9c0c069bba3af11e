/**
 * Renders `bench/results.json` into `BENCHMARKS.md` and one SVG chart per module in
 * `bench/charts/`. bench/run.ts calls it after a run; to re-render without measuring:
 * `deno run --allow-read --allow-write --allow-run bench/_render.ts`.
 *
 * @module
 */

import { formatRatio, formatValue, renderChart, seriesOf } from "./_charts.ts";
import type { StoredFigure } from "./_report.ts";

/** What one bench file produced. */
export interface ModuleResult {
  module: string;
  file: string;
  /** When this module's bench ran (ISO 8601). */
  date: string;
  quick: boolean;
  seconds: number;
  exitCode: number;
  figures: StoredFigure[];
}

/** The contents of `bench/results.json`. */
export interface Results {
  generatedBy: string;
  date: string;
  quick: boolean;
  machine: {
    os: string;
    osRelease: string;
    arch: string;
    cpu: string;
    cores: number;
    memoryGiB: number;
  };
  deno: { deno: string; v8: string; typescript: string };
  /** 1-minute load average: before, after, and mean/max of samples every 5 s during the run. */
  load: { before: number; after: number; mean: number; max: number };
  modules: ModuleResult[];
}

/** One line per module: what runs against what. */
const ABOUT: Record<string, string> = {
  enet:
    "ENet 1.3 reliable UDP over loopback, every server in its own process: ours beside C libenet " +
    "1.3.17 and npm `enet` under Node. Rows without a named side pair each system with itself " +
    "(ours ↔ ours, C → C, npm ↔ npm); the mixed rows put our client or server against C's and " +
    "compare with C → C. Ours batches its UDP system calls (Linux, `--allow-ffi`).",
  framed: "Length-framed messages over TCP: `framed/` beside raw `Deno.connect` on the same bytes.",
  mesh: "Serverless P2P mesh, one process per member. net-peer is not on npm, so its figures are " +
    "quoted from its own measurements on this kind of machine, not run here.",
  webrtc: "Data channels and connection set-up over loopback: master + slave + client beside raw " +
    "node-datachannel peers signalled by hand, and in headless Chromium beside a raw " +
    "`RTCPeerConnection` page ↔ node-datachannel.",
  websocket: "WebSocket echo over loopback: our `native` and `rfc6455` engines beside Deno's " +
    "built-in WebSocket and npm `ws` on Node.",
};

/** Ours ÷ peer, turned so that above 1 means ours is better. */
function advantage(f: StoredFigure, ours: number | null, peer: number | null): string {
  if (ours === null || peer === null || !(ours > 0) || !(peer > 0)) return "";
  const r = f.better === "higher" ? ours / peer : peer / ours;
  return formatRatio(r);
}

/** The ratio cell: each of ours against each peer (the i-th of several ours against the i-th peer). */
function ratios(f: StoredFigure): string {
  const series = seriesOf(f);
  const ours = series.filter((s) => s.ours);
  const peers = series.filter((s) => !s.ours);
  const parts: string[] = [];
  peers.forEach((peer, i) => {
    const mine = ours.length === 1 ? ours[0] : ours[i];
    if (!mine) return;
    const r = advantage(f, mine.value, peer.value);
    if (!r) return;
    const who = ours.length === 1 ? "" : `${mine.name} `;
    parts.push(`${who}${r} vs ${peer.name}${peer.quoted ? " (quoted)" : ""}`);
  });
  return parts.join("; ");
}

function cell(value: number | null | undefined, unit: string): string {
  if (value === undefined) return "";
  if (value === null || !Number.isFinite(value)) return "n/a";
  return `${formatValue(value)} ${unit}`;
}

/** The text of BENCHMARKS.md. */
export function renderMarkdown(results: Results): string {
  const { machine, deno } = results;
  const out: string[] = [];
  out.push("# Benchmarks", "");
  out.push(
    "Every figure below comes from `deno task bench` (`bench/run.ts`): each module's bench " +
      "measures ours and the peer system side by side in the same run, on the same machine, " +
      "over loopback (a peer marked _quoted_ could not run here; its figure is quoted). The raw " +
      "numbers are in [`bench/results.json`](bench/results.json). " +
      "The ratio column is turned so that **above 1× means ours is better** (faster, or more " +
      "messages per second).",
    "",
  );
  out.push(
    `- **Run**: ${results.date.slice(0, 16).replace("T", " ")} UTC` +
      (results.quick ? " — **quick run** (`--quick`: smaller counts, a first look only)" : ""),
    `- **Machine**: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, ` +
      `${machine.os} ${machine.osRelease} (${machine.arch})`,
    `- **Deno** ${deno.deno} (V8 ${deno.v8}, TypeScript ${deno.typescript})`,
    `- **Load** (1-minute load average on ${machine.cores} cores): ${
      results.load.before.toFixed(2)
    } before, mean ${results.load.mean.toFixed(2)} and max ${results.load.max.toFixed(2)} during, ${
      results.load.after.toFixed(2)
    } after.` +
      (results.load.before > 1
        ? " **The machine was shared with other work during this run** (it was already loaded " +
          "before the benches started). Absolute figures are lower than on an idle machine; " +
          "ours and the peer ran side by side under the same load, so the ratios hold better " +
          "than the absolute numbers."
        : results.load.mean > machine.cores
        ? " The machine was idle before the run; the load during it is the benches' own " +
          "processes (several servers and clients per scenario), which keep both cores busy."
        : ""),
    "",
  );
  const modules = [...results.modules].sort((a, b) => a.module.localeCompare(b.module));
  out.push("Modules: " + modules.map((m) => `[${m.module}](#${m.module})`).join(" · "), "");
  for (const m of modules) {
    out.push(`## ${m.module}`, "");
    if (ABOUT[m.module]) out.push(ABOUT[m.module], "");
    const when = m.date === results.date
      ? ""
      : ` Measured ${m.date.slice(0, 16).replace("T", " ")} UTC${m.quick ? " (quick)" : ""}.`;
    out.push(
      `\`bench/${m.file}\`: ${m.seconds.toFixed(0)} s` +
        (m.exitCode === 0
          ? "."
          : `, **exited with code ${m.exitCode}** (figures may be partial).`) +
        when,
      "",
    );
    if (m.figures.length === 0) {
      out.push("_No figures recorded._", "");
      continue;
    }
    out.push(
      `![${m.module}: ours beside each peer, per scenario](bench/charts/${m.module}.svg)`,
      "",
    );
    const names: string[] = [];
    for (const f of m.figures) {
      for (const s of seriesOf(f)) if (!names.includes(s.name)) names.push(s.name);
    }
    out.push(`| scenario | ${names.join(" | ")} | ours vs peer (>1× = ours better) |`);
    out.push(`|---|${names.map(() => "---:").join("|")}|---|`);
    for (const f of m.figures) {
      const values = new Map(seriesOf(f).map((s) => [s.name, s.value]));
      const better = f.better === "higher" ? "↑" : "↓";
      out.push(
        `| ${f.scenario} ${better} | ${
          names.map((n) => cell(values.get(n), f.unit)).join(" | ")
        } | ${ratios(f)} |`,
      );
    }
    out.push("", "↑ higher is better, ↓ lower is better.");
    const notes = m.figures.filter((f) => f.note).map((f) => `- ${f.scenario}: ${f.note}`);
    if (notes.length) out.push("", ...notes);
    out.push("");
  }
  return out.join("\n");
}

/**
 * Writes BENCHMARKS.md (at `root`) and `bench/charts/<module>.svg`, then runs `deno fmt` on them
 * and on `bench/results.json` so the checked-in report passes `deno fmt --check`.
 */
export async function writeReport(results: Results, root: URL): Promise<void> {
  const charts = new URL("bench/charts/", root);
  await Deno.mkdir(charts, { recursive: true });
  const written = [new URL("BENCHMARKS.md", root), new URL("bench/results.json", root)];
  for (const m of results.modules) {
    if (m.figures.length === 0) continue;
    const title = `${m.module}: ours beside each peer` + (m.quick ? " (quick run)" : "");
    const file = new URL(`${m.module}.svg`, charts);
    await Deno.writeTextFile(file, renderChart(title, m.figures));
    written.push(file);
  }
  await Deno.writeTextFile(written[0], renderMarkdown(results));
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", ...written.map((u) => u.pathname)],
    cwd: root.pathname,
    stdout: "null",
  }).output();
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  const results = JSON.parse(
    await Deno.readTextFile(new URL("bench/results.json", root)),
  ) as Results;
  await writeReport(results, root);
  console.log("wrote BENCHMARKS.md and bench/charts/");
}
