// Charts drawn as SVG from a dashboard chart's answer (GET
// /dashboards/{id}/data): number cards, bar, line, pie, funnel and table.
// Every label is set as text content, never parsed as markup.
import { h } from "./dom.js";
import { currentLang, t } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f6feb", "#1a7f37", "#bf8700", "#cf222e", "#8250df", "#0a7ea4", "#d4380d", "#57606a"];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** The number of a measure value (numbers may come as decimal strings). */
export function num(v) {
  if (typeof v === "number") return v;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

/** A measure for display: ratios as percentages, others with separators. */
export function fmt(v, op) {
  if (v === null || v === undefined) return "—";
  const n = num(v);
  if (op === "ratio" || op === "churn_rate") return `${(n * 100).toFixed(1)}%`;
  if (op === "nps") return n.toFixed(1);
  return Number.isInteger(n) ? n.toLocaleString() : n.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

/** A category key for display (`null` is "no value"). */
export function keyLabel(k) {
  if (k === null || k === undefined || k === "") return t("chart.no_value");
  if (typeof k === "object") return JSON.stringify(k);
  return String(k);
}

function svg(width, height, label) {
  return s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart-svg" });
}

function title(text) {
  return s("title", {}, text);
}

/** A tick label: compact for large numbers (5.2M, 522万), else as `fmt`. */
function tick(v, op) {
  if (op === "ratio" || op === "churn_rate" || op === "nps" || Math.abs(v) < 10000) return fmt(v, op);
  const locale = currentLang() === "zh" ? "zh-CN" : "en";
  return new Intl.NumberFormat(locale, { notation: "compact", maximumFractionDigits: 1 }).format(v);
}

/**
 * The value axis of a bar or line chart: from the lowest value (or zero)
 * to the highest (or zero), so negative values (points redeemed, an NPS
 * below zero) draw below the zero line inside the chart. Answers `y(v)`,
 * the plot's left edge (wide enough for the tick labels) and the ticks.
 */
function valueAxis(series, op, H, top, bottom) {
  const values = series.map((p) => num(p.value));
  const lo = Math.min(0, ...values);
  let hi = Math.max(0, ...values);
  if (hi - lo < 1e-9) hi = lo + 1;
  const y = (v) => top + ((hi - v) * (H - bottom - top)) / (hi - lo);
  const ticks = [[hi, tick(hi, op)]];
  if (lo < 0) ticks.push([lo, tick(lo, op)], [0, tick(0, op)]);
  const widest = Math.max(...ticks.map(([, text]) => text.length));
  const left = Math.min(120, Math.max(44, 12 + widest * 7));
  return { y, left, ticks };
}

function drawAxis(g, axis, W) {
  g.append(s("line", { x1: axis.left, y1: axis.y(0), x2: W - 4, y2: axis.y(0), class: "axis" }));
  for (const [v, text] of axis.ticks) {
    g.append(s("text", { x: axis.left - 6, y: axis.y(v) + 4, "text-anchor": "end", class: "tick" }, text));
  }
}

/** Every how many categories a label fits under the axis (six at most). */
function labelEvery(n) {
  return Math.max(1, Math.ceil(n / 6));
}

function bar(series, op, label, name) {
  const W = 420, H = 220, bottom = 40, top = 10;
  const axis = valueAxis(series, op, H, top, bottom);
  const g = svg(W, H, label);
  const slot = (W - axis.left - 8) / Math.max(1, series.length);
  const every = labelEvery(series.length);
  drawAxis(g, axis, W);
  series.forEach((p, i) => {
    const v = num(p.value);
    const [y1, y2] = [axis.y(Math.max(v, 0)), axis.y(Math.min(v, 0))];
    const x = axis.left + i * slot + slot * 0.15;
    const rect = s("rect", {
      x, y: y1, width: slot * 0.7, height: Math.max(0, y2 - y1),
      fill: PALETTE[0], "data-key": keyLabel(p.key), class: "bar",
    }, title(`${name(p.key)}: ${fmt(p.value, op)}`));
    g.append(rect);
    if (i % every === 0) {
      g.append(s("text", { x: x + slot * 0.35, y: H - bottom + 14, "text-anchor": "middle", class: "tick" },
        clip(name(p.key), slot * every)));
    }
  });
  return g;
}

function line(series, op, label, name) {
  const W = 420, H = 220, bottom = 40, top = 10;
  const axis = valueAxis(series, op, H, top, bottom);
  const g = svg(W, H, label);
  const step = series.length > 1 ? (W - axis.left - 16) / (series.length - 1) : 0;
  const xy = series.map((p, i) => [axis.left + 8 + i * step, axis.y(num(p.value))]);
  drawAxis(g, axis, W);
  if (xy.length > 0) {
    g.append(s("polyline", { points: xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "), class: "line", stroke: PALETTE[0] }));
  }
  const every = labelEvery(series.length);
  series.forEach((p, i) => {
    const [x, y] = xy[i];
    g.append(s("circle", { cx: x, cy: y, r: 3, fill: PALETTE[0], class: "point", "data-key": keyLabel(p.key) },
      title(`${name(p.key)}: ${fmt(p.value, op)}`)));
    if (i % every === 0) g.append(s("text", { x, y: H - bottom + 14, "text-anchor": "middle", class: "tick" }, clip(name(p.key), Math.max(step * every, 56))));
  });
  return g;
}

function pie(series, op, label, name) {
  const W = 420, H = 220, cx = 110, cy = 110, r = 95;
  const total = series.reduce((a, p) => a + Math.max(0, num(p.value)), 0);
  const g = svg(W, H, label);
  let angle = -Math.PI / 2;
  series.forEach((p, i) => {
    const v = Math.max(0, num(p.value));
    const share = total > 0 ? v / total : 0;
    const colour = PALETTE[i % PALETTE.length];
    const tip = title(`${name(p.key)}: ${fmt(p.value, op)} (${(share * 100).toFixed(1)}%)`);
    if (share >= 0.9999) {
      g.append(s("circle", { cx, cy, r, fill: colour, class: "slice", "data-key": keyLabel(p.key) }, tip));
    } else if (share > 0) {
      const a2 = angle + share * 2 * Math.PI;
      const [x1, y1] = [cx + r * Math.cos(angle), cy + r * Math.sin(angle)];
      const [x2, y2] = [cx + r * Math.cos(a2), cy + r * Math.sin(a2)];
      const d = `M${cx},${cy} L${x1.toFixed(2)},${y1.toFixed(2)} A${r},${r} 0 ${share > 0.5 ? 1 : 0} 1 ${x2.toFixed(2)},${y2.toFixed(2)} Z`;
      g.append(s("path", { d, fill: colour, class: "slice", "data-key": keyLabel(p.key) }, tip));
      angle = a2;
    }
    const ly = 16 + i * 20;
    if (ly < H - 4) {
      g.append(s("rect", { x: 230, y: ly - 10, width: 12, height: 12, fill: colour }));
      g.append(s("text", { x: 248, y: ly, class: "legend" }, `${clip(name(p.key), 110)} · ${fmt(p.value, op)}`));
    }
  });
  return g;
}

function funnel(series, op, label, name) {
  const W = 420, rowH = 30, H = Math.max(60, series.length * rowH + 8);
  const max = Math.max(1e-9, ...series.map((p) => num(p.value)));
  const g = svg(W, H, label);
  series.forEach((p, i) => {
    const w = Math.max(2, ((W - 170) * num(p.value)) / max);
    const x = 10 + (W - 170 - w) / 2;
    const y = 4 + i * rowH;
    g.append(s("rect", { x, y, width: w, height: rowH - 6, fill: PALETTE[i % PALETTE.length], class: "stage", "data-key": keyLabel(p.key) },
      title(`${name(p.key)}: ${fmt(p.value, op)}`)));
    const conv = p.conversion === undefined || p.conversion === null || i === 0 ? "" : ` · ${(p.conversion * 100).toFixed(0)}%`;
    g.append(s("text", { x: W - 155, y: y + rowH / 2, class: "legend" }, `${clip(name(p.key), 80)} ${fmt(p.value, op)}${conv}`));
  });
  return g;
}

function table(series, op, name) {
  return h("table.chart-table",
    h("thead", h("tr", h("th", t("chart.category")), h("th", t("chart.value")))),
    h("tbody", series.map((p) => h("tr", h("td", name(p.key)), h("td.num", fmt(p.value, op))))));
}

/** Shortens a label to roughly fit `px` pixels. */
function clip(text, px) {
  const n = Math.max(2, Math.floor(px / 7));
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/**
 * The drawing of one chart's answer; `def` is the chart's definition and
 * `labels` (optional) maps stored values to what people read (a select's
 * option labels), for legends, axes and tips.
 */
export function drawChart(def, data, labels = null) {
  const name = (k) => (k !== null && k !== undefined && labels?.get(String(k))) || keyLabel(k);
  const op = def.measure?.op;
  const label = def.title || def.id;
  if (data?.error) return h("p.field-error", { role: "alert" }, data.error.message ?? String(data.error));
  if (def.kind === "number" || (!def.group_by && data?.value !== undefined && data?.value !== null)) {
    return h("p.chart-number", { "data-testid": "chart-number" }, fmt(data?.value ?? data?.series?.[0]?.value, op));
  }
  const series = data?.series ?? [];
  if (series.length === 0) return h("p.muted", t("chart.empty"));
  switch (def.kind) {
    case "line": return line(series, op, label, name);
    case "pie": return pie(series, op, label, name);
    case "funnel": return funnel(series, op, label, name);
    case "table": return table(series, op, name);
    default: return bar(series, op, label, name);
  }
}
