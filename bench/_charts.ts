/**
 * A small SVG bar-chart renderer for BENCHMARKS.md: per scenario, one horizontal bar per system
 * (ours in blue, each peer in its own muted colour), scaled to the largest value of that
 * scenario, with the value printed at the bar's end. Plain SVG 1.1 with a white background and
 * generic fonts, so GitHub and JSR show it the same in light and dark mode (as an `<img>`).
 *
 * @module
 */

import type { StoredFigure } from "./_report.ts";

const WIDTH = 860;
const PAD = 16;
const LABEL_RIGHT = 236;
const BAR_LEFT = 246;
const BAR_MAX = 380;
const ROW = 20;
const BAR = 14;
const FONT = "Helvetica, Arial, sans-serif";
const OURS_COLOURS = ["#1d4ed8", "#3b82f6", "#60a5fa"];
const PEER_COLOURS = ["#6b7280", "#c2410c", "#0f766e", "#a16207"];

/** One bar of a chart. */
interface Series {
  name: string;
  value: number | null;
  ours: boolean;
  quoted: boolean;
}

/** The systems of a figure, ours first. */
export function seriesOf(f: StoredFigure): Series[] {
  const ours = typeof f.ours === "number" ? { ours: f.ours } : f.ours;
  return [
    ...Object.entries(ours).map(([name, value]) => ({ name, value, ours: true, quoted: false })),
    ...Object.entries(f.peers).map(([name, value]) => ({
      name,
      value,
      ours: false,
      quoted: f.quoted?.includes(name) ?? false,
    })),
  ];
}

/** A number at a readable precision: 1,295,622 · 82.6 · 3.15. */
export function formatValue(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString("en-US");
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/** A ratio at a readable precision: 158× · 1.16× · 0.08× · 0.004×. */
export function formatRatio(r: number): string {
  if (r >= 10) return `${r.toFixed(0)}×`;
  if (r >= 0.1) return `${r.toFixed(2)}×`;
  return `${r.toPrecision(1)}×`;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function text(
  x: number,
  y: number,
  content: string,
  attrs: Record<string, string | number> = {},
): string {
  const extra = Object.entries(attrs).map(([k, v]) => ` ${k}="${escape(String(v))}"`).join("");
  return `<text x="${x}" y="${y}"${extra}>${escape(content)}</text>`;
}

/** Renders one module's figures as an SVG document. */
export function renderChart(title: string, figures: StoredFigure[]): string {
  // Colours are fixed per system name across the whole chart, so the legend holds.
  const colours = new Map<string, string>();
  let oursIndex = 0, peerIndex = 0;
  for (const f of figures) {
    for (const s of seriesOf(f)) {
      if (colours.has(s.name)) continue;
      colours.set(
        s.name,
        s.ours
          ? OURS_COLOURS[oursIndex++ % OURS_COLOURS.length]
          : PEER_COLOURS[peerIndex++ % PEER_COLOURS.length],
      );
    }
  }
  const body: string[] = [];
  let y = PAD + 16;
  body.push(text(PAD, y, title, { "font-size": 16, "font-weight": "bold", fill: "#111827" }));
  // Legend.
  y += 22;
  let x = PAD;
  for (const [name, colour] of colours) {
    body.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" rx="2" fill="${colour}"/>`);
    body.push(text(x + 17, y, name, { "font-size": 12, fill: "#374151" }));
    x += 17 + name.length * 6.6 + 18;
    if (x > WIDTH - 160) {
      x = PAD;
      y += 18;
    }
  }
  y += 10;
  for (const f of figures) {
    const series = seriesOf(f);
    y += 24;
    const hint = `${f.unit}, ${f.better} is better`;
    body.push(
      `<text x="${PAD}" y="${y}" font-size="13" fill="#111827"><tspan font-weight="bold">${
        escape(f.scenario)
      }</tspan><tspan fill="#6b7280">  (${escape(hint)})</tspan></text>`,
    );
    y += 6;
    const max = Math.max(0, ...series.map((s) => s.value ?? 0));
    const ours = series.filter((s) => s.ours);
    const peers = series.filter((s) => !s.ours);
    for (const s of series) {
      const top = y + (ROW - BAR) / 2;
      const label = s.quoted ? `${s.name} (quoted)` : s.name;
      body.push(text(LABEL_RIGHT, top + BAR - 3, label, {
        "font-size": 12,
        "text-anchor": "end",
        fill: s.ours ? "#111827" : "#4b5563",
      }));
      if (s.value === null || !Number.isFinite(s.value)) {
        body.push(text(BAR_LEFT, top + BAR - 3, "n/a", { "font-size": 12, fill: "#9ca3af" }));
      } else {
        const width = max > 0 ? Math.max(1, (s.value / max) * BAR_MAX) : 1;
        const colour = colours.get(s.name)!;
        const opacity = s.quoted ? ` fill-opacity="0.45" stroke="${colour}"` : "";
        body.push(
          `<rect x="${BAR_LEFT}" y="${top}" width="${
            width.toFixed(1)
          }" height="${BAR}" rx="2" fill="${colour}"${opacity}/>`,
        );
        body.push(
          text(
            Math.round(BAR_LEFT + width + 6),
            top + BAR - 3,
            `${formatValue(s.value)} ${f.unit}`,
            {
              "font-size": 12,
              fill: "#111827",
            },
          ),
        );
        // Ours against this peer (the i-th of several ours against the i-th peer), turned so
        // that above 1× means ours is better.
        const mine = s.ours ? undefined : ours.length === 1 ? ours[0] : ours[peers.indexOf(s)];
        if (mine?.value && mine.value > 0 && s.value > 0) {
          const r = f.better === "higher" ? mine.value / s.value : s.value / mine.value;
          const who = ours.length === 1 ? "ours" : mine.name.split(" ")[0];
          body.push(text(WIDTH - PAD, top + BAR - 3, `${who} ${formatRatio(r)}`, {
            "font-size": 12,
            "text-anchor": "end",
            fill: r >= 1 ? "#15803d" : "#b45309",
          }));
        }
      }
      y += ROW;
    }
  }
  const height = y + PAD;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${FONT}">`,
    `<rect x="0.5" y="0.5" width="${WIDTH - 1}" height="${
      height - 1
    }" rx="6" fill="#ffffff" stroke="#d1d5db"/>`,
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}
