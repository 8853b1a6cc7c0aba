// Every intersection at a glance: mode (flash by cause), pattern, control source, active alarms, comm status and
// schedule compliance; filter and sort. Rows are keyed by id, so live updates patch cells in place.
import { html, useState, useEffect } from "../lib.js";
import { state, can } from "../store.js";
import { api } from "../session.js";
import { t, fmtDateTime, tMaybe } from "../i18n.js";
import { useApi, Loading, modeText, alarmLabel, CommBadge, signalValues } from "./common.js";
import { MapView } from "../map.js";
import "../i18n/workspace.js";
import "../i18n/twin.js";

const SORTS = {
  col_intersection: (a, b) => a.name.localeCompare(b.name),
  col_mode: (a, b) => a.modeText.localeCompare(b.modeText),
  col_alarms: (a, b) => b.alarms.length - a.alarms.length,
  col_comm: (a, b) => a.comm.localeCompare(b.comm),
  col_compliance: (a, b) => a.compliance.localeCompare(b.compliance),
};

function useCompliance(list) {
  const [byId, setById] = useState({});
  const ids = (list || []).map((i) => i.id).join(",");
  useEffect(() => {
    if (!ids) return undefined;
    let live = true;
    async function load() {
      const out = {};
      for (const id of ids.split(",")) {
        const r = await api(`/api/v1/intersections/${encodeURIComponent(id)}/schedule`);
        if (r.ok) out[id] = r.body;
      }
      if (live) setById(out);
    }
    load();
    const timer = setInterval(load, 30000);
    return () => { live = false; clearInterval(timer); };
  }, [ids]);
  return byId;
}

/** Where an intersection is: its registry coordinates, else where its controller says it is (birth/registry). */
function position(r) {
  if (Number.isFinite(r.lat) && Number.isFinite(r.lon)) return { lat: r.lat, lon: r.lon };
  const loc = r.dev && r.dev.location;
  if (loc && Number.isFinite(loc.lat) && Number.isFinite(loc.lon)) return { lat: loc.lat, lon: loc.lon };
  return { lat: null, lon: null };
}

function mapStatus(r) {
  if (r.comm === "offline") return "offline";
  if (r.values && r.values.mode === "flash") return "flash";
  if (r.alarms.length) return "alarm";
  if (r.compliance === "mismatch") return "warn";
  return r.comm === "online" ? "ok" : "unknown";
}

function IntersectionMap({ rows }) {
  const markers = rows.map((r) => ({
    id: r.id, label: r.name, status: mapStatus(r), ...position(r),
    title: `${r.name}: ${r.modeText} · ${tMaybe(r.comm) || r.comm}${r.alarms.length ? ` · ${t("map_alarms_n", { n: r.alarms.length })}` : ""}`,
  }));
  return html`<div data-testid="intersection-map">
    <${MapView} markers=${markers} label=${t("map_of_intersections")}
      onSelect=${(id) => { location.hash = `#/i/${encodeURIComponent(id)}`; }} />
    <ul class="map-legend" aria-label=${t("map_legend")}>
      ${["ok", "warn", "alarm", "flash", "offline", "unknown"].map((s) => html`<li key=${s} class=${`map-marker map-${s}`}><span class="map-dot" aria-hidden="true"></span>${t(`map_status_${s}`)}</li>`)}
    </ul>
  </div>`;
}

export function IntersectionList() {
  const [view, setView] = useState(sessionStorage.getItem("sl.ilist") === "map" ? "map" : "list");
  const choose = (v) => { sessionStorage.setItem("sl.ilist", v); setView(v); };
  const res = useApi("/api/v1/intersections");
  const compliance = useCompliance(res.data);
  const [q, setQ] = useState("");
  const [sort, setSort] = useState("col_intersection");
  const rows = (res.data || []).map((i) => {
    const dev = state.devices.get(i.controller_id);
    const values = signalValues(dev) || (i.controller && i.controller.state && i.controller.state.values) || null;
    const alarms = [...state.alarms.values()].filter((a) => a.device_id === i.controller_id);
    const sched = compliance[i.id];
    return { ...i, dev, values, alarms, modeText: modeText(values), comm: dev ? dev.status : "unknown",
             compliance: sched ? sched.status : "", sched };
  }).filter((r) => !q || `${r.id} ${r.name} ${r.site}`.toLowerCase().includes(q.toLowerCase()))
    .sort(SORTS[sort]);
  return html`<section aria-labelledby="list-title">
    <div class="title-row"><h1 id="list-title">${t("nav_intersections")}</h1><span class="spacer"></span>
      ${can("plans:write") && html`<a class="button" href="#/corridor">${t("cor_title")}</a>`}</div>
    <div class="toolbar">
      <label class="grow">${t("filter")}<input type="search" value=${q} onInput=${(e) => setQ(e.target.value)} /></label>
      <label>${t("sort_by")}<select value=${sort} onChange=${(e) => setSort(e.target.value)}>
        ${Object.keys(SORTS).map((k) => html`<option value=${k}>${t(k)}</option>`)}
      </select></label>
      <span class="muted">${t("intersections_count", { n: rows.length })}</span>
      <div class="seg" role="group" aria-label=${t("view_as")}>
        <button type="button" aria-pressed=${view === "list"} onClick=${() => choose("list")}>${t("view_list")}</button>
        <button type="button" aria-pressed=${view === "map"} onClick=${() => choose("map")}>${t("view_map")}</button>
      </div>
    </div>
    <${Loading} res=${res}>
      ${view === "map" && res.data ? html`<${IntersectionMap} rows=${rows} />` : rows.length === 0 ? html`<p class="muted">${(res.data || []).length ? t("no_match") : t("no_intersections")}</p>` : html`
      <table class="grid-table" data-testid="intersections">
        <thead><tr>
          <th scope="col">${t("col_intersection")}</th><th scope="col">${t("col_mode")}</th>
          <th scope="col">${t("col_pattern")}</th><th scope="col">${t("col_source")}</th>
          <th scope="col">${t("col_alarms")}</th><th scope="col">${t("col_comm")}</th>
          <th scope="col">${t("col_compliance")}</th><th scope="col">${t("col_updated")}</th>
        </tr></thead>
        <tbody>${rows.map((r) => html`<tr key=${r.id} data-id=${r.id}>
          <th scope="row"><a href=${`#/i/${encodeURIComponent(r.id)}`}>${r.name}</a><div class="muted small">${r.id} · ${r.site}</div></th>
          <td data-label=${t("col_mode")} class=${r.values && r.values.mode === "flash" ? "mode flash" : "mode"}>${r.modeText}</td>
          <td data-label=${t("col_pattern")}>${r.values && r.values.pattern ? r.values.pattern : t("none")}</td>
          <td data-label=${t("col_source")}>${r.values && r.values.control_source ? t(`source_${r.values.control_source}`) : t("none")}</td>
          <td data-label=${t("col_alarms")}>${r.alarms.length ? r.alarms.map((a) => html`<span key=${a.id} class="badge badge-alarm">${alarmLabel(a)}</span>`) : t("none")}</td>
          <td data-label=${t("col_comm")}><${CommBadge} dev=${r.dev} /></td>
          <td data-label=${t("col_compliance")}>${r.sched ? html`<span class=${`badge badge-${r.sched.status}`} title=${r.sched.reason || ""}>${tMaybe(`compliance_${r.sched.status}`) || r.sched.status}</span>` : t("none")}</td>
          <td data-label=${t("col_updated")} class="small">${fmtDateTime(r.dev && r.dev.last_seen, { date: false })}</td>
        </tr>`)}</tbody>
      </table>`}
    <//>
  </section>`;
}
