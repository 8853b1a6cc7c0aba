// The twin's comparison cards and job status, shared by the plan preview (views/plan_preview.js) and the corridor
// preview (views/corridor.js): per approach or movement, the running plan and the candidate side by side (the mean
// over seeds with its spread), the difference coloured and worded better / worse; `highlight` names the measures to
// stand out (the corridor marks arrivals on green of the through movements: what an offset changes).
import { html, useState, useEffect, useRef } from "../lib.js";
import { state } from "../store.js";
import { api } from "../session.js";
import { t, fmtNum } from "../i18n.js";
import { problemText } from "./common.js";
import "../i18n/twin.js";

// key, label, digits, direction (-1: lower is better, +1: higher is better, 0: neither), scale, "same" below
export const METRICS = [
  ["delay_s", "pv_delay", 1, -1, 1, 1],
  ["stops_per_veh", "pv_stops", 2, -1, 1, 0.05],
  ["max_queue_m", "pv_queue", 0, -1, 1, 5],
  ["arrivals_on_green", "pv_aog", 0, 1, 100, 2],
  ["split_failures", "pv_sf", 1, -1, 1, 0.5],
  ["vehicles", "pv_vehicles", 0, 0, 1, 0],
];
export const ACTIVE = new Set(["queued", "running"]);
/** While the live stream is down (bad network), a running job is read this often instead. */
export const SLOW_POLL_MS = 10000;
const ERRORS = new Set(["twin_unavailable", "twin_error", "timeout", "interrupted", "shutdown", "worker_error", "worker_died"]);

/** The mean (and the spread across seeds when they differ) of one figure. */
function Figure({ spread, digits, scale }) {
  if (!spread) return html`<span class="muted">—</span>`;
  const f = (v) => fmtNum(v * scale, digits);
  return html`<span class="pv-mean">${f(spread.mean)}</span>${spread.n > 1 && spread.high > spread.low
    ? html`<span class="pv-spread small muted" title=${t("pv_spread", { low: f(spread.low), high: f(spread.high) })}> (${f(spread.low)}–${f(spread.high)})</span>` : ""}`;
}

function Difference({ cand, run, metric }) {
  const [, , digits, direction, scale, same] = metric;
  if (!cand || !run) return html`<span class="muted">—</span>`;
  const d = (cand.mean - run.mean) * scale;
  const small = Math.abs(d) <= Math.max(same, 0.05 * Math.abs(run.mean * scale));
  const verdict = direction === 0 ? null : small ? "same" : d * direction > 0 ? "better" : "worse";
  const sign = d > 0 ? "+" : d < 0 ? "−" : "±";
  return html`<span class=${`pv-diff ${verdict ? `pv-${verdict}` : ""}`} data-verdict=${verdict || "none"}>
    ${sign}${fmtNum(Math.abs(d), digits)}${verdict ? html` <span class="pv-verdict">${verdict === "better" ? "▲ " : verdict === "worse" ? "▼ " : ""}${t(`pv_${verdict}`)}</span>` : ""}</span>`;
}

/** One approach's or movement's table: measure, running, candidate (version `version`), difference. */
export function Card({ cand, run, version, highlight = [] }) {
  const title = `${t("pv_leg", { leg: cand.leg })}${cand.movement ? ` · ${t(`pv_${cand.movement}`)}` : ""}`;
  return html`<section class="pv-card" data-testid="preview-card" data-leg=${cand.leg} data-movement=${cand.movement || ""}>
    <h4>${title}</h4>
    <table class="pv-table"><thead><tr><th scope="col">${t("pv_measure")}</th>${run && html`<th scope="col">${t("pv_running_col")}</th>`}
      <th scope="col">${/^\d+$/.test(String(version)) ? t("pv_candidate_col", { v: version }) : version}</th>${run && html`<th scope="col">${t("pv_diff")}</th>`}</tr></thead>
    <tbody>${METRICS.map((m) => html`<tr key=${m[0]} data-metric=${m[0]} class=${highlight.includes(m[0]) ? "pv-key" : ""}><th scope="row">${t(m[1])}</th>
      ${run && html`<td class="num"><${Figure} spread=${run[m[0]]} digits=${m[2]} scale=${m[4]} /></td>`}
      <td class="num"><${Figure} spread=${cand[m[0]]} digits=${m[2]} scale=${m[4]} /></td>
      ${run && html`<td class="num"><${Difference} cand=${cand[m[0]]} run=${run[m[0]]} metric=${m} /></td>`}</tr>`)}</tbody></table>
  </section>`;
}

/** The figures of one intersection in a finished job: variant label → its IntersectionFigures. */
export function figuresOf(result, intersectionId) {
  return Object.fromEntries(result.variants.map((v) => [v.variant,
    intersectionId ? v.intersections.find((i) => i.intersection_id === intersectionId) : v.intersections[0]]));
}

/** The cards of one intersection: `view` approach | movement | through; the running plan's row matched by leg and
 * movement. `highlight(row)` lists the measures to mark on a row's card. */
export function Cards({ cand, run, view, version, highlight = () => [] }) {
  const pick = (f) => !f ? [] : view === "approach" ? f.approaches
    : view === "through" ? f.movements.filter((r) => r.movement === "through") : f.movements;
  const other = pick(run);
  const match = (r) => other.find((o) => o.leg === r.leg && o.movement === r.movement) || null;
  return html`<div class="pv-cards">${pick(cand).map((r) => html`<${Card} key=${`${r.leg}-${r.movement}`} cand=${r}
    run=${run ? match(r) : null} version=${version} highlight=${highlight(r)} />`)}</div>`;
}

/** A job's state: waiting, a progress bar while it runs, nothing when done, else what failed and why. */
export function JobStatus({ job }) {
  if (job.state === "queued") return html`<p role="status" data-testid="preview-status" data-state="queued">${t("pv_queued")}</p>`;
  if (job.state === "running") {
    const pct = Math.round(job.progress * 100);
    return html`<div role="status" data-testid="preview-status" data-state="running">
      <label>${t("pv_running", { pct })}<progress max="100" value=${pct}></progress></label></div>`;
  }
  if (job.state === "done") return null;
  return html`<div class="error" role="alert" data-testid="preview-status" data-state=${job.state} data-error=${job.error || ""}>
    <strong>${t(job.state === "cancelled" ? "pv_cancelled" : "pv_failed")}</strong>
    <p>${job.error && ERRORS.has(job.error) ? t(`pv_err_${job.error}`) : ""}</p>
    ${job.message && job.error !== "twin_unavailable" && html`<p class="small"><code>${job.message}</code></p>`}
  </div>`;
}

/** What a refused preview request shows: one message in the user's language. 501 (no twin here) and 503 (queue
 * full) are said by our own words, which carry the enable hint or the wait (the server's English detail would say
 * it twice); a refused plan lists each failed rule and where; anything else the server's detail. */
export function previewError(r) {
  if (r.status === 501) return { status: 501, key: "pv_err_twin_unavailable" };
  if (r.status === 503) return { status: 503, key: "pv_busy", vars: { s: 60 } };
  const issues = (r.problem && Array.isArray(r.problem.errors) ? r.problem.errors : [])
    .filter((e) => e && e.message && typeof e.message === "object");
  if (r.status === 422 && issues.length) return { status: 422, key: "pv_refused", issues };
  return { status: r.status, detail: problemText(r) };
}

export function PreviewError({ error }) {
  return html`<div class="error" role="alert" data-testid="preview-error" data-status=${error.status}>
    ${error.key ? html`<p><strong>${t(error.key, error.vars || {})}</strong></p>` : ""}
    ${error.issues ? html`<ul>${error.issues.map((e, n) => html`<li key=${n} data-rule=${e.rule} data-path=${e.path}>
      ${e.message[state.lang] || e.message.en}${e.path ? html` <code>${e.path}</code>` : ""}</li>`)}</ul>` : ""}
    ${error.detail ? html`<p class="small">${error.detail}</p>` : ""}</div>`;
}

/** `YYYY-MM-DDTHH:MM` today at `hhmm` (a datetime-local input's value). */
export function todayAt(hhmm) {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${hhmm}`;
}

/** Follow preview job `jobId` (`first`: the job as the POST answered it). The stream's `preview` events move its
 * state and progress; the job itself (with its result) is read when it is opened (unless handed), when the stream
 * says it ended, when the stream comes back (it may have missed that), and every SLOW_POLL_MS while it is down. */
export function useFollowedJob(jobId, first = null) {
  const [job, setJob] = useState(first && first.id === jobId ? first : null);
  const shown = useRef(null);
  shown.current = job && job.id === jobId ? job : first && first.id === jobId ? first : null;
  const wasLive = useRef(null);
  const event = jobId ? state.previews.get(jobId) : undefined;
  const ended = event && !ACTIVE.has(event.state) ? event.state : null;
  const live = state.conn === "live";
  useEffect(() => {
    if (!jobId) return undefined;
    let on = true;
    const active = () => !shown.current || ACTIVE.has(shown.current.state);
    const read = async () => {
      const r = await api(`/api/v1/previews/${encodeURIComponent(jobId)}`);
      if (!on || r.status === 0) return;  // no network: keep what is shown
      setJob(r.ok ? r.body : { id: jobId, state: "failed", error: null, message: problemText(r) });
    };
    const back = live && wasLive.current === false;
    wasLive.current = live;
    if (!shown.current || (active() && (ended || back))) read();
    const timer = live ? null : setInterval(() => { if (active()) read(); }, SLOW_POLL_MS);
    return () => { on = false; clearInterval(timer); };
  }, [jobId, ended, live]);
  const current = shown.current;
  if (current && event && ACTIVE.has(current.state) && ACTIVE.has(event.state) && event.progress >= current.progress)
    return { ...current, state: event.state, progress: event.progress };
  return current;
}

