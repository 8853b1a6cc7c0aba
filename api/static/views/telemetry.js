// Telemetry charts of one device over a window, from the telemetry store, downsampled by the store (one point per
// interval, at most ~MAX_POINTS per series): for a signal controller, detector volumes and occupancy and the cycle
// length; for a lighting cabinet, circuit currents, power and the energy used per interval.
//
// Counters (detector counts, the energy meter) are cumulative on the device: the store gives the last reading of
// each interval and the volume of an interval is the difference from the one before (a 16-bit detector counter
// wraps at 65536; a reading lower than the one before without a wrap is a restart, counted from zero).
import { html, useState, useEffect, useMemo } from "../lib.js";
import { state } from "../store.js";
import { api } from "../session.js";
import { t } from "../i18n.js";
import { problemText } from "./common.js";
import { TimeChart } from "../charts.js";
import "../i18n/workspace.js";

const WINDOWS = { 15: "win_15m", 60: "win_1h", 360: "win_6h", 1440: "win_24h", 10080: "win_7d" };
const STEPS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600];
export const MAX_POINTS = 360;
const COUNTER_WRAP = 65536;

/** The smallest step that keeps the window under MAX_POINTS points (telemetry comes every 10 s). */
export function intervalFor(minutes) {
  const span = minutes * 60;
  return STEPS.find((s) => span / s <= MAX_POINTS) || STEPS[STEPS.length - 1];
}

/** Per-interval increase of a cumulative reading (the points are the last reading of each interval). */
export function increases(points, wrap = null) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const [ts, v] = points[i], prev = points[i - 1][1];
    if (v === null || prev === null) { out.push([ts, null]); continue; }
    let d = v - prev;
    if (d < 0) d = wrap && prev > wrap * 0.9 ? d + wrap : v;  // a wrap near the top, else a restart
    out.push([ts, d]);
  }
  return out;
}

const SIGNAL = [
  { id: "volume", title: "tel_volume", unit: "tel_veh", digits: 0, counter: COUNTER_WRAP,
    fields: Array.from({ length: 8 }, (_, i) => [`det${i + 1}_count`, "tel_det_n", i + 1]), aggregate: "last" },
  { id: "occupancy", title: "tel_occupancy", unit: "%", digits: 1,
    fields: Array.from({ length: 8 }, (_, i) => [`det${i + 1}_occupancy_pct`, "tel_det_n", i + 1]), aggregate: "mean" },
  { id: "cycle", title: "tel_cycle", unit: "s", digits: 0, fields: [["cycle_s", "tel_cycle_len"]], aggregate: "max" },
];
const CABINET = [
  { id: "current", title: "tel_current", unit: "A", digits: 2,
    fields: Array.from({ length: 4 }, (_, i) => [`circuit${i + 1}_current_a`, "circuit_n", i + 1]), aggregate: "mean" },
  { id: "power", title: "tel_power", unit: "W", digits: 0, fields: [["active_power_w", "tel_power"]], aggregate: "mean" },
  { id: "energy", title: "tel_energy", unit: "kWh", digits: 3, counter: -1, fields: [["energy_kwh", "tel_energy_used"]],
    aggregate: "last" },
];

function Chart({ device, spec, win }) {
  const [res, setRes] = useState({ series: null, error: null });
  useEffect(() => {
    let live = true;
    // a counter needs the interval before the window, to know the first interval's increase
    const start = new Date(Date.parse(win.start) - (spec.counter ? win.interval * 1000 : 0)).toISOString();
    const q = new URLSearchParams({ start, end: win.end, interval_s: String(win.interval), aggregate: spec.aggregate });
    for (const [f] of spec.fields) q.append("field", f);
    api(`/api/v1/devices/${encodeURIComponent(device)}/telemetry?${q}`).then((r) => {
      if (!live) return;
      if (r.ok) setRes({ series: r.body.series, error: null });
      else if (r.status !== 401) setRes({ series: null, error: problemText(r) });
    });
    return () => { live = false; };
  }, [device, spec.id, win]);
  const series = useMemo(() => {
    if (!res.series) return [];
    return res.series.map((s, i) => {
      const [, key, n] = spec.fields[i];
      const pts = s.points.map(([ts, v]) => [ts, v]);
      return { label: t(key, { n }), unit: spec.unit.startsWith("tel_") ? t(spec.unit) : spec.unit,
               points: spec.counter ? increases(pts, spec.counter > 0 ? spec.counter : null) : pts };
    }).filter((s) => s.points.some((p) => p[1] !== null));  // detectors the device does not have
  }, [res, state.lang]);
  if (res.error) return html`<p class="error" role="alert">${t("failed_load", { reason: res.error })}</p>`;
  if (!res.series) return html`<p class="muted" role="status">${t("loading")}</p>`;
  return html`<${TimeChart} id=${spec.id} title=${t(spec.title, { s: win.interval })} series=${series}
    digits=${spec.digits} height=${220} />`;
}

export function TelemetryPage({ device }) {
  const dev = state.devices.get(device);
  const [minutes, setMinutes] = useState(60);
  const [win, setWin] = useState(null);
  function load(ev) {
    if (ev) ev.preventDefault();
    const end = new Date();
    const interval = intervalFor(minutes);
    // whole intervals, so the last point is not half an interval
    const endMs = Math.ceil(end.getTime() / (interval * 1000)) * interval * 1000;
    setWin({ start: new Date(endMs - minutes * 60000).toISOString(), end: new Date(endMs).toISOString(), interval });
  }
  useEffect(() => { load(); }, [device, minutes]);
  const specs = dev && dev.kind === "lighting_cabinet" ? CABINET : SIGNAL;
  return html`<section aria-labelledby="tel-title" class="telemetry">
    <div class="title-row">
      <h1 id="tel-title">${t("tel_title", { id: (dev && dev.name) || device })}</h1>
      <span class="muted">${device}</span>
      <span class="spacer"></span>
      <button type="button" onClick=${() => history.back()}>${t("back")}</button>
    </div>
    <form class="toolbar" onSubmit=${load}>
      <label>${t("ev_window")}<select value=${minutes} onChange=${(e) => setMinutes(Number(e.target.value))}>
        ${Object.entries(WINDOWS).map(([m, key]) => html`<option key=${m} value=${m}>${t(key)}</option>`)}
      </select></label>
      <button class="primary" type="submit">${t("ev_load")}</button>
      ${win && html`<span class="muted" data-testid="tel-interval">${t("tel_interval", { s: win.interval })}</span>`}
    </form>
    ${!dev && html`<p class="muted">${t("tel_kind_unknown")}</p>`}
    ${win && html`<div class="chart-grid">${specs.map((s) => html`<${Chart} key=${s.id} device=${device} spec=${s} win=${win} />`)}</div>`}
  </section>`;
}
