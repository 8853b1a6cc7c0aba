// The event log of an intersection's controller: its hi-res events (Indiana codes, named in vi/en by indiana.js)
// for a time window, filtered by code (a group or a list) and by parameter (a phase, a detector…), paged oldest
// first with the API's cursor. The window is fixed when loaded ("Load" reads it again up to now).
import { html, useState, useEffect } from "../lib.js";
import { state } from "../store.js";
import { api } from "../session.js";
import { t, fmtDateTime } from "../i18n.js";
import { problemText } from "./common.js";
import { GROUPS, codeName, paramText } from "../indiana.js";
import "../i18n/workspace.js";

const WINDOWS = { 1: "win_1m", 5: "win_5m", 15: "win_15m", 60: "win_1h", 360: "win_6h", 1440: "win_24h" };
const PAGE = 100;
const pageSize = (query) => {
  const n = Number(query && query.get("limit"));
  return Number.isInteger(n) && n >= 10 && n <= 1000 ? n : PAGE;
};

/** Parse "a, b 12" into integers 0..max, or an error key. */
function intList(text, max) {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  const out = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p) || Number(p) > max) return { error: p };
    out.push(Number(p));
  }
  return { values: out };
}

/** hh:mm:ss,mmm (vi) or hh:mm:ss.mmm (en) in the site's zone, and the date apart. */
function TimeCell({ iso }) {
  const d = new Date(iso);
  const ms = String(d.getUTCMilliseconds()).padStart(3, "0");
  const date = fmtDateTime(d).replace(fmtDateTime(d, { date: false }), "").trim();
  return html`<td class="mono"><time datetime=${iso}>${fmtDateTime(d, { date: false })}${state.lang === "vi" ? "," : "."}${ms}</time>
    <span class="muted small"> ${date}</span></td>`;
}

export function EventLog({ id, query }) {
  const enc = encodeURIComponent(id);
  const [minutes, setMinutes] = useState(Number(query && query.get("minutes")) in WINDOWS ? Number(query.get("minutes")) : 5);
  const [group, setGroup] = useState("");
  const [codesText, setCodesText] = useState("");
  const [paramsText, setParamsText] = useState((query && query.get("phase")) || "");
  const [window_, setWindow] = useState(null);          // {start, end} ISO, fixed at load
  const [cursors, setCursors] = useState([null]);       // cursor of each page seen; the last is the current page
  const [page, setPage] = useState(null);               // the API's answer
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const codes = intList(codesText, 255);
  const params = intList(paramsText, 65535);
  const bad = codes.error !== undefined ? t("ev_bad_code", { v: codes.error })
    : params.error !== undefined ? t("ev_bad_param", { v: params.error }) : null;

  async function fetchPage(win, cursor) {
    const q = new URLSearchParams({ start: win.start, end: win.end, limit: String(pageSize(query)) });
    const list = [...new Set([...(group ? GROUPS[group] : []), ...(codes.values || [])])];
    for (const c of list) q.append("codes", String(c));
    for (const p of params.values || []) q.append("params", String(p));
    if (cursor) q.set("cursor", cursor);
    setBusy(true);
    const r = await api(`/api/v1/intersections/${enc}/events?${q}`);
    setBusy(false);
    if (r.ok) { setPage(r.body); setError(null); } else if (r.status !== 401) setError(problemText(r));
    return r.ok;
  }

  function load(ev) {
    if (ev) ev.preventDefault();
    if (bad) return;
    const end = new Date();
    const win = { start: new Date(end.getTime() - minutes * 60000).toISOString(), end: end.toISOString() };
    setWindow(win);
    setCursors([null]);
    fetchPage(win, null);
  }
  useEffect(() => { load(); }, [id]);

  async function next() {
    if (!page || !page.next_cursor) return;
    if (await fetchPage(window_, page.next_cursor)) setCursors([...cursors, page.next_cursor]);
  }
  async function prev() {
    if (cursors.length < 2) return;
    const back = cursors.slice(0, -1);
    if (await fetchPage(window_, back[back.length - 1])) setCursors(back);
  }

  const events = page ? page.events : [];
  return html`<section aria-labelledby="ev-title" class="event-log">
    <div class="title-row">
      <h1 id="ev-title">${t("ev_title", { id })}</h1>
      <span class="spacer"></span>
      <a class="button" href=${`#/i/${enc}`}>${t("back")}</a>
    </div>
    <form class="toolbar" onSubmit=${load} aria-label=${t("ev_filters")}>
      <label>${t("ev_window")}<select value=${minutes} onChange=${(e) => setMinutes(Number(e.target.value))}>
        ${Object.entries(WINDOWS).map(([m, key]) => html`<option key=${m} value=${m}>${t(key)}</option>`)}
      </select></label>
      <label>${t("ev_group")}<select value=${group} onChange=${(e) => setGroup(e.target.value)}>
        <option value="">${t("all")}</option>
        ${Object.keys(GROUPS).map((g) => html`<option key=${g} value=${g}>${t(`ev_group_${g}`)}</option>`)}
      </select></label>
      <label>${t("ev_codes")}<input name="codes" value=${codesText} inputmode="numeric" placeholder="1, 8"
        aria-invalid=${codes.error !== undefined} onInput=${(e) => setCodesText(e.target.value)} /></label>
      <label>${t("ev_params")}<input name="params" value=${paramsText} inputmode="numeric" placeholder="2"
        aria-invalid=${params.error !== undefined} onInput=${(e) => setParamsText(e.target.value)} /></label>
      <button class="primary" type="submit" disabled=${busy || !!bad}>${t("ev_load")}</button>
    </form>
    <p class="error" role="alert">${bad || (error ? t("failed_load", { reason: error }) : "")}</p>
    ${window_ && html`<p class="muted" data-testid="ev-window">${t("ev_window_is", {
      from: fmtDateTime(window_.start), to: fmtDateTime(window_.end), page: cursors.length })}</p>`}
    ${page && (events.length === 0 ? html`<p class="muted" data-testid="ev-empty">${t("ev_none")}</p>` : html`
      <table class="grid-table event-table" data-testid="events">
        <caption class="sr-only">${t("ev_title", { id })}</caption>
        <thead><tr><th scope="col">${t("chart_time")}</th><th scope="col">${t("ev_code")}</th>
          <th scope="col">${t("ev_event")}</th><th scope="col">${t("ev_param")}</th></tr></thead>
        <tbody>${events.map((e) => html`<tr key=${`${e.ts}/${e.seq}`} data-code=${e.code} data-param=${e.param}>
          <${TimeCell} iso=${e.ts} /><td class="num">${e.code}</td><td>${codeName(e.code)}</td>
          <td>${paramText(e.code, e.param)}</td></tr>`)}</tbody>
      </table>`)}
    <div class="pager">
      <button type="button" onClick=${prev} disabled=${busy || cursors.length < 2}>${t("ev_prev")}</button>
      <span>${t("ev_page", { n: cursors.length, count: events.length })}</span>
      <button type="button" onClick=${next} disabled=${busy || !page || !page.next_cursor}>${t("ev_next")}</button>
    </div>
  </section>`;
}
