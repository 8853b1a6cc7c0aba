// Time-series charts: a small Preact wrapper around uPlot (vendored, api/static/vendor/uplot).
//
// API:  <${TimeChart} title="Lưu lượng" series=${[{label, unit, points: [[ts, value|null], ...], color?}]}
//         height=${240} digits=${1} id=${"vol"} />
//   ts: ISO string, Date or epoch milliseconds; value null = a gap. Series need not share timestamps (they are
//   aligned on the union of their times). Numbers and dates follow the language (i18n.js fmtNum/fmtDateTime, site
//   time zone); the chart follows its container's width; a caption, a min/mean/max summary and a data table
//   (in a <details>) are the accessible fallback of the canvas. `empty` is the text shown when no point exists.
import { html, useEffect, useRef, useMemo } from "./lib.js";
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { state } from "./store.js";
import { t, fmtNum, fmtDateTime } from "./i18n.js";
import "./i18n/charts.js";

/** Colours with at least 3:1 contrast on white, told apart also by dash (for readers who see no colour). */
export const PALETTE = ["#1d4ed8", "#b91c1c", "#15803d", "#7c3aed", "#b45309", "#0f766e", "#be185d", "#374151"];
const DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3]];
const TABLE_ROWS = 300;

/** Add a stylesheet once (the page's CSP allows same-origin sheets, not inline styles). */
export function ensureCss(href) {
  if (document.querySelector(`link[data-href="${href}"]`)) return;
  const link = document.createElement("link");
  link.rel = "stylesheet"; link.href = href; link.dataset.href = href;
  document.head.appendChild(link);
}

const toMs = (ts) => (ts instanceof Date ? ts.getTime() : typeof ts === "number" ? ts : Date.parse(ts));

/** uPlot's columnar data: [xs (epoch s), ys of series 1, ...], aligned on the union of the series' times. */
export function align(series) {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => toMs(p[0]))))]
    .filter(Number.isFinite).sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    const col = new Array(xs.length).fill(null);
    for (const [ts, v] of s.points) {
      const i = at.get(toMs(ts));
      if (i !== undefined) col[i] = v === null || v === undefined || !Number.isFinite(Number(v)) ? null : Number(v);
    }
    return col;
  });
  return [xs.map((x) => x / 1000), ...ys];
}

function summary(col) {
  const vals = col.filter((v) => v !== null);
  if (!vals.length) return null;
  return { min: Math.min(...vals), max: Math.max(...vals), mean: vals.reduce((a, b) => a + b, 0) / vals.length,
           n: vals.length };
}

function timeLabel(secs, span) {
  return fmtDateTime(new Date(secs * 1000), { seconds: span < 600, date: span > 86400 });
}

function options(series, width, height, digits, span) {
  const unitOf = (s) => (s.unit ? ` (${s.unit})` : "");
  return {
    width, height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), state.tz),
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    series: [
      { label: t("chart_time"), value: (u, v) => (v === null ? t("none") : timeLabel(v, 0)) },
      ...series.map((s, i) => ({
        label: `${s.label}${unitOf(s)}`, stroke: s.color || PALETTE[i % PALETTE.length], width: 2,
        dash: DASHES[i % DASHES.length], spanGaps: false, points: { show: false },
        value: (u, v) => (v === null || v === undefined ? t("none") : fmtNum(v, digits)),
      })),
    ],
    axes: [
      { values: (u, splits) => splits.map((v) => timeLabel(v, span)), stroke: "#374151", grid: { stroke: "#e5e7eb" } },
      { values: (u, splits) => splits.map((v) => fmtNum(v, digits)), stroke: "#374151", grid: { stroke: "#e5e7eb" },
        size: 60 },
    ],
  };
}

export function TimeChart({ title, series, height = 240, digits = 1, id, empty }) {
  ensureCss("/static/vendor/uplot/uPlot.min.css");
  const box = useRef(null);
  const plot = useRef(null);
  const data = useMemo(() => align(series), [series]);
  const span = data[0].length > 1 ? data[0][data[0].length - 1] - data[0][0] : 0;
  const shape = `${state.lang}|${state.tz}|${digits}|${height}|${span > 86400}|${span < 600}|`
    + series.map((s) => `${s.label}/${s.unit}/${s.color || ""}`).join("|");
  const hasData = data.slice(1).some((col) => col.some((v) => v !== null));

  useEffect(() => {
    if (!box.current || !hasData) return undefined;
    const u = new uPlot(options(series, Math.max(200, box.current.clientWidth), height, digits, span), data,
                        box.current);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, box.current ? box.current.clientWidth : 200);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
    });
    ro.observe(box.current);
    return () => { ro.disconnect(); u.destroy(); plot.current = null; };
  }, [shape, hasData]);
  useEffect(() => { if (plot.current) plot.current.setData(data); }, [data]);

  const stats = series.map((s, i) => ({ s, st: summary(data[i + 1]) }));
  const rows = data[0].length;
  // the table: rows holding a value, at most TABLE_ROWS of them (every step-th), times to the second when the
  // points are less than a minute apart
  const filled = data[0].map((_, r) => r).filter((r) => data.slice(1).some((col) => col[r] !== null));
  const step = Math.max(1, Math.ceil(filled.length / TABLE_ROWS));
  const gap = rows > 1 ? data[0][1] - data[0][0] : 0;
  const rowTime = (x) => fmtDateTime(new Date(x * 1000), { seconds: gap < 60, date: span > 86400 });
  const caption = title || t("chart");
  return html`<figure class="time-chart" data-chart=${id || ""} data-points=${rows}>
    <figcaption>${caption}</figcaption>
    ${hasData ? html`<div class="time-chart-plot" ref=${box} role="img"
        aria-label=${t("chart_aria", { title: caption, from: timeLabel(data[0][0], span),
                                        to: timeLabel(data[0][rows - 1], span) })}></div>`
      : html`<p class="muted" data-testid="chart-empty">${empty || t("chart_no_data")}</p>`}
    ${hasData && html`<ul class="chart-summary">${stats.map(({ s, st }, i) => html`<li key=${i}>
      <span class="swatch" style=${{ background: s.color || PALETTE[i % PALETTE.length] }} aria-hidden="true"></span>${s.label}: ${st
        ? t("chart_stats", { min: fmtNum(st.min, digits), mean: fmtNum(st.mean, digits), max: fmtNum(st.max, digits),
                             unit: s.unit || "" })
        : t("chart_no_data")}</li>`)}</ul>
    <details class="chart-table">
      <summary>${t("chart_table")}${step > 1 ? ` ${t("chart_every", { n: step })}` : ""}</summary>
      <table class="grid-table">
        <caption class="sr-only">${caption}</caption>
        <thead><tr><th scope="col">${t("chart_time")}</th>${series.map((s, i) => html`<th key=${i} scope="col">${s.label}${s.unit ? ` (${s.unit})` : ""}</th>`)}</tr></thead>
        <tbody>${filled.filter((_, k) => k % step === 0).map((r) => html`<tr key=${data[0][r]}>
          <th scope="row">${rowTime(data[0][r])}</th>
          ${series.map((_, i) => html`<td key=${i}>${fmtNum(data[i + 1][r], digits)}</td>`)}
        </tr>`)}</tbody>
      </table>
    </details>`}
  </figure>`;
}
