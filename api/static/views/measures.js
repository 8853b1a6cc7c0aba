// Signal performance measures of an intersection (ATSPM, computed by atspm in the API): for a date range in the
// site's time zone, arrivals on green per 15-minute bin and phase, split failures per phase, detector volumes, the
// Purdue coordination diagram of a phase (its last day in the range: the API draws at most a day of cycles), and
// the before/after comparison across a plan deploy (the same measure over N days each side, side by side).
// Engineers may compute the bins of the range on demand (the scheduled job computes them every 15 minutes).
import { html, useState, useEffect, useRef, useMemo } from "../lib.js";
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { state, can } from "../store.js";
import { api } from "../session.js";
import { t, fmtNum, fmtDateTime } from "../i18n.js";
import { problemText, useApi } from "./common.js";
import { TimeChart, ensureCss, PALETTE } from "../charts.js";
import "../i18n/measures.js";

const DAY_MS = 86400000;
const MAX_DAYS = 31;
const PCD_ROWS = 200;
const COMPARE = { arrival_on_green: ["ms_m_aog", "Percent_AOG", 100, 1], split_failures: ["ms_m_sf", "Split_Failure", 1, 0],
                  actuations: ["ms_m_vol", "Total", 1, 0] };

/** Milliseconds by which the zone `tz` is ahead of UTC at instant `ms`. */
function zoneAhead(ms, tz) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(new Date(ms));
  const n = (type) => Number(parts.find((p) => p.type === type).value);
  return Date.UTC(n("year"), n("month") - 1, n("day"), n("hour"), n("minute"), n("second")) - Math.floor(ms / 1000) * 1000;
}

/** The instant (ms) of local midnight starting `day` ("YYYY-MM-DD") in the site's zone. */
export function siteMidnight(day, tz) {
  const guess = Date.parse(`${day}T00:00:00Z`);
  return guess - zoneAhead(guess - zoneAhead(guess, tz), tz);
}

/** "YYYY-MM-DD" of instant `ms` in the site's zone. */
export function siteDay(ms, tz) {
  return new Date(ms + zoneAhead(ms, tz)).toISOString().slice(0, 10);
}

const iso = (ms) => new Date(ms).toISOString();

function useMeasure(id, measure, win) {
  const path = win ? `/api/v1/intersections/${encodeURIComponent(id)}/measures/${measure}?start=${iso(win.start)}&end=${iso(win.end)}` : null;
  return useApi(path);
}

/** One series per key (phase or detector) of a measure's rows: [[bin_start, value × scale], ...]. */
function seriesBy(rows, keyOf, column, scale, label, unit) {
  const by = new Map();
  for (const r of rows || []) {
    const k = keyOf(r);
    const v = r.values[column];
    if (k === null || k === undefined || typeof v !== "number") continue;
    if (!by.has(k)) by.set(k, new Map());
    const bins = by.get(k);
    bins.set(r.bin_start, (bins.get(r.bin_start) || 0) + v * scale);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([k, bins]) => ({
    label: label(k), unit, points: [...bins.entries()] }));
}

function MeasureChart({ id, win, measure, chartId, title, column, scale, keyOf, label, unit, digits }) {
  const res = useMeasure(id, measure, win);
  const series = useMemo(() => seriesBy(res.data && res.data.rows, keyOf, column, scale, label, unit),
    [res.data, state.lang]);
  if (res.error) return html`<p class="error" role="alert">${t("failed_load", { reason: res.error })}</p>`;
  if (!res.data) return html`<p class="muted" role="status">${t("loading")}</p>`;
  return html`<${TimeChart} id=${chartId} title=${title} series=${series} digits=${digits} height=${220}
    empty=${t("ms_no_bins")} />`;
}

function pcdOptions(width, height) {
  const time = (secs) => fmtDateTime(new Date(secs * 1000), { seconds: false, date: false });
  const band = (label, stroke) => ({ label, stroke, width: 2, spanGaps: true, points: { show: false } });
  return {
    width, height,
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(10, max)] } },
    series: [
      { label: t("chart_time"), value: (u, v) => (v === null ? "" : time(v)) },
      { label: t("ms_pcd_arrivals"), stroke: PALETTE[0], paths: () => null, points: { show: true, size: 4, fill: PALETTE[0] } },
      band(t("ms_pcd_green"), "#15803d"),
      band(t("ms_pcd_yellow"), "#b45309"),
      band(t("ms_pcd_red"), "#b91c1c"),
    ],
    axes: [
      { values: (u, splits) => splits.map(time), stroke: "#374151", grid: { stroke: "#e5e7eb" } },
      { label: t("ms_pcd_y"), values: (u, splits) => splits.map((v) => fmtNum(v, 0)), stroke: "#374151",
        grid: { stroke: "#e5e7eb" }, size: 60 },
    ],
    legend: { live: false },
  };
}

/** The PCD: every arrival at the phase's advance detectors as seconds into its cycle, with the cycle's green,
 * yellow and red starts as lines; a summary and a table of the cycles as the accessible fallback. */
function Pcd({ id, win, phase }) {
  ensureCss("/static/vendor/uplot/uPlot.min.css");
  const end = win.end;
  const start = Math.max(win.start, siteMidnight(siteDay(end - 1, state.tz), state.tz));   // its last calendar day
  const res = useApi(`/api/v1/intersections/${encodeURIComponent(id)}/pcd?start=${iso(start)}&end=${iso(end)}&phase=${phase}`);
  const box = useRef(null);
  const body = res.data;
  const data = useMemo(() => {
    if (!body || !body.cycles.length) return null;
    const rows = new Map();
    const row = (ms) => { if (!rows.has(ms)) rows.set(ms, [null, null, null, null]); return rows.get(ms); };
    for (const a of body.arrivals) row(Date.parse(a.ts))[0] = a.t_s;
    for (const c of body.cycles) {
      const r = row(Date.parse(c.start));
      r[1] = c.green_start_s; r[2] = c.yellow_start_s; r[3] = c.length_s;
    }
    const xs = [...rows.keys()].sort((a, b) => a - b);
    return [xs.map((x) => x / 1000), ...[0, 1, 2, 3].map((k) => xs.map((x) => rows.get(x)[k]))];
  }, [body]);
  useEffect(() => {
    if (!box.current || !data) return undefined;
    const u = new uPlot(pcdOptions(Math.max(200, box.current.clientWidth), 300), data, box.current);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, box.current ? box.current.clientWidth : 200);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height: 300 });
    });
    ro.observe(box.current);
    return () => { ro.disconnect(); u.destroy(); };
  }, [data, state.lang, state.tz]);
  const dayOf = (d) => fmtDateTime(d).replace(fmtDateTime(d, { date: false }), "").replace(/^[,\s]+|[,\s]+$/g, "");
  const title = t("ms_pcd", { n: phase, day: dayOf(new Date(start)) });
  if (res.error) return html`<figure class="time-chart"><figcaption>${title}</figcaption>
    <p class="error" role="alert">${t("failed_load", { reason: res.error })}</p></figure>`;
  if (!body) return html`<p class="muted" role="status">${t("loading")}</p>`;
  const onGreen = body.arrivals.filter((a) => a.on_green).length;
  const pct = body.arrivals.length ? (100 * onGreen) / body.arrivals.length : null;
  const perCycle = new Map();
  for (const a of body.arrivals) {
    const c = perCycle.get(a.cycle) || [0, 0];
    c[0] += 1; c[1] += a.on_green ? 1 : 0;
    perCycle.set(a.cycle, c);
  }
  return html`<figure class="time-chart pcd" data-chart="pcd" data-points=${body.arrivals.length}>
    <figcaption>${title}</figcaption>
    ${data ? html`<div class="time-chart-plot" ref=${box} role="img" aria-label=${`${title}: ${t("ms_pcd_summary", {
        cycles: body.cycles.length, arrivals: body.arrivals.length, pct: fmtNum(pct, 1) })}`}></div>
      <p class="chart-summary" data-testid="pcd-summary">${t("ms_pcd_summary", { cycles: body.cycles.length,
        arrivals: body.arrivals.length, pct: fmtNum(pct, 1) })}</p>
      <details class="chart-table"><summary>${t("ms_pcd_table", { n: PCD_ROWS })}</summary>
        <table class="grid-table"><caption class="sr-only">${title}</caption>
          <thead><tr><th scope="col">${t("ms_cycle_start")}</th><th scope="col">${t("ms_cycle_len")}</th>
            <th scope="col">${t("ms_green_at")}</th><th scope="col">${t("ms_green_len")}</th>
            <th scope="col">${t("ms_on_green")}</th></tr></thead>
          <tbody>${body.cycles.slice(0, PCD_ROWS).map((c, i) => html`<tr key=${c.start}>
            <th scope="row">${fmtDateTime(c.start, { date: false })}</th><td>${fmtNum(c.length_s, 1)}</td>
            <td>${fmtNum(c.green_start_s, 1)}</td><td>${fmtNum(c.green_s, 1)}</td>
            <td>${perCycle.has(i) ? `${perCycle.get(i)[1]} / ${perCycle.get(i)[0]}` : t("none")}</td></tr>`)}</tbody>
        </table></details>`
      : html`<p class="muted" data-testid="chart-empty">${t("ms_pcd_none")}</p>`}
  </figure>`;
}

function Compare({ id, deployments }) {
  const done = (deployments || []).filter((d) => d.finished_at && d.status === "active");
  const [dep, setDep] = useState("");
  const [days, setDays] = useState(7);
  const [measure, setMeasure] = useState("arrival_on_green");
  const [res, setRes] = useState(null);
  useEffect(() => { if (!dep && done.length) setDep(done[0].id); }, [done.length]);
  const chosen = done.find((d) => d.id === dep);
  async function go(ev) {
    ev.preventDefault();
    if (!chosen) return;
    const r = await api(`/api/v1/intersections/${encodeURIComponent(id)}/measures/${measure}/compare?at=${encodeURIComponent(chosen.finished_at)}&days=${days}`);
    setRes(r.ok ? { body: r.body, measure } : { error: problemText(r) });
  }
  if (!done.length) return html`<p class="muted">${t("ms_no_deploys")}</p>`;
  const [labelKey, column, scale, digits] = COMPARE[(res && res.measure) || measure];
  const rows = [];
  if (res && res.body) {
    const keyOf = (s) => `${s.phase ?? ""}/${s.detector ?? ""}`;
    const after = new Map(res.body.after.summary.map((s) => [keyOf(s), s]));
    const seen = new Set();
    for (const b of [...res.body.before.summary, ...res.body.after.summary]) {
      const k = keyOf(b);
      if (seen.has(k)) continue;
      seen.add(k);
      const before = res.body.before.summary.find((s) => keyOf(s) === k);
      rows.push({ k, phase: b.phase, detector: b.detector, before, after: after.get(k) });
    }
  }
  const val = (s) => (s && typeof s[column] === "number" ? s[column] * scale : null);
  return html`<form class="toolbar" onSubmit=${go}>
      <label>${t("ms_deploy")}<select value=${dep} onChange=${(e) => setDep(e.target.value)}>
        ${done.map((d) => html`<option key=${d.id} value=${d.id}>${t("ms_deploy_opt", { version: d.version,
          time: fmtDateTime(d.finished_at, { seconds: false }) })}</option>`)}</select></label>
      <label>${t("ms_days")}<select value=${days} onChange=${(e) => setDays(Number(e.target.value))}>
        ${[1, 7, 14, 28].map((n) => html`<option key=${n} value=${n}>${n}</option>`)}</select></label>
      <label>${t("ms_measure")}<select value=${measure} onChange=${(e) => setMeasure(e.target.value)}>
        ${Object.entries(COMPARE).map(([m, [key]]) => html`<option key=${m} value=${m}>${t(key)}</option>`)}</select></label>
      <button class="primary" type="submit">${t("ms_compare_go")}</button>
    </form>
    ${res && res.error && html`<p class="error" role="alert">${t("failed_load", { reason: res.error })}</p>`}
    ${res && res.body && (rows.length ? html`<table class="grid-table compare" data-testid="compare">
      <caption>${t("ms_compare_caption", { measure: t(labelKey), days: res.body.days,
        time: fmtDateTime(res.body.at, { seconds: false }) })}</caption>
      <thead><tr><th scope="col">${t("ms_row_phase")}</th><th scope="col">${t("ms_row_det")}</th>
        <th scope="col">${t("ms_before")}</th><th scope="col">${t("ms_after")}</th><th scope="col">${t("ms_change")}</th>
        <th scope="col">${t("ms_bins")}</th></tr></thead>
      <tbody>${rows.map((r) => {
        const b = val(r.before), a = val(r.after);
        const d = a !== null && b !== null ? a - b : null;
        return html`<tr key=${r.k} data-phase=${r.phase ?? ""}>
          <th scope="row">${r.phase ?? t("none")}</th><td>${r.detector ?? t("none")}</td>
          <td>${fmtNum(b, digits)}</td><td>${fmtNum(a, digits)}</td>
          <td class=${d === null ? "" : d > 0 ? "up" : d < 0 ? "down" : ""}>${d === null ? t("none") : `${d > 0 ? "+" : ""}${fmtNum(d, digits)}`}</td>
          <td>${r.before ? r.before.bins : 0} / ${r.after ? r.after.bins : 0}</td></tr>`;
      })}</tbody></table>` : html`<p class="muted">${t("ms_compare_empty")}</p>`)}`;
}

export function MeasuresPage({ id, query }) {
  const enc = encodeURIComponent(id);
  const inter = useApi(`/api/v1/intersections/${enc}`);
  const deps = useApi(`/api/v1/intersections/${enc}/deployments`);
  const today = siteDay(Date.now(), state.tz);
  const [from, setFrom] = useState((query && query.get("from")) || siteDay(Date.now() - 6 * DAY_MS, state.tz));
  const [to, setTo] = useState((query && query.get("to")) || today);
  const [phase, setPhase] = useState(Number(query && query.get("phase")) || 2);
  const [win, setWin] = useState(null);
  const [run, setRun] = useState({ busy: false, note: null, error: null, n: 0 });
  const start = siteMidnight(from, state.tz);
  const end = siteMidnight(to, state.tz) + DAY_MS;    // "to" is included: up to its end
  const bad = !(end > start) || end - start > MAX_DAYS * DAY_MS || Number.isNaN(start) || Number.isNaN(end);
  function load(ev) {
    if (ev) ev.preventDefault();
    if (!bad) setWin({ start, end: Math.min(end, Math.ceil(Date.now() / 900000) * 900000) });
  }
  useEffect(() => { load(); }, [id]);
  async function compute() {
    if (!win) return;
    setRun({ ...run, busy: true, note: null, error: null });
    let events = 0, n = 0;
    for (let a = win.start; a < win.end; a += DAY_MS) {   // a day per call: the API computes at most a day
      const b = Math.min(win.end, a + DAY_MS);
      const r = await api(`/api/v1/intersections/${enc}/measures/run?start=${iso(a)}&end=${iso(b)}`, { method: "POST" });
      if (!r.ok) { setRun({ busy: false, note: null, error: problemText(r), n: run.n }); return; }
      events += r.body.events; n += 1;
    }
    setRun({ busy: false, note: t("ms_computed", { n, events: fmtNum(events) }), error: null, n: run.n + 1 });
  }
  const phases = [1, 2, 3, 4, 5, 6, 7, 8];
  const name = (inter.data && inter.data.name) || id;
  return html`<section aria-labelledby="ms-title" class="measures">
    <div class="title-row">
      <h1 id="ms-title">${t("ms_title", { name })}</h1>
      <span class="muted">${id}</span>
      <span class="spacer"></span>
      <button type="button" onClick=${() => history.back()}>${t("back")}</button>
    </div>
    <form class="toolbar" onSubmit=${load}>
      <label>${t("ms_from")}<input type="date" value=${from} max=${today} onInput=${(e) => setFrom(e.target.value)} /></label>
      <label>${t("ms_to")}<input type="date" value=${to} max=${today} onInput=${(e) => setTo(e.target.value)} /></label>
      <label>${t("ms_phase")}<select value=${phase} onChange=${(e) => setPhase(Number(e.target.value))}>
        ${phases.map((p) => html`<option key=${p} value=${p}>${t("ms_phase_n", { n: p })}</option>`)}
      </select></label>
      <button class="primary" type="submit" disabled=${bad}>${t("ms_load")}</button>
      ${can("intersections:write") && html`<button type="button" onClick=${compute} disabled=${!win || run.busy}>
        ${run.busy ? t("ms_computing") : t("ms_compute")}</button>`}
    </form>
    ${bad && html`<p class="error" role="alert">${t("ms_bad_range")}</p>`}
    ${run.error && html`<p class="error" role="alert">${t("failed_load", { reason: run.error })}</p>`}
    ${run.note && html`<p class="notice" role="status">${run.note}</p>`}
    ${win && html`<div class="chart-grid" key=${`${win.start}-${win.end}-${phase}-${run.n}`}>
      <${MeasureChart} id=${id} win=${win} measure="arrival_on_green" chartId="aog" title=${t("ms_aog")}
        column="Percent_AOG" scale=${100} keyOf=${(r) => r.phase} label=${(p) => t("ms_phase_n", { n: p })}
        unit=${t("ms_aog_unit")} digits=${1} />
      <${MeasureChart} id=${id} win=${win} measure="split_failures" chartId="split-failures" title=${t("ms_sf")}
        column="Split_Failure" scale=${1} keyOf=${(r) => r.phase} label=${(p) => t("ms_phase_n", { n: p })}
        unit=${t("ms_sf_unit")} digits=${0} />
      <${MeasureChart} id=${id} win=${win} measure="actuations" chartId="volumes" title=${t("ms_volume")}
        column="Total" scale=${1} keyOf=${(r) => r.detector} label=${(d) => t("ms_det_n", { n: d })}
        unit=${t("ms_veh")} digits=${0} />
      <${Pcd} id=${id} win=${win} phase=${phase} />
    </div>`}
    <h2>${t("ms_compare")}</h2>
    ${deps.error ? html`<p class="error" role="alert">${t("failed_load", { reason: deps.error })}</p>`
      : deps.data ? html`<${Compare} id=${id} deployments=${deps.data} />` : html`<p class="muted" role="status">${t("loading")}</p>`}
  </section>`;
}
