// The crew's first screen: the open faults of lighting cabinets nearest to them, with the distance ("1,2 km") and a
// navigate link (geo:), then the other cabinets. Where "here" is comes from the phone's location (asked only when
// the user taps, or at once when it was granted before) or from a chosen district. The order changes only when the
// location does or a fault comes or goes: acknowledging keeps every row where it is (rows are keyed; Preact patches
// them in place).
import { html, useState, useEffect } from "../lib.js";
import { state, can } from "../store.js";
import { api } from "../session.js";
import { t, fmtDateTime } from "../i18n.js";
import { useApi, alarmLabel, problemText, CommBadge } from "./common.js";
import { loadAlarms } from "../live.js";
import { distanceM, fmtDistance, geoUri, deviceLocation } from "../geo.js";
import { whenText } from "./crew_cabinet.js";
import { AlarmOrderAction } from "./work_orders.js";
import { MapView } from "../map.js";
import "../i18n/crew.js";

const WHERE = "sl.crew.where";
const VIEW = "sl.crew.view";

function loadWhere() {
  try { return JSON.parse(localStorage.getItem(WHERE) || "null"); } catch { return null; }
}

function AckButton({ alarm }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  if (alarm.acked_by) {
    return html`<span class="acked" data-testid="acked">✓ ${t("acked_by", { user: alarm.acked_by, time: fmtDateTime(alarm.acked_at, { seconds: false, date: false }) })}</span>`;
  }
  if (!can("alarms:ack")) return null;
  async function ack() {
    setBusy(true); setError(null);
    const r = await api(`/api/v1/alarms/${alarm.id}/ack`, { method: "POST", json: { note: null }, timeoutMs: 10000 });
    setBusy(false);
    if (r.ok || r.status === 409) loadAlarms(); else setError(problemText(r));
  }
  return html`<button type="button" onClick=${ack} disabled=${busy} aria-label=${`${t("ack")}: ${alarmLabel(alarm)}`}>${t("ack")}</button>
    ${error && html`<span class="error" role="alert">${error}</span>`}`;
}

function CabinetCard({ row, faulted }) {
  const { dev, loc, dist } = row;
  const name = dev.name || dev.id;
  return html`<li class=${`crew-card${faulted ? " has-fault" : ""}`} data-id=${dev.id}>
    <div class="crew-card-head">
      <h2><a href=${`#/crew/c/${encodeURIComponent(dev.id)}`}>${name}</a></h2>
      ${dist !== null && html`<span class="dist" data-testid="distance">${fmtDistance(dist)}</span>`}
    </div>
    <p class="meta">${dev.site}/${dev.id} <${CommBadge} dev=${dev} /></p>
    ${faulted && html`<ul class="fault-list">${row.alarms.map((a) => html`<li key=${a.id} data-alarm=${a.id}>
      <span class="badge badge-alarm">${alarmLabel(a)}</span>
      <span class="small">${t("since_time", { time: whenText(a.raised_at) })}</span>
      <${AckButton} alarm=${a} /><${AlarmOrderAction} alarm=${a} /></li>`)}</ul>`}
    <div class="crew-actions">
      ${loc && html`<a class="button" href=${geoUri(loc, name)} data-testid="navigate">${t("navigate")}</a>`}
      <a class="button primary" href=${`#/crew/c/${encodeURIComponent(dev.id)}`}>${t("open_cabinet")}</a>
    </div>
  </li>`;
}

export function CrewFaults() {
  const [where, setWhere] = useState(loadWhere);
  const [locating, setLocating] = useState(false);
  const [locError, setLocError] = useState(null);
  const [view, setView] = useState(() => (localStorage.getItem(VIEW) === "map" ? "map" : "list"));
  function show(v) { setView(v); try { localStorage.setItem(VIEW, v); } catch { /* this session only */ } }
  const sites = useApi("/api/v1/sites");

  function keep(w) {
    setWhere(w);
    try { localStorage.setItem(WHERE, JSON.stringify(w)); } catch { /* private mode: this session only */ }
  }
  function locate() {
    if (!navigator.geolocation) { setLocError("no_geolocation"); return; }
    setLocating(true); setLocError(null);
    navigator.geolocation.getCurrentPosition(
      (pos) => { setLocating(false); keep({ lat: pos.coords.latitude, lon: pos.coords.longitude, source: "gps", at: Date.now() }); },
      (err) => { setLocating(false); setLocError(err.code === 1 ? "location_denied" : "location_failed"); },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  useEffect(() => {
    // asked before and allowed: locate at once (no prompt); otherwise wait for a tap
    if (navigator.permissions && navigator.geolocation) {
      navigator.permissions.query({ name: "geolocation" }).then((p) => { if (p.state === "granted") locate(); }).catch(() => {});
    }
  }, []);
  function chooseSite(ev) {
    const id = ev.target.value;
    const s = (sites.data || []).find((x) => x.id === id);
    if (s && Number.isFinite(s.lat) && Number.isFinite(s.lon)) keep({ lat: s.lat, lon: s.lon, source: "site", site: s.id, name: s.name });
  }

  const byDevice = new Map();
  for (const a of state.alarms.values()) {
    if (!byDevice.has(a.device_id)) byDevice.set(a.device_id, []);
    byDevice.get(a.device_id).push(a);
  }
  const rows = [...state.devices.values()].filter((d) => d.kind === "lighting_cabinet").map((dev) => {
    const loc = deviceLocation(dev);
    const alarms = (byDevice.get(dev.id) || []).sort((a, b) => a.id - b.id);
    return { dev, loc, alarms, dist: where && loc ? distanceM(where, loc) : null };
  });
  const order = (a, b) => (a.dist ?? Infinity) - (b.dist ?? Infinity) || a.dev.id.localeCompare(b.dev.id);
  const faulted = rows.filter((r) => r.alarms.length).sort(order);
  const others = rows.filter((r) => !r.alarms.length).sort(order);
  const withCoords = (sites.data || []).filter((s) => Number.isFinite(s.lat) && Number.isFinite(s.lon));

  return html`<section aria-labelledby="faults-title" class="crew">
    <h1 id="faults-title">${t("faults_near_me")}</h1>
    <div class="where panel">
      <p class="where-now" role="status" data-testid="where">${where
        ? (where.source === "gps" ? t("where_gps", { time: fmtDateTime(new Date(where.at), { seconds: false, date: false }) }) : t("where_site", { name: where.name || where.site }))
        : t("where_none")}</p>
      <div class="row">
        <button type="button" class="primary" onClick=${locate} disabled=${locating}>${locating ? t("locating") : t("use_my_location")}</button>
        <label class="grow">${t("or_choose_district")}
          <select onChange=${chooseSite} value=${where && where.source === "site" ? where.site : ""}>
            <option value="">${t("choose")}</option>
            ${withCoords.map((s) => html`<option key=${s.id} value=${s.id}>${s.name || s.id}</option>`)}
          </select></label>
      </div>
      ${locError && html`<p class="error" role="alert">${t(locError)}</p>`}
    </div>
    <div class="seg" role="group" aria-label=${t("view_as")}>
      ${["list", "map"].map((v) => html`<button key=${v} type="button" aria-pressed=${view === v ? "true" : "false"}
        onClick=${() => show(v)}>${t(`view_${v}`)}</button>`)}
    </div>
    ${view === "map" && html`<${MapView} label=${t("map_of_cabinets")} height=${420}
      markers=${rows.map((r) => r.loc && ({ id: r.dev.id, lat: r.loc.lat, lon: r.loc.lon, label: r.dev.name || r.dev.id,
        status: r.dev.status === "offline" ? "offline" : r.alarms.length ? "alarm" : "ok",
        title: r.dist !== null ? `${r.dev.name || r.dev.id} · ${fmtDistance(r.dist)}` : undefined })).filter(Boolean)}
      here=${where ? { lat: where.lat, lon: where.lon, label: t("you_are_here") } : undefined}
      onSelect=${(id) => { location.hash = `#/crew/c/${encodeURIComponent(id)}`; }} />`}
    <h2 id="open-faults">${t("open_faults_n", { n: faulted.length })}</h2>
    ${faulted.length === 0 ? html`<p class="muted">${t("no_open_faults")}</p>` : html`
      <ul class="crew-list" data-testid="faults" aria-labelledby="open-faults">${faulted.map((r) => html`<${CabinetCard} key=${r.dev.id} row=${r} faulted=${true} />`)}</ul>`}
    <h2 id="other-cabinets">${t("other_cabinets_n", { n: others.length })}</h2>
    <ul class="crew-list" data-testid="cabinets" aria-labelledby="other-cabinets">${others.map((r) => html`<${CabinetCard} key=${r.dev.id} row=${r} faulted=${false} />`)}</ul>
  </section>`;
}
