// Small charts drawn locally as plain SVG (no library, nothing from the network): bars (one or
// more series side by side), lines (one or more series; null values leave a gap) and histograms
// (bars over bucket labels). Each chart comes in a <figure> with its caption, axis labels and
// the same numbers in a table (for screen readers, and for whoever wants the exact figures).
import { el } from "./dom.js";
import { addMessages, t } from "./i18n.js";

addMessages({ zh: { chart_data_table: "数据表" }, en: { chart_data_table: "Data table" } });

const SVG = "http://www.w3.org/2000/svg";
const W = 640;
const H = 260;
const PAD = { left: 52, right: 12, top: 14, bottom: 58 };
export const PALETTE = ["#4aa3ff", "#ff5a5a", "#3ecf6e", "#ffb020", "#b48cff", "#8b9bb0"];

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  });
  children.flat().forEach((c) => {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  });
  return node;
}

/** A "nice" axis maximum (1, 2, 4 or 8 times a power of ten) at or above `value`: its four
 * tick steps are round numbers (a count of 3 gets ticks 1, 2, 3, 4). */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 4, 8, 10].find((m) => m * power >= value);
  return step * power;
}

function tickText(value) {
  return String(Math.round(value * 100) / 100);
}

/** A label shortened for the axis (the full text is in the tooltip and the table). */
function short(label, room) {
  const wide = /[^\x00-\x7f]/.test(label); // CJK glyphs take about twice the width
  const chars = Math.max(3, Math.floor(room / (wide ? 11 : 6.5)));
  return label.length > chars ? `${label.slice(0, chars - 1)}…` : label;
}

export function fmtNumber(value) {
  if (value === null || value === undefined) return "—";
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function yAxis(max, yLabel) {
  const parts = [];
  const plotH = H - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i += 1) {
    const value = (max * i) / 4;
    const y = PAD.top + plotH - (plotH * i) / 4;
    parts.push(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }));
    parts.push(svg("text", { x: PAD.left - 6, y: y + 4, class: "tick", "text-anchor": "end" },
      tickText(value)));
  }
  parts.push(svg("text", { x: 12, y: PAD.top + plotH / 2, class: "axis-label",
    transform: `rotate(-90 12 ${PAD.top + plotH / 2})`, "text-anchor": "middle" }, yLabel));
  return parts;
}

function xAxis(labels, xLabel, xOf) {
  const every = Math.max(1, Math.ceil(labels.length / 16));
  const room = ((W - PAD.left - PAD.right) / Math.max(1, labels.length)) * every;
  const parts = labels.map((label, i) => (i % every ? null : svg("text", {
    x: xOf(i), y: H - PAD.bottom + 16, class: "tick", "text-anchor": "middle",
  }, short(String(label), room), svg("title", {}, label))));
  parts.push(svg("text", { x: PAD.left + (W - PAD.left - PAD.right) / 2, y: H - 10,
    class: "axis-label", "text-anchor": "middle" }, xLabel));
  return parts;
}

function legend(series) {
  if (series.length < 2) return null;
  return el("ul", { class: "chart-legend" }, series.map((s, i) => el("li", {},
    el("span", { class: "swatch", style: `background:${s.color || PALETTE[i]}` }), s.label)));
}

function table(caption, labels, series, xLabel) {
  return el("details", { class: "chart-data" },
    el("summary", {}, t("chart_data_table")),
    el("table", { class: "table" },
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, xLabel),
        series.map((s) => el("th", { scope: "col" }, s.label)))),
      el("tbody", {}, labels.map((label, i) => el("tr", {},
        el("th", { scope: "row" }, label),
        series.map((s) => el("td", {}, fmtNumber(s.values[i]))))))));
}

function figure(id, title, chart, series, labels, xLabel, yLabel) {
  const summary = `${title}: ${xLabel} / ${yLabel}`;
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", summary);
  return el("figure", { class: "chart", id },
    el("figcaption", {}, title), chart, legend(series), table(title, labels, series, xLabel));
}

/**
 * Bars: `labels` along x, `series` = [{label, values: [number|null], color?}] side by side.
 * Returns a <figure> holding the SVG and the numbers as a table.
 */
export function barChart({ id, title, labels, series, xLabel, yLabel }) {
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null))));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, labels.length);
  const barW = Math.max(1, (slot * 0.8) / series.length);
  const xOf = (i) => PAD.left + slot * i + slot / 2;
  const bars = [];
  labels.forEach((label, i) => series.forEach((s, k) => {
    const value = s.values[i];
    if (value === null || value === undefined) return;
    const h = (plotH * value) / max;
    bars.push(svg("rect", {
      class: "bar", x: PAD.left + slot * i + slot * 0.1 + barW * k, y: PAD.top + plotH - h,
      width: barW, height: Math.max(h, 0), fill: s.color || PALETTE[k],
      "data-label": label, "data-series": s.label, "data-value": value,
    }, svg("title", {}, `${label} · ${s.label}: ${fmtNumber(value)}`)));
  }));
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg" },
    yAxis(max, yLabel), xAxis(labels, xLabel, xOf), bars);
  return figure(id, title, chart, series, labels, xLabel, yLabel);
}

/** Lines over `labels`; a null value breaks the line. Points carry their value as data. */
export function lineChart({ id, title, labels, series, xLabel, yLabel }) {
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null))));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const xOf = (i) => PAD.left + (labels.length > 1 ? (plotW * i) / (labels.length - 1) : plotW / 2);
  const yOf = (v) => PAD.top + plotH - (plotH * v) / max;
  const drawn = series.map((s, k) => {
    const color = s.color || PALETTE[k];
    let path = "";
    let pen = false;
    const dots = [];
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      path += `${pen ? "L" : "M"}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)} `;
      pen = true;
      dots.push(svg("circle", { class: "point", cx: xOf(i), cy: yOf(v), r: 2.5, fill: color,
        "data-label": labels[i], "data-series": s.label, "data-value": v },
      svg("title", {}, `${labels[i]} · ${s.label}: ${fmtNumber(v)}`)));
    });
    return svg("g", { class: "series" },
      svg("path", { d: path.trim() || "M0,0", fill: "none", stroke: color, "stroke-width": 2 }), dots);
  });
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg" },
    yAxis(max, yLabel), xAxis(labels, xLabel, xOf), drawn);
  return figure(id, title, chart, series, labels, xLabel, yLabel);
}

/** A histogram: one bar per bucket; `buckets` = [{label, count}]. */
export function histogram({ id, title, buckets, xLabel, yLabel, seriesLabel }) {
  return barChart({ id, title, xLabel, yLabel, labels: buckets.map((b) => b.label),
    series: [{ label: seriesLabel, values: buckets.map((b) => b.count) }] });
}
