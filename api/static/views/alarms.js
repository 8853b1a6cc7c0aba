// Alarms: the active ones (live from the stream) and the history, filtered by kind, site and device; acknowledge
// with a note. Rows are keyed by alarm id and kept in raise order, so acknowledging never moves a row under the
// pointer; acknowledged rows stay in place, marked.
import { html, useState } from "../lib.js";
import { state, can } from "../store.js";
import { api } from "../session.js";
import { t, tMaybe, fmtDateTime } from "../i18n.js";
import { useApi, Loading, alarmLabel, problemText } from "./common.js";
import { loadAlarms } from "../live.js";
import { AlarmOrderAction } from "./work_orders.js";

function AckCell({ alarm, onAcked }) {
  const [open, setOpen] = useState(false);
  const [note, setNote] = useState("");
  const [error, setError] = useState(null);
  if (alarm.acked_by) {
    return html`<span class="small">✓ ${t("acked_by", { user: alarm.acked_by, time: fmtDateTime(alarm.acked_at, { seconds: false }) })}${alarm.ack_note ? html`<br />“${alarm.ack_note}”` : ""}</span>`;
  }
  if (!can("alarms:ack")) return t("none");
  if (!open) return html`<button type="button" onClick=${() => setOpen(true)}>${t("ack")}</button>`;
  async function ack() {
    const r = await api(`/api/v1/alarms/${alarm.id}/ack`, { method: "POST", json: { note: note.trim() || null } });
    if (r.ok || r.status === 409) { setOpen(false); onAcked(); } else setError(problemText(r));
  }
  return html`<div class="ack">
    <label>${t("ack_note")}<input value=${note} maxLength="500" onInput=${(e) => setNote(e.target.value)} /></label>
    <button type="button" class="primary" onClick=${ack}>${t("confirm")}</button>
    <button type="button" onClick=${() => setOpen(false)}>${t("cancel")}</button>
    ${error && html`<span class="error" role="alert">${error}</span>`}
  </div>`;
}

export function AlarmsPage() {
  const [tab, setTab] = useState("active");
  const [kind, setKind] = useState(""), [site, setSite] = useState(""), [device, setDevice] = useState("");
  const params = new URLSearchParams({ limit: "200" });
  if (tab === "active") params.set("active", "true");
  if (kind) params.set("kind", kind);
  if (site) params.set("site", site);
  if (device) params.set("device", device);
  const res = useApi(`/api/v1/alarms?${params}`, { every: tab === "history" ? 30000 : 0 });
  // the active list follows the stream: alarms raised or cleared since the page loaded appear or go
  let rows = res.data || [];
  if (tab === "active" && res.data) {
    const ids = new Set(rows.map((a) => a.id));
    rows = [...rows.filter((a) => state.alarms.has(a.id)).map((a) => state.alarms.get(a.id)),
            ...[...state.alarms.values()].filter((a) => !ids.has(a.id)
              && (!kind || a.kind === kind) && (!site || a.site === site) && (!device || a.device_id === device))];
    rows.sort((a, b) => b.id - a.id);
  }
  const labels = new Map([...(res.data || []), ...state.alarms.values()].map((a) => [a.kind, alarmLabel(a)]));
  const kinds = [...labels.keys()].sort();
  const refresh = () => { res.reload(); loadAlarms(); };
  return html`<section aria-labelledby="alarms-title">
    <h1 id="alarms-title">${t("alarms")}</h1>
    <div class="tabs" role="tablist">
      ${["active", "history"].map((k) => html`<button key=${k} type="button" role="tab" aria-selected=${tab === k ? "true" : "false"}
        class=${tab === k ? "tab current" : "tab"} onClick=${() => setTab(k)}>${t(k === "active" ? "active_alarms" : "history")}</button>`)}
    </div>
    <div class="toolbar">
      <label>${t("kind")}<select value=${kind} onChange=${(e) => setKind(e.target.value)}>
        <option value="">${t("all")}</option>${kinds.map((k) => html`<option key=${k} value=${k}>${labels.get(k)}</option>`)}</select></label>
      <label>${t("site")}<input value=${site} onChange=${(e) => setSite(e.target.value.trim())} size="10" /></label>
      <label>${t("device")}<input value=${device} onChange=${(e) => setDevice(e.target.value.trim())} size="14" /></label>
    </div>
    <${Loading} res=${res}>${rows.length === 0 ? html`<p class="muted">${t("no_alarms")}</p>` : html`
      <table class="grid-table" data-testid="alarms"><thead><tr>
        <th scope="col">${t("kind")}</th><th scope="col">${t("device")}</th><th scope="col">${t("severity")}</th>
        <th scope="col">${t("raised")}</th><th scope="col">${t("status")}</th><th scope="col">${t("detail")}</th><th scope="col">${t("acked")}</th>
      </tr></thead><tbody>${rows.map((a) => html`<tr key=${a.id} data-alarm=${a.id}>
        <th scope="row"><span class="badge badge-alarm">${alarmLabel(a)}</span></th><td>${a.site}/${a.device_id}</td><td>${tMaybe(`sev_${a.severity}`) || a.severity}</td>
        <td>${fmtDateTime(a.raised_at)}</td>
        <td>${a.active ? t("alarm_active") : `${t("alarm_cleared")} ${fmtDateTime(a.cleared_at, { seconds: false })}`}</td>
        <td>${a.detail || t("none")}</td><td><${AckCell} alarm=${a} onAcked=${refresh} /> <${AlarmOrderAction} alarm=${a} /></td></tr>`)}</tbody></table>`}<//>
  </section>`;
}
