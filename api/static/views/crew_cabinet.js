// A cabinet for the crew: each circuit as measured (on/off, level, current, breaker; a tripped breaker is a fault
// at 0 A, never "on"), its faults by name, switch / dim with a duration (30 min … 8 h) and a reason, the active
// override (level, until when, who, why) with "return to program", and the program's next switching times.
// Commands go through the offline queue (crew_queue.js): each shows its state until its final result.
import { html, useState, useEffect } from "../lib.js";
import { state, can } from "../store.js";
import { t, tMaybe, fmtNum, fmtDateTime } from "../i18n.js";
import { useApi, Loading, alarmLabel, CommBadge } from "./common.js";
import { submit, cancel, latestFor, FINAL } from "../crew_queue.js";
import { distanceM, fmtDistance, geoUri, deviceLocation } from "../geo.js";
import { LampLife, luminairesText } from "./crew_relamp.js";
import "../i18n/crew.js";

export const DURATIONS_MIN = [30, 60, 120, 240, 480];
const REASONS = ["maintenance", "inspection", "fault_finding", "public_event"];
const lightingKey = (id) => `sl.crew.lighting.${id}`;

function durationText(min) {
  return min < 60 ? t("minutes", { n: min }) : t("hours", { n: fmtNum(min / 60, 1) });
}

/** Local time, with the date only when it is not today. */
export function whenText(iso) {
  const d = new Date(iso);
  const day = (x) => new Intl.DateTimeFormat("en-CA", { timeZone: state.tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(x);
  return day(d) === day(new Date()) ? fmtDateTime(d, { seconds: false, date: false }) : fmtDateTime(d, { seconds: false });
}

/** What a circuit is, from its measurement: fault (breaker out, or a fault reported), on at a level, or off. */
export function circuitStatus(c) {
  if (!c) return { key: "unknown", lit: false };
  const faults = Array.isArray(c.faults) ? c.faults : Object.keys(c.faults || {});
  if (c.breaker_tripped) return { key: "breaker", lit: false, faults };
  const drawing = c.current_a === undefined || c.current_a === null || c.current_a > 0;
  if (c.on && (c.level_pct ?? 100) > 0) return { key: faults.length ? "on_fault" : "on", lit: drawing, faults };
  return { key: faults.length ? "off_fault" : "off", lit: false, faults };
}

function statusLine(c, st) {
  const level = `${fmtNum(c.level_pct)} %`;
  if (st.key === "breaker") return `${t("c_fault")} · ${t("breaker_tripped")} · ${fmtNum(c.current_a ?? 0, 1)} A`;
  if (st.key === "on" || st.key === "on_fault") return `${t("on")} · ${level}`;
  if (st.key === "unknown") return t("unknown");
  return t("off");
}

function Outcome({ e }) {
  if (!e) return null;
  const final = FINAL.has(e.status);
  const cls = e.status === "succeeded" ? "ok" : final ? "bad" : "wait";
  const what = e.action === "release" ? t("cmd_release") : t("cmd_set", { level: fmtNum(e.level_pct), dur: durationText(e.duration_min) });
  let reason = null;
  if (e.reason === "device_silent") reason = t("why_device_silent", { time: e.expires_at ? whenText(e.expires_at) : t("none") });
  else if (e.reason) reason = tMaybe(`why_${e.reason}`) || e.reason;
  return html`<div class=${`cmd-outcome ${cls}`} role="status" data-testid="cmd-status" data-status=${e.status}>
    <span class="cmd-what">${what} · </span>
    <strong>${t(`q_${e.status}`)}${reason ? ":" : ""}</strong>${reason && html`<span class="cmd-reason">${" "}${reason}</span>`}
    ${e.status === "waiting" && html`<button type="button" onClick=${() => cancel(e.key)}>${t("cancel_command")}</button>`}
  </div>`;
}

function Controls({ id, c, override }) {
  const [level, setLevel] = useState(c && c.on ? Math.round(c.level_pct ?? 100) : 100);
  const [dur, setDur] = useState(60);
  const [why, setWhy] = useState("maintenance");
  const n = c.circuit;
  const send = (lvl) => submit({ device: id, circuit: n, action: "set", level_pct: lvl, duration_min: dur, why: t(`reason_${why}`) });
  const group = `dur-${n}`;
  return html`<fieldset class="crew-controls">
    <legend>${t("switch_or_dim")}</legend>
    <label class="slider">${t("level")}: <output data-testid="level-out">${fmtNum(level)} %</output>
      <input type="range" min="0" max="100" step="10" value=${level} data-testid="level"
        aria-valuetext=${`${fmtNum(level)} %`} onInput=${(ev) => setLevel(Number(ev.target.value))} /></label>
    <div class="chips" role="radiogroup" aria-label=${t("override_duration")}>
      ${DURATIONS_MIN.map((m) => html`<label key=${m} class=${`chip${dur === m ? " on" : ""}`}>
        <input type="radio" name=${group} value=${m} checked=${dur === m} onChange=${() => setDur(m)} />${durationText(m)}</label>`)}
    </div>
    <label>${t("reason")}<select value=${why} onChange=${(ev) => setWhy(ev.target.value)}>
      ${REASONS.map((r) => html`<option key=${r} value=${r}>${t(`reason_${r}`)}</option>`)}</select></label>
    <div class="row">
      <button type="button" class="primary" onClick=${() => send(level)} data-testid="apply">
        ${level > 0 ? t("apply_level", { level: fmtNum(level), dur: durationText(dur) }) : t("apply_off", { dur: durationText(dur) })}</button>
      <button type="button" onClick=${() => send(0)}>${t("switch_off")}</button>
      ${override && html`<button type="button" onClick=${() => submit({ device: id, circuit: n, action: "release" })}
        data-testid="release">${t("return_to_program")}</button>`}
    </div>
  </fieldset>`;
}

function Circuit({ id, c, override, night, alarms, life, reloadLife }) {
  const st = circuitStatus(c);
  const now = Date.now();
  // The API's next switches run on past this night's morning into the next evening; filtered again here since
  // the screen may show a reading 30 s old (or older, offline).
  const next = ((night && night.next_switches) || []).filter((s) => new Date(s.at).getTime() > now).slice(0, 3);
  const measuredOverride = c.control === "override";
  const applied = override && !["expired", "failed"].includes(override.command_status) ? override : null;
  return html`<section class=${`circuit st-${st.key}`} data-circuit=${c.circuit} aria-labelledby=${`c-${c.circuit}`}>
    <div class="c-head">
      <span class=${`lamp${st.lit ? " lit" : ""}${st.key === "breaker" || st.key.endsWith("fault") ? " fault" : ""}`} aria-hidden="true"></span>
      <h2 id=${`c-${c.circuit}`}>${t("circuit_n", { n: c.circuit })}</h2>
      <strong class="c-status" data-testid="circuit-status">${statusLine(c, st)}</strong>
    </div>
    <dl class="c-facts">
      <div><dt>${t("current")}</dt><dd>${c.current_a === undefined || c.current_a === null ? t("none") : `${fmtNum(c.current_a, 1)} A`}</dd></div>
      <div><dt>${t("breaker")}</dt><dd>${c.breaker_tripped ? t("breaker_tripped") : t("breaker_ok")}</dd></div>
      <div><dt>${t("control")}</dt><dd>${measuredOverride ? t("control_override") : t("control_program")}</dd></div>
      <div><dt>${t("luminaires")}</dt><dd data-testid="luminaires">${luminairesText(c)}</dd></div>
    </dl>
    <${LampLife} id=${id} circuit=${c.circuit} life=${life} onDone=${reloadLife} />
    ${alarms.length > 0 && html`<ul class="fault-list" data-testid="circuit-faults">${alarms.map((a) => html`<li key=${a.id}><span class="badge badge-alarm">${alarmLabel(a)}</span></li>`)}</ul>`}
    ${override && (override.command_status === "expired" || override.command_status === "failed")
      ? html`<p class="small warn-text" data-testid="override-not-applied">${t("override_not_applied", {
          level: fmtNum(override.level_pct), who: override.set_by, status: t(override.command_status === "failed" ? "q_refused" : "q_expired") })}</p>`
      : override ? html`<p class="override" data-testid="override">${t("override_line", {
        level: fmtNum(override.level_pct), until: whenText(override.until), who: override.set_by })}${override.reason ? html`<br /><span class="small">${t("reason")}: ${override.reason}</span>` : ""}
        ${!measuredOverride && c.control ? html`<br /><span class="small warn-text">${t("override_not_confirmed")}</span>` : ""}</p>`
      : html`<p class="small muted">${t("no_override")}</p>`}
    <div class="next-switches">
      <h3>${t("next_switches")}</h3>
      ${next.length ? html`<ul data-testid="next-switches">${next.map((s) => html`<li key=${s.at}>${whenText(s.at)} → ${s.level_pct > 0 ? `${fmtNum(s.level_pct)} %` : t("off")}</li>`)}</ul>`
        : html`<p class="small muted">${night ? t("no_more_switches") : t("no_program")}</p>`}
    </div>
    <${Outcome} e=${latestFor(id, c.circuit)} />
    ${can("command:cabinet") && html`<${Controls} id=${id} c=${c} override=${applied} />`}
  </section>`;
}

export function CrewCabinet({ id }) {
  const res = useApi(`/api/v1/cabinets/${encodeURIComponent(id)}/lighting`, { every: 30000 });
  const lifeRes = useApi(`/api/v1/lighting/lamp-life?device=${encodeURIComponent(id)}`, { every: 300000 });
  const lives = new Map((((lifeRes.data && lifeRes.data.cabinets) || [])[0] || { circuits: [] }).circuits.map((l) => [l.circuit, l]));
  const dev = state.devices.get(id);
  // the lighting view again when one of this cabinet's commands is finished (its override appears or ends)
  const done = state.queue.filter((e) => e.device === id && FINAL.has(e.status)).length;
  useEffect(() => { if (done) res.reload(); }, [done]);
  // the last known view stays on the phone for a reload without network
  let data = res.data;
  if (data) { try { localStorage.setItem(lightingKey(id), JSON.stringify(data)); } catch { /* full */ } }
  else { try { data = JSON.parse(localStorage.getItem(lightingKey(id)) || "null"); } catch { data = null; } }
  const view = { ...res, data };
  const live = ((dev && dev.state && dev.state.values && dev.state.values.circuits) || []);
  const liveBy = new Map(live.map((c) => [c.circuit, c]));
  const circuits = data ? data.circuits.map((c) => ({ ...c, ...(liveBy.get(c.circuit) || {}), override: c.override })) : [];
  const nights = new Map(((data && data.program && data.program.circuits) || []).map((n) => [n.circuit, n]));
  const alarms = [...state.alarms.values()].filter((a) => a.device_id === id).sort((a, b) => a.id - b.id);
  const loc = deviceLocation(dev);
  let where = null;
  try { where = JSON.parse(localStorage.getItem("sl.crew.where") || "null"); } catch { where = null; }
  const name = (dev && dev.name) || id;
  return html`<section aria-labelledby="cab-title" class="crew">
    <p><a href="#/crew" class="back">← ${t("faults_near_me")}</a></p>
    <div class="title-row"><h1 id="cab-title">${name}</h1>${dev && html`<${CommBadge} dev=${dev} />`}</div>
    <p class="meta">${(dev && dev.site) || ""}/${id}${where && loc ? ` · ${fmtDistance(distanceM(where, loc))}` : ""}
      ${loc && html` <a class="button" href=${geoUri(loc, name)}>${t("navigate")}</a>`}
      <a class="button" href=${`#/orders?device=${encodeURIComponent(id)}`}>${t("wo_cabinet_history", { id })}</a></p>
    ${alarms.filter((a) => !a.circuit).length > 0 && html`<ul class="fault-list">${alarms.filter((a) => !a.circuit).map((a) => html`<li key=${a.id}><span class="badge badge-alarm">${alarmLabel(a)}</span></li>`)}</ul>`}
    <${Loading} res=${view}>${data && html`
      <div class="panel program" data-testid="program">
        <h2>${t("program")}</h2>
        ${data.program ? html`<p>${t("program_line", { name: data.program.name, v: data.program.version })}</p>`
          : html`<p class="muted">${data.reported_program && data.reported_program.name ? t("program_reported", { name: data.reported_program.name }) : t("no_program")}</p>`}
      </div>
      ${circuits.map((c) => html`<${Circuit} key=${c.circuit} id=${id} c=${c} override=${c.override}
        night=${nights.get(c.circuit)} alarms=${alarms.filter((a) => a.circuit === c.circuit)}
        life=${lives.get(c.circuit)} reloadLife=${lifeRes.reload} />`)}`}<//>
  </section>`;
}
