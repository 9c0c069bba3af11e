import assert from "node:assert/strict";
import { formatRatio, formatValue, renderChart } from "../bench/_charts.ts";
import { renderMarkdown, type Results } from "../bench/_render.ts";
import type { StoredFigure } from "../bench/_report.ts";

const figures: StoredFigure[] = [
  {
    module: "demo",
    scenario: "echo <1 KiB> & more",
    unit: "msg/s",
    better: "higher",
    ours: 2000,
    peers: { "peer a": 1000, "peer b": null },
  },
  {
    module: "demo",
    scenario: "set-up p50",
    unit: "ms",
    better: "lower",
    ours: 10,
    peers: { "peer a": 40 },
    quoted: ["peer a"],
    note: "quoted from elsewhere",
  },
  {
    module: "demo",
    scenario: "two engines",
    unit: "msg/s",
    better: "higher",
    ours: { "engine x": 50, "engine y": 300 },
    peers: { "peer a": 100, "peer c": 100 },
  },
];

function results(): Results {
  return {
    generatedBy: "deno task bench",
    date: "2026-01-01T00:00:00.000Z",
    quick: false,
    machine: {
      os: "linux",
      osRelease: "6",
      arch: "x86_64",
      cpu: "Some CPU",
      cores: 2,
      memoryGiB: 4,
    },
    deno: { deno: "2", v8: "1", typescript: "5" },
    load: { before: 0.1, after: 0.2, mean: 0.2, max: 0.3 },
    modules: [{
      module: "demo",
      file: "demo_bench.ts",
      date: "2026-01-01T00:00:00.000Z",
      quick: false,
      seconds: 12,
      exitCode: 0,
      figures,
    }],
  };
}

Deno.test("the report turns every ratio so that above 1× means ours is better", () => {
  const md = renderMarkdown(results());
  // higher is better: 2000 vs 1000 → 2.00×; lower is better: 10 ms vs 40 ms → 4.00×.
  assert.match(
    md,
    /\| echo <1 KiB> & more ↑ \| 2,000 msg\/s \| 1,000 msg\/s \| n\/a \|.*2\.00× vs peer a \|/,
  );
  assert.match(md, /\| set-up p50 ↓ \| 10\.0 ms \| 40\.0 ms \|.*4\.00× vs peer a \(quoted\) \|/);
  // Several of ours: the i-th against the i-th peer.
  assert.match(md, /engine x 0\.50× vs peer a; engine y 3\.00× vs peer c/);
  assert.match(md, /- set-up p50: quoted from elsewhere/);
  assert.match(md, /!\[demo: .*\]\(bench\/charts\/demo\.svg\)/);
  assert.doesNotMatch(md, /shared with other work/, "an idle machine is not called loaded");
});

Deno.test("the report says when the machine was loaded", () => {
  const r = results();
  r.load = { before: 3, after: 4, mean: 3.5, max: 5 };
  assert.match(renderMarkdown(r), /shared with other work/);
});

Deno.test("a chart is one SVG document with escaped text, a bar per value and n/a for a missing peer", () => {
  const svg = renderChart("demo & co", figures);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.equal(svg.trimEnd().split("\n").at(-1), "</svg>");
  assert.ok(svg.includes("demo &amp; co"));
  assert.ok(svg.includes("echo &lt;1 KiB&gt; &amp; more"));
  assert.ok(!svg.replace(/&(amp|lt|gt|quot);/g, "").includes("&"), "every & is an entity");
  assert.ok(!svg.includes("<1 KiB>"), "no raw markup from a scenario name");
  assert.ok(svg.includes(">n/a</text>"));
  // 2 + 2 + 4 values with a number: 8 bars, plus the background and 6 legend swatches.
  assert.equal(svg.match(/<rect /g)?.length, 1 + 6 + 8);
  assert.ok(svg.includes(">ours 2.00×</text>"));
  assert.ok(svg.includes(">ours 4.00×</text>"));
  assert.ok(svg.includes(">engine 0.50×</text>") && svg.includes(">engine 3.00×</text>"));
});

Deno.test("values and ratios print at a readable precision", () => {
  assert.equal(formatValue(1295622.4), "1,295,622");
  assert.equal(formatValue(182.6), "183");
  assert.equal(formatValue(82.55), "82.5");
  assert.equal(formatValue(3.154), "3.15");
  assert.equal(formatValue(0.0678), "0.068");
  assert.equal(formatRatio(158.2), "158×");
  assert.equal(formatRatio(1.164), "1.16×");
  assert.equal(formatRatio(0.004), "0.004×");
});
