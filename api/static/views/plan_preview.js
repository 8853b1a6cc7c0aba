// The preview panel of a plan version (before its deploy button), or of the editor's unsaved draft: run it and the
// running plan on the twin (POST …/plans/{v}/preview, or …/plans/draft/preview with the plan in the body), follow
// the job by the stream's `preview` events (read again when it ends; slowly polled only while the stream is down; a
// reload finds the version's latest job), then compare side by side per approach or movement: delay, stops, max
// queue, arrivals on green, split failures, each as the mean over seeds with its spread, the difference coloured
// and worded better / worse. 501 (no SUMO), a full queue, a refused draft and a failed job each say what happened
// and what to do, once, in the user's language.
import { html, useState, useEffect } from "../lib.js";
import { api } from "../session.js";
import { t, fmtNum } from "../i18n.js";
import { ACTIVE, Cards, JobStatus, PreviewError, figuresOf, previewError, todayAt, useFollowedJob } from "./preview_cards.js";

const DURATIONS = [10, 15, 30, 60];
const SEEDS = [1, 3, 5];

function Comparison({ job, version }) {
  const [view, setView] = useState("approach");
  const res = job.result;
  const { candidate, running } = figuresOf(res, null);
  const source = Object.values(job.demand_sources || {})[0] || "default";
  return html`<div class="pv-result" data-testid="preview-result">
    <p class="small">${t(`pv_demand_${source}`)} ${t("pv_meta", { duration: fmtNum(res.duration_s / 60, 0), n: res.seeds.length,
      sumo: res.sumo_version, speed: fmtNum(res.simulated_s_per_wall_s, 0) })}</p>
    <div class="toolbar" role="group" aria-label=${t("pv_show")}>
      ${["approach", "movement"].map((v) => html`<button type="button" key=${v} aria-pressed=${view === v ? "true" : "false"}
        onClick=${() => setView(v)}>${t(`pv_by_${v}`)}</button>`)}
    </div>
    <${Cards} cand=${candidate} run=${running || null} view=${view} version=${version} />
  </div>`;
}

function Baseline({ job }) {
  const key = { deployed: "pv_vs_deployed", previous: "pv_vs_previous", none: "pv_vs_none", refused: "pv_vs_refused" }[job.baseline];
  return key ? html`<p data-testid="preview-baseline">${t(key, { v: job.baseline_version })}</p>` : null;
}

/** `version`: a saved version; or `draft`: the plan the editor holds (not saved), previewed as it is. */
export function PreviewPanel({ inter, version = null, draft = null, onClose, onDeploy }) {
  const [posted, setPosted] = useState(null);
  const [jobId, setJobId] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [start, setStart] = useState(todayAt("07:00"));
  const [duration, setDuration] = useState(15);
  const [seeds, setSeeds] = useState(3);
  useEffect(() => {  // a reload (or coming back) shows the version's latest preview; a draft has none
    let live = true;
    setJobId(null); setPosted(null); setError(null);
    if (version === null) return undefined;
    api(`/api/v1/intersections/${inter}/previews?version=${version}&limit=1`).then((r) => {
      if (live && r.ok && r.body.length) { setPosted(r.body[0]); setJobId(r.body[0].id); }
    });
    return () => { live = false; };
  }, [inter, version]);
  const job = useFollowedJob(jobId, posted);

  async function run(ev) {
    ev.preventDefault();
    setBusy(true); setError(null);
    const body = { start: `${start}:00`, duration_s: duration * 60, seeds: Array.from({ length: seeds }, (_, i) => i + 1) };
    const r = draft
      ? await api(`/api/v1/intersections/${inter}/plans/draft/preview`, { method: "POST", json: { ...body, plan: draft } })
      : await api(`/api/v1/intersections/${inter}/plans/${version}/preview`, { method: "POST", json: body });
    setBusy(false);
    // a refused run leaves no earlier result on screen, where it could be read as this run's answer
    if (r.ok) { setPosted(r.body); setJobId(r.body.id); } else { setPosted(null); setJobId(null); setError(previewError(r)); }
  }

  const running = !!(job && ACTIVE.has(job.state)) || busy;
  const label = version === null ? t("pv_draft") : version;
  return html`<section class="dialog pv-panel" aria-labelledby="pv-title" data-testid="preview-panel">
    <div class="title-row"><h3 id="pv-title">${version === null ? t("pv_title_draft") : t("pv_title", { v: version })}</h3><span class="spacer"></span>
      <button type="button" onClick=${onClose}>${t("pv_close")}</button></div>
    <p class="small muted">${t("pv_intro")}</p>
    <form class="toolbar" onSubmit=${run}>
      <label>${t("pv_start")}<input type="datetime-local" name="start" value=${start} step="900" required
        onInput=${(e) => setStart(e.target.value)} /></label>
      <label>${t("pv_duration")}<select name="duration" value=${String(duration)} onChange=${(e) => setDuration(Number(e.target.value))}>
        ${DURATIONS.map((n) => html`<option key=${n} value=${String(n)}>${t("pv_min", { n })}</option>`)}</select></label>
      <label>${t("pv_seeds")}<select name="seeds" value=${String(seeds)} onChange=${(e) => setSeeds(Number(e.target.value))}>
        ${SEEDS.map((n) => html`<option key=${n} value=${String(n)}>${n}</option>`)}</select></label>
      <button type="submit" class="primary" disabled=${running}>${t("pv_run")}</button>
    </form>
    ${error && html`<${PreviewError} error=${error} />`}
    ${job && html`<${Baseline} job=${job} /><${JobStatus} job=${job} />`}
    ${job && job.state === "done" && job.result && html`<${Comparison} job=${job} version=${label} />`}
    ${onDeploy && version !== null && html`<div class="row"><button type="button" class="primary" onClick=${onDeploy} disabled=${running}>${t("pv_deploy_after", { v: version })}</button></div>`}
  </section>`;
}
