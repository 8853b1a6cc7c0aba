// Work orders: the list (filter by state, assignee, cabinet; "mine") and one order (its steps as 48 px buttons, the
// note or reason a step needs, photos with a size check before upload, the history, links to its alarm and to the
// cabinet's other orders). Also the "create work order" action of an alarm row (alarms.js).
// Rows are keyed by order id and patched in place; a step answers the order as it is now, so the screen never
// guesses. A 409 (someone else moved it, or an illegal step) reloads and says so.
import { html, useState, useEffect } from "../lib.js";
import { state, can } from "../store.js";
import { api } from "../session.js";
import { t, tMaybe, fmtDateTime, fmtNum } from "../i18n.js";
import { useApi, Loading, problemText } from "./common.js";
import "../i18n/work_orders.js";

export const PHOTO_MAX_BYTES = 5_000_000;
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
const STATES = ["review", "open", "assigned", "accepted", "traveling", "on_site", "resolved", "cannot_fix", "cancelled"];
const CLOSED = new Set(["resolved", "cannot_fix", "cancelled"]);
const NEEDS = { resolve: "note", cannot_fix: "reason", cancel: "reason", reopen: "reason", assign: "assignee" };

const label = (o) => (o.label ? (state.lang === "vi" ? o.label.vi : o.label.en) : o.title);
export const stateText = (s) => tMaybe(`st_${s}`) || s;

export function StateBadge({ value }) {
  const tone = CLOSED.has(value) ? (value === "resolved" ? "ok" : "closed") : value === "review" ? "review" : "work";
  return html`<span class=${`badge wo-state wo-${tone}`} data-state=${value}>${stateText(value)}</span>`;
}

/** `#/orders?state=&assignee=&device=&mine=1`: newest first, as phone-sized cards. */
export function WorkOrdersPage({ query }) {
  const q = query || new URLSearchParams();
  const [st, setSt] = useState(q.get("state") || "");
  const [assignee, setAssignee] = useState(q.get("assignee") || "");
  const [device, setDevice] = useState(q.get("device") || "");
  const [mine, setMine] = useState(q.get("mine") === "1" || (!can("workorders:manage") && !q.get("device")));
  const params = new URLSearchParams({ limit: "200" });
  if (st === "__open") params.set("open", "true"); else if (st) params.set("state", st);
  if (assignee) params.set("assignee", assignee);
  if (device) params.set("device", device);
  if (mine) params.set("mine", "true");
  const res = useApi(`/api/v1/work-orders?${params}`, { every: 15000 });
  useStreamReload(res, () => [...state.workOrders.values()].map((o) => o.updated_at).sort().pop() || "");
  const rows = res.data || [];
  return html`<section aria-labelledby="wo-title" class="wo">
    <h1 id="wo-title">${device ? t("wo_cabinet_history", { id: device }) : t("wo_title")}</h1>
    <div class="toolbar" role="group" aria-label=${t("wo_filters")}>
      <label>${t("wo_state")}<select value=${st} onChange=${(e) => setSt(e.target.value)} data-testid="wo-filter-state">
        <option value="">${t("wo_all_states")}</option><option value="__open">${t("wo_open_only")}</option>
        ${STATES.map((s) => html`<option key=${s} value=${s}>${stateText(s)}</option>`)}</select></label>
      <label>${t("wo_assignee")}<input value=${assignee} size="10" onChange=${(e) => setAssignee(e.target.value.trim())} /></label>
      <label>${t("wo_cabinet")}<input value=${device} size="10" onChange=${(e) => setDevice(e.target.value.trim())} /></label>
      <label class="radio"><input type="checkbox" checked=${mine} onChange=${(e) => setMine(e.target.checked)} />${t("wo_mine")}</label>
    </div>
    <${Loading} res=${res}>${rows.length === 0 ? html`<p class="muted">${t("wo_none")}</p>` : html`
      <p class="muted small" role="status">${t("wo_count", { n: rows.length })}</p>
      <ul class="wo-list" data-testid="work-orders">${rows.map((o) => html`<li key=${o.id} data-order=${o.id}>
        <a class="wo-card" href=${`#/orders/${o.id}`}>
          <span class="wo-head"><strong>${t("wo_n", { id: o.id })} · ${label(o)}</strong><${StateBadge} value=${o.state} /></span>
          <span class="small">${o.device_id || t("wo_no_cabinet")}${o.assignee || o.crew ? ` · ${[o.crew, o.assignee].filter(Boolean).join(" · ")}` : ""}
            ${o.reference ? ` · ${o.reference}` : ""}</span>
          <span class="small muted">${t("wo_updated", { time: fmtDateTime(o.updated_at, { seconds: false }) })}</span>
        </a></li>`)}</ul>`}<//>
  </section>`;
}

/** An image fetched with the session's token (an <img src> cannot send it), shown as a data: URL (the page CSP). */
function AuthImage({ href, alt }) {
  const [src, setSrc] = useState(null);
  useEffect(() => {
    let live = true;
    api(href, { raw: true }).then((r) => {
      if (!r.ok || !live) return;
      const reader = new FileReader();
      reader.onload = () => { if (live) setSrc(reader.result); };
      reader.readAsDataURL(r.body);
    });
    return () => { live = false; };
  }, [href]);
  return src ? html`<img src=${src} alt=${alt} class="wo-photo" />` : html`<span class="wo-photo muted small" role="img" aria-label=${alt}>${t("loading")}</span>`;
}

function PhotoUpload({ order, onDone }) {
  const [msg, setMsg] = useState(null);
  async function pick(ev) {
    const file = ev.target.files && ev.target.files[0];
    ev.target.value = "";
    if (!file) return;
    if (!PHOTO_TYPES.includes(file.type)) { setMsg({ bad: true, text: t("wo_photo_type") }); return; }
    if (file.size > PHOTO_MAX_BYTES) {
      setMsg({ bad: true, text: t("wo_photo_too_big", { mb: fmtNum(PHOTO_MAX_BYTES / 1e6) }) });
      return;
    }
    setMsg({ bad: false, text: t("wo_uploading") });
    const r = await api(`/api/v1/work-orders/${order.id}/photos`, { method: "POST", body: file, headers: { "Content-Type": file.type } });
    setMsg(r.ok ? { bad: false, text: t("wo_uploaded") } : { bad: true, text: problemText(r) });
    if (r.ok) onDone();
  }
  return html`<div class="row">
    <label class="file button wo-btn">${t("wo_add_photo")}<input type="file" accept=${PHOTO_TYPES.join(",")} capture="environment"
      onChange=${pick} data-testid="wo-photo-input" /></label>
    <span class=${msg && msg.bad ? "error" : "muted"} role="status">${msg ? msg.text : ""}</span>
  </div>`;
}

function Steps({ order, onChanged }) {
  const [pending, setPending] = useState(null);  // the action whose note/reason/assignee is being written
  const [text, setText] = useState(""), [crew, setCrew] = useState("");
  const [msg, setMsg] = useState(null);
  const [busy, setBusy] = useState(false);
  async function send(action) {
    const need = NEEDS[action];
    if (need && pending !== action) { setPending(action); setText(""); setCrew(""); setMsg(null); return; }
    const body = { action, expected_state: order.state };
    if (need === "note") { if (!text.trim()) { setMsg({ bad: true, text: t("wo_need_note") }); return; } body.note = text.trim(); }
    if (need === "reason") { if (!text.trim()) { setMsg({ bad: true, text: t("wo_need_reason") }); return; } body.reason = text.trim(); }
    if (need === "assignee") {
      if (!text.trim() && !crew.trim()) { setMsg({ bad: true, text: t("wo_need_assignee") }); return; }
      if (text.trim()) body.assignee = text.trim();
      if (crew.trim()) body.crew = crew.trim();
    }
    setBusy(true);
    const r = await api(`/api/v1/work-orders/${order.id}/transitions`, { method: "POST", json: body });
    setBusy(false);
    if (r.ok) { setPending(null); setMsg({ bad: false, text: t("wo_done", { state: stateText(r.body.state) }) }); onChanged(r.body); return; }
    const p = r.problem || {};
    const words = p.message ? (state.lang === "vi" ? p.message.vi : p.message.en) : problemText(r);
    setMsg({ bad: true, text: r.status === 409 ? `${words}. ${t("wo_changed")}` : words });
    if (r.status === 409) onChanged(null);
  }
  if (!order.actions.length) return html`<p class="muted">${t("wo_no_actions")}</p>`;
  const need = pending && NEEDS[pending];
  return html`<div class="wo-steps">
    <div class="row">${order.actions.map((a) => html`<button key=${a} type="button" disabled=${busy}
      class=${`wo-btn ${a === "resolve" || a === "accept" ? "primary" : a === "cancel" || a === "cannot_fix" ? "danger" : ""}`}
      aria-pressed=${pending === a ? "true" : undefined} data-action=${a} onClick=${() => send(a)}>${t(`wo_act_${a}`)}</button>`)}</div>
    ${need && html`<div class="wo-need">
      ${need === "assignee" ? html`
        <label>${t("wo_assignee")}<input value=${text} maxLength="64" autocomplete="off" data-testid="wo-assignee" onInput=${(e) => setText(e.target.value)} /></label>
        <label>${t("wo_crew")}<input value=${crew} maxLength="64" onInput=${(e) => setCrew(e.target.value)} /></label>` : html`
        <label>${t(need === "note" ? "wo_note" : "wo_reason")}<textarea rows="3" maxLength=${need === "note" ? 1000 : 500}
          data-testid="wo-text" value=${text} onInput=${(e) => setText(e.target.value)}></textarea></label>`}
      <div class="row"><button type="button" class="primary wo-btn" disabled=${busy} data-confirm=${pending} onClick=${() => send(pending)}>${t("confirm")} · ${t(`wo_act_${pending}`)}</button>
        <button type="button" class="wo-btn" onClick=${() => { setPending(null); setMsg(null); }}>${t("cancel")}</button></div>
    </div>`}
    <p class=${msg && msg.bad ? "error" : "result ok"} role=${msg && msg.bad ? "alert" : "status"}>${msg ? msg.text : ""}</p>
  </div>`;
}

/** Re-read at once when the stream says an order changed (`mark` reads the store: it moves on each change); the
 * 15 s poll stays as the fallback when the stream is down. */
function useStreamReload(res, mark) {
  const seen = mark();
  useEffect(() => { if (seen) res.reload(); }, [seen]);
}

/** `#/orders/<id>`. */
export function WorkOrderView({ id }) {
  const res = useApi(`/api/v1/work-orders/${encodeURIComponent(id)}`, { every: 15000 });
  useStreamReload(res, () => (state.workOrders.get(String(id)) || {}).updated_at || "");
  const [fresh, setFresh] = useState(null);
  useEffect(() => { setFresh(null); }, [res.data]);
  const o = fresh || res.data;
  const changed = (body) => { if (body) setFresh(body); else res.reload(); };
  return html`<section aria-labelledby="wo-detail-title" class="wo">
    <p><a href="#/orders">${t("wo_back")}</a></p>
    <${Loading} res=${res}>${o && html`
      <div class="wo-head"><h1 id="wo-detail-title">${t("wo_n", { id: o.id })} · ${label(o)}</h1><${StateBadge} value=${o.state} /></div>
      <dl class="facts">
        <div><dt>${t("wo_cabinet")}</dt><dd>${o.device_id ? html`<a href=${`#/orders?device=${encodeURIComponent(o.device_id)}`}>${o.device_id}</a>` : t("wo_no_cabinet")}
          ${o.circuit ? ` · ${t("circuit_n", { n: o.circuit })}` : ""}${o.distance_m != null ? ` · ${t("wo_distance", { m: fmtNum(o.distance_m) })}` : ""}</dd></div>
        <div><dt>${t("wo_source")}</dt><dd>${t(`wo_source_${o.source}`)}${o.reference ? ` · ${o.reference}` : ""}</dd></div>
        ${o.alarm_id && html`<div><dt>${t("wo_alarm")}</dt><dd><a href=${`#/alarms?alarm=${o.alarm_id}`}>${t("wo_alarm_link", { id: o.alarm_id })}</a>
          <br /><span class=${o.alarm_active ? "badge badge-alarm" : "badge badge-online"} data-testid="wo-alarm-state">${o.alarm_active ? t("wo_alarm_still") : t("wo_alarm_gone")}</span></dd></div>`}
        <div><dt>${t("wo_assignee")}</dt><dd>${[o.crew, o.assignee].filter(Boolean).join(" · ") || t("none")}</dd></div>
        ${o.lat != null && html`<div><dt>${t("wo_location")}</dt><dd><a href=${`geo:${o.lat},${o.lon}`}>${fmtNum(o.lat, 5)}, ${fmtNum(o.lon, 5)}</a></dd></div>`}
        ${o.description && html`<div><dt>${t("wo_description")}</dt><dd>${o.description}</dd></div>`}
        ${o.note && html`<div><dt>${t("wo_note")}</dt><dd>${o.note}</dd></div>`}
        ${o.reason && html`<div><dt>${t("wo_reason")}</dt><dd>${o.reason}</dd></div>`}
      </dl>
      <h2>${t("wo_actions")}</h2>
      <${Steps} order=${o} onChanged=${changed} />
      <h2>${t("wo_photos")}</h2>
      ${o.photos.length === 0 ? html`<p class="muted">${t("wo_no_photos")}</p>` : html`<div class="wo-photos">${o.photos.map((p, i) =>
        html`<${AuthImage} key=${p.id} href=${p.href} alt=${t("wo_photo_alt", { n: i + 1, user: p.uploaded_by, time: fmtDateTime(p.uploaded_at, { seconds: false }) })} />`)}</div>`}
      ${!CLOSED.has(o.state) && (o.actions.length > 0) && html`<${PhotoUpload} order=${o} onDone=${res.reload} />`}
      <h2>${t("wo_history")}</h2>
      <ol class="wo-history" data-testid="wo-history">${o.history.map((e, i) => html`<li key=${i}>
        <strong>${e.action === "create" ? t("wo_ev_create") : e.action === "report" ? t("wo_ev_report") : tMaybe(`wo_act_${e.action}`) || e.action}</strong>
        ${" → "}${stateText(e.to_state)} <span class="muted small">${t("wo_by", { user: e.actor, time: fmtDateTime(e.ts) })}</span>
        ${e.note ? html`<br /><span class="small">“${e.note}”</span>` : ""}</li>`)}</ol>`}<//>
  </section>`;
}

/** In an alarm row: a link to its work order, or (dispatchers) the button that makes one and opens it. */
export function AlarmOrderAction({ alarm }) {
  const [error, setError] = useState(null);
  const [made, setMade] = useState(null);
  const orderId = alarm.work_order_id || made;
  if (orderId) return html`<a class="button wo-btn" href=${`#/orders/${orderId}`}>${t("wo_n", { id: orderId })}</a>`;
  if (!can("workorders:manage")) return null;
  async function create() {
    const r = await api("/api/v1/work-orders", { method: "POST", json: { alarm_id: alarm.id } });
    const id = r.ok ? r.body.id : r.status === 409 && r.problem && r.problem.work_order_id;
    if (id) { setMade(id); location.hash = `#/orders/${id}`; } else setError(t("wo_create_failed", { reason: problemText(r) }));
  }
  return html`<button type="button" class="wo-btn" data-testid="wo-create" onClick=${create}>${t("wo_act_create")}</button>
    ${error && html`<span class="error" role="alert">${error}</span>`}`;
}
