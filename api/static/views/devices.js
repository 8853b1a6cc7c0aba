// The fleet as a list (what the old status page showed): every device with its comm status (and why it is
// offline, naming its gateway when the gateway is the cause), kind, site and alarms. Keyed rows, patched in place.
import { html, useState } from "../lib.js";
import { state } from "../store.js";
import { t, fmtDateTime, fmtNum, tMaybe } from "../i18n.js";
import { modeText, alarmLabel } from "./common.js";
import "../i18n/workspace.js";

function summary(dev) {
  const v = (dev.state && dev.state.values) || {};
  if (dev.kind === "signal_controller") return `${modeText(v)} · ${t("pattern")} ${v.pattern ?? t("none")}`;
  if (dev.kind === "lighting_cabinet") {
    return (v.circuits || []).map((c) => `${t("circuit_n", { n: c.circuit })}: ${c.on ? t("on") : t("off")} ${fmtNum(c.level_pct)} %`).join(" · ");
  }
  return t("none");
}

export function DeviceList() {
  const [q, setQ] = useState("");
  const devs = [...state.devices.values()].sort((a, b) => `${a.site}/${a.id}`.localeCompare(`${b.site}/${b.id}`))
    .filter((d) => !q || `${d.id} ${d.site} ${d.name || ""}`.toLowerCase().includes(q.toLowerCase()));
  const online = devs.filter((d) => d.status === "online").length;
  const alarms = [...state.alarms.values()];
  return html`<section aria-labelledby="dev-title">
    <h1 id="dev-title">${t("devices")}</h1>
    <div class="toolbar">
      <label class="grow">${t("filter")}<input type="search" value=${q} onInput=${(e) => setQ(e.target.value)} /></label>
      <span data-testid="device-summary">${t("devices_count", { n: devs.length, online })}</span>
    </div>
    <ul class="cards" data-testid="devices">${devs.map((d) => {
      const reason = d.status === "offline" && d.status_reason
        ? `${tMaybe(d.status_reason) || d.status_reason}${d.status_reason.startsWith("gateway_") && d.gateway ? ` (${d.gateway})` : ""}` : null;
      return html`<li key=${d.id} class=${`card ${d.status}`} data-id=${d.id}>
        <h2>${d.name || d.id}</h2>
        <p class="meta"><span class=${`badge badge-${d.status}`}>${tMaybe(d.status) || d.status}</span>
          ${reason && html`<span class="reason" data-testid="reason">${reason}</span>`}
          <span class="badge">${tMaybe(d.kind || "unknown") || d.kind}</span> ${d.site}/${d.id} · ${fmtDateTime(d.last_seen, { date: false })}</p>
        <p>${summary(d)}</p>
        <p><a href=${`#/d/${encodeURIComponent(d.id)}/telemetry`}>${t("telemetry")}</a></p>
        ${alarms.filter((a) => a.device_id === d.id).map((a) => html`<span key=${a.id} class="badge badge-alarm">${alarmLabel(a)}</span>`)}
      </li>`;
    })}</ul>
  </section>`;
}
