// The plan editor: phase table, rings and barriers, patterns with splits, day plans, week and holidays. Every change
// is validated by the API (POST /plans/validate, the one judge of a plan) and each failed rule is shown at the field
// it concerns (or its block when no single field is to blame), in the UI's language; warnings apart from errors.
// "Preview draft" runs the plan as it stands (unsaved) on the twin against the running one (views/plan_preview.js).
import { html, useState, useEffect, useRef } from "../lib.js";
import { state } from "../store.js";
import { api } from "../session.js";
import { t, fmtNum } from "../i18n.js";
import { useApi, problemText } from "./common.js";
import { getAt, setAt, placeIssues } from "./plan_path.js";
import { PreviewPanel } from "./plan_preview.js";

const PHASE_FIELDS = ["min_green_s", "max_green_s", "passage_s", "yellow_s", "red_clear_s", "walk_s", "ped_clear_s",
                      "ped_actuated", "approach_speed_kph", "grade_pct", "clearing_width_m", "crosswalk_m"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function skeleton(intersectionId) {
  const phase = (n) => ({ phase: n, min_green_s: n % 2 ? 5 : 10, max_green_s: n % 2 ? 15 : 30, passage_s: 2, yellow_s: 4,
    red_clear_s: 2, ped_actuated: false, approach_speed_kph: 50, grade_pct: 0, clearing_width_m: 20 });
  return { format: "signalight.plan/v1", intersection_id: intersectionId, name: "", phases: [1, 2, 3, 4, 5, 6, 7, 8].map(phase),
    rings: [[1, 2, 3, 4], [5, 6, 7, 8]], barriers: [[1, 2, 5, 6], [3, 4, 7, 8]],
    patterns: [{ pattern: 1, cycle_s: 120, offset_s: 0, coord_phases: [2, 6],
                 splits_s: { 1: 20, 2: 40, 3: 20, 4: 40, 5: 20, 6: 40, 7: 20, 8: 40 } }],
    day_plans: [{ day_plan: 1, events: [{ at: "00:00", action: "pattern", pattern: 1 }] }],
    week: Object.fromEntries(DAYS.map((d) => [d, 1])), holidays: [] };
}

/** Every path the editor shows, for placing each issue at its field or the nearest block. */
function shownPaths(plan) {
  const s = new Set(["", "name", "phases", "rings", "barriers", "patterns", "day_plans", "week", "holidays"]);
  (plan.phases || []).forEach((_, i) => { s.add(`phases[${i}]`); PHASE_FIELDS.forEach((f) => s.add(`phases[${i}].${f}`)); });
  (plan.rings || []).forEach((_, i) => s.add(`rings[${i}]`));
  (plan.barriers || []).forEach((_, i) => s.add(`barriers[${i}]`));
  (plan.patterns || []).forEach((p, k) => {
    ["", ".cycle_s", ".offset_s", ".coord_phases", ".splits_s"].forEach((f) => s.add(`patterns[${k}]${f}`));
    Object.keys(p.splits_s || {}).forEach((n) => s.add(`patterns[${k}].splits_s.${n}`));
  });
  (plan.day_plans || []).forEach((d, i) => {
    s.add(`day_plans[${i}]`); s.add(`day_plans[${i}].events`);
    (d.events || []).forEach((_, e) => ["", ".at", ".action", ".pattern"].forEach((f) => s.add(`day_plans[${i}].events[${e}]${f}`)));
  });
  DAYS.forEach((d) => s.add(`week.${d}`));
  (plan.holidays || []).forEach((_, h) => ["", ".date", ".day_plan"].forEach((f) => s.add(`holidays[${h}]${f}`)));
  return s;
}

const idOf = (path) => `f-${path.replace(/[^a-zA-Z0-9]+/g, "-")}`;

function IssueList({ issues, kind, path }) {
  if (!issues || !issues.length) return null;
  return html`<ul class=${`issues ${kind}`} id=${`${idOf(path)}-${kind}`} data-path=${path} data-kind=${kind}>
    ${issues.map((i, n) => html`<li key=${n} data-rule=${i.rule}>${i.message ? i.message[state.lang] || i.message.en : i.rule}
      ${i.required !== undefined && i.required !== null ? html` <span class="small">(${t("required_found", { required: fmtVal(i.required), found: fmtVal(i.found) })})</span>` : ""}</li>`)}
  </ul>`;
}

function fmtVal(v) { return typeof v === "number" ? fmtNum(v, 2) : typeof v === "object" ? JSON.stringify(v) : String(v); }

function parseNum(text) {
  const s = String(text).trim().replace(",", ".");
  if (s === "") return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : String(text);  // the validator names what is wrong with a non-number
}

function parseList(text) {
  return String(text).split(/[\s,;]+/).filter(Boolean).map((x) => (Number.isInteger(Number(x)) ? Number(x) : x));
}

/** One input bound to a path of the plan; shows that path's errors and warnings under it. */
function Field({ ctx, path, label, kind = "number", options, hideLabel = false }) {
  const value = getAt(ctx.plan, path);
  const shown = kind === "number" ? (value === undefined || value === null ? "" : typeof value === "number" ? fmtNum(value, 3) : String(value))
    : kind === "list" ? (Array.isArray(value) ? value.join(", ") : value === undefined ? "" : String(value)) : value ?? "";
  const [text, setText] = useState(shown);
  const focused = useRef(false);
  useEffect(() => { if (!focused.current) setText(shown); }, [shown, state.lang]);
  const errs = ctx.errors.get(path), warns = ctx.warnings.get(path);
  const id = idOf(path);
  const described = [errs && `${id}-error`, warns && `${id}-warning`].filter(Boolean).join(" ") || undefined;
  let input;
  const common = { id, "data-path": path, "aria-invalid": errs ? "true" : undefined, "aria-describedby": described };
  if (kind === "bool") {
    input = html`<input type="checkbox" ...${common} checked=${!!value} onChange=${(e) => ctx.set(path, e.target.checked)} />`;
  } else if (kind === "select") {
    input = html`<select ...${common} value=${String(value ?? "")} onChange=${(e) => ctx.set(path, e.target.value)}>
      ${options.map(([v, l]) => html`<option key=${v} value=${v}>${l}</option>`)}</select>`;
  } else {
    const parse = kind === "number" ? parseNum : kind === "list" ? parseList : (x) => x;
    input = html`<input type="text" inputmode=${kind === "number" ? "decimal" : undefined} ...${common} value=${text}
      onFocus=${() => { focused.current = true; }} onBlur=${() => { focused.current = false; setText(shown); }}
      onInput=${(e) => { setText(e.target.value); ctx.set(path, parse(e.target.value)); }} />`;
  }
  return html`<div class=${`field ${errs ? "has-error" : ""} ${warns ? "has-warning" : ""}`}>
    <label for=${id} class=${hideLabel ? "sr-only" : ""}>${label}</label>${input}
    <${IssueList} issues=${errs} kind="error" path=${path} /><${IssueList} issues=${warns} kind="warning" path=${path} />
  </div>`;
}

function BlockIssues({ ctx, path }) {
  return html`<${IssueList} issues=${ctx.errors.get(path)} kind="error" path=${path} /><${IssueList} issues=${ctx.warnings.get(path)} kind="warning" path=${path} />`;
}

function PhaseTable({ ctx }) {
  const phases = ctx.plan.phases || [];
  return html`<section class="block" aria-labelledby="ed-phases"><h2 id="ed-phases">${t("phases")}</h2><${BlockIssues} ctx=${ctx} path="phases" />
    <div class="scroll"><table class="phase-table">
      <thead><tr><th scope="col">${t("field")}</th>${phases.map((p, i) => html`<th key=${i} scope="col">${t("phase_n", { n: p.phase })}<${BlockIssues} ctx=${ctx} path=${`phases[${i}]`} /></th>`)}</tr></thead>
      <tbody>${PHASE_FIELDS.map((f) => html`<tr key=${f}><th scope="row">${t(f)}</th>
        ${phases.map((p, i) => html`<td key=${i}><${Field} ctx=${ctx} path=${`phases[${i}].${f}`} label=${`${t(f)} – ${t("phase_n", { n: p.phase })}`}
          kind=${f === "ped_actuated" ? "bool" : "number"} hideLabel=${true} /></td>`)}</tr>`)}</tbody>
    </table></div></section>`;
}

function RingsBarriers({ ctx }) {
  return html`<section class="block" aria-labelledby="ed-rings"><h2 id="ed-rings">${t("rings_barriers")}</h2>
    <${BlockIssues} ctx=${ctx} path="rings" /><${BlockIssues} ctx=${ctx} path="barriers" />
    <div class="cols">${(ctx.plan.rings || []).map((_, r) => html`<${Field} key=${`r${r}`} ctx=${ctx} path=${`rings[${r}]`} label=${t("ring_n", { n: r + 1 })} kind="list" />`)}
    ${(ctx.plan.barriers || []).map((_, b) => html`<${Field} key=${`b${b}`} ctx=${ctx} path=${`barriers[${b}]`} label=${t("barrier_n", { n: b + 1 })} kind="list" />`)}</div>
  </section>`;
}

function Patterns({ ctx }) {
  const patterns = ctx.plan.patterns || [];
  const phaseNums = (ctx.plan.phases || []).map((p) => p.phase);
  function add() {
    const last = patterns[patterns.length - 1];
    const next = last ? { ...JSON.parse(JSON.stringify(last)), pattern: Math.max(...patterns.map((p) => p.pattern)) + 1 } : skeleton("").patterns[0];
    ctx.set("patterns", [...patterns, next]);
  }
  return html`<section class="block" aria-labelledby="ed-patterns"><h2 id="ed-patterns">${t("patterns")}</h2><${BlockIssues} ctx=${ctx} path="patterns" />
    ${patterns.map((p, k) => html`<fieldset key=${k} class="pattern" data-path=${`patterns[${k}]`}>
      <legend>${t("pattern")} ${p.pattern}</legend><${BlockIssues} ctx=${ctx} path=${`patterns[${k}]`} />
      <div class="cols">
        <${Field} ctx=${ctx} path=${`patterns[${k}].cycle_s`} label=${t("cycle_s")} />
        <${Field} ctx=${ctx} path=${`patterns[${k}].offset_s`} label=${t("offset_s")} />
        <${Field} ctx=${ctx} path=${`patterns[${k}].coord_phases`} label=${t("coord_phases")} kind="list" />
      </div>
      <${BlockIssues} ctx=${ctx} path=${`patterns[${k}].splits_s`} />
      <div class="cols splits">${phaseNums.map((n) => html`<${Field} key=${n} ctx=${ctx} path=${`patterns[${k}].splits_s.${n}`} label=${t("split_n", { n })} />`)}</div>
      <button type="button" onClick=${() => ctx.set("patterns", patterns.filter((_, i) => i !== k))}>− ${t("pattern")} ${p.pattern}</button>
    </fieldset>`)}
    <button type="button" onClick=${add}>+ ${t("pattern")}</button>
  </section>`;
}

function DayPlans({ ctx }) {
  const days = ctx.plan.day_plans || [];
  const actions = [["pattern", t("ev_pattern")], ["free", t("ev_free")], ["flash", t("ev_flash")]];
  return html`<section class="block" aria-labelledby="ed-days"><h2 id="ed-days">${t("day_plans")}</h2><${BlockIssues} ctx=${ctx} path="day_plans" />
    ${days.map((d, i) => html`<fieldset key=${i}><legend>${t("day_plan_n", { n: d.day_plan })}</legend><${BlockIssues} ctx=${ctx} path=${`day_plans[${i}]`} />
      <${BlockIssues} ctx=${ctx} path=${`day_plans[${i}].events`} />
      ${(d.events || []).map((ev, e) => html`<div key=${e} class="cols event"><${BlockIssues} ctx=${ctx} path=${`day_plans[${i}].events[${e}]`} />
        <${Field} ctx=${ctx} path=${`day_plans[${i}].events[${e}].at`} label=${t("at")} kind="text" />
        <${Field} ctx=${ctx} path=${`day_plans[${i}].events[${e}].action`} label=${t("event_action")} kind="select" options=${actions} />
        ${ev.action === "pattern" && html`<${Field} ctx=${ctx} path=${`day_plans[${i}].events[${e}].pattern`} label=${t("pattern")} />`}
        <button type="button" aria-label=${`− ${t("at")} ${ev.at}`} onClick=${() => ctx.set(`day_plans[${i}].events`, d.events.filter((_, x) => x !== e))}>−</button>
      </div>`)}
      <button type="button" onClick=${() => ctx.set(`day_plans[${i}].events`, [...(d.events || []), { at: "12:00", action: "free" }])}>+ ${t("at")}</button>
    </fieldset>`)}
    <button type="button" onClick=${() => ctx.set("day_plans", [...days, { day_plan: Math.max(0, ...days.map((d) => d.day_plan)) + 1, events: [{ at: "00:00", action: "free" }] }])}>+ ${t("day_plan_n", { n: "" })}</button>
  </section>`;
}

function WeekHolidays({ ctx }) {
  const hol = ctx.plan.holidays || [];
  return html`<section class="block" aria-labelledby="ed-week"><h2 id="ed-week">${t("week")}</h2><${BlockIssues} ctx=${ctx} path="week" />
    <div class="cols">${DAYS.map((d) => html`<${Field} key=${d} ctx=${ctx} path=${`week.${d}`} label=${t(`weekday_${d}`)} />`)}</div>
    <h2>${t("holidays")}</h2><${BlockIssues} ctx=${ctx} path="holidays" />
    ${hol.map((_, h) => html`<div key=${h} class="cols"><${BlockIssues} ctx=${ctx} path=${`holidays[${h}]`} />
      <${Field} ctx=${ctx} path=${`holidays[${h}].date`} label=${t("date")} kind="text" />
      <${Field} ctx=${ctx} path=${`holidays[${h}].day_plan`} label=${t("day_plan_n", { n: "" })} />
      <button type="button" aria-label=${`− ${t("holidays")} ${h + 1}`} onClick=${() => ctx.set("holidays", hol.filter((_, x) => x !== h))}>−</button></div>`)}
    <button type="button" onClick=${() => ctx.set("holidays", [...hol, { date: "2027-01-01", day_plan: 1 }])}>+ ${t("holidays")}</button>
  </section>`;
}

function useValidation(plan) {
  const [result, setResult] = useState({ pending: true, errors: [], warnings: [] });
  const seq = useRef(0);
  useEffect(() => {
    if (!plan) return undefined;
    const mine = ++seq.current;
    setResult((r) => ({ ...r, pending: true }));
    const timer = setTimeout(async () => {
      const r = await api("/api/v1/plans/validate", { method: "POST", json: plan });
      if (mine !== seq.current) return;  // a newer change is being validated
      if (r.ok) setResult({ pending: false, errors: [], warnings: r.body.warnings || [] });
      else if (r.status === 422 && r.problem.errors) setResult({ pending: false, errors: r.problem.errors, warnings: r.problem.warnings || [] });
      else setResult({ pending: false, errors: [], warnings: [], failed: problemText(r) });
    }, 250);
    return () => clearTimeout(timer);
  }, [plan]);
  return result;
}

export function PlanEditor({ id, from }) {
  const enc = encodeURIComponent(id);
  const source = useApi(from && from !== "import" ? `/api/v1/intersections/${enc}/plans/${from}` : null);
  const [plan, setPlan] = useState(null);
  const [comment, setComment] = useState("");
  const [saveMsg, setSaveMsg] = useState(null);
  const [previewing, setPreviewing] = useState(false);
  useEffect(() => {
    if (from === "import") {
      const imported = JSON.parse(sessionStorage.getItem("sl.import") || "null");
      if (imported && typeof imported === "object") setPlan({ ...imported, intersection_id: id });
    } else if (!from) setPlan(skeleton(id));
  }, [from, id]);
  useEffect(() => { if (source.data) setPlan(source.data.plan); }, [source.data]);
  const check = useValidation(plan);
  if (!plan) return html`<p class="muted" role="status">${source.error ? t("failed_load", { reason: source.error }) : t("loading")}</p>`;
  const shown = shownPaths(plan);
  const ctx = { plan, set: (path, value) => { setSaveMsg(null); setPlan((p) => setAt(p, path, value)); },
                errors: placeIssues(check.errors, shown), warnings: placeIssues(check.warnings, shown) };
  async function save() {
    if (check.errors.length) { setSaveMsg({ cls: "bad", text: t("fix_errors_first") }); return; }
    const r = await api(`/api/v1/intersections/${enc}/plans?comment=${encodeURIComponent(comment)}`, { method: "POST", json: plan });
    if (r.ok) location.hash = `#/i/${enc}/plans`;
    else setSaveMsg({ cls: "bad", text: problemText(r) });
  }
  const status = check.pending ? t("validating") : check.failed ? t("failed_load", { reason: check.failed })
    : check.errors.length ? t("errors_n", { n: check.errors.length }) : t("valid");
  return html`<section class="editor" aria-labelledby="ed-title">
    <div class="title-row sticky">
      <a href=${`#/i/${enc}/plans`}>← ${t("plans")}</a>
      <h1 id="ed-title">${from && from !== "import" ? t("editor_of", { v: from }) : t("editor")}</h1>
      <span class=${`badge ${check.errors.length ? "badge-alarm" : check.pending ? "" : "badge-online"}`} role="status" data-testid="validation">${status}</span>
      ${check.warnings.length > 0 && html`<span class="badge badge-warning">${t("warnings_n", { n: check.warnings.length })}</span>`}
      <span class="spacer"></span>
      <label>${t("comment")}<input name="comment" value=${comment} onInput=${(e) => setComment(e.target.value)} maxLength="500" /></label>
      <button type="button" onClick=${() => setPreviewing(true)} disabled=${check.pending || check.errors.length > 0}
        aria-expanded=${previewing ? "true" : "false"}>${t("pv_preview_draft")}</button>
      <button type="button" class="primary" onClick=${save} disabled=${check.pending || check.errors.length > 0}>${t("save_version")}</button>
    </div>
    ${saveMsg && html`<p class=${`result ${saveMsg.cls}`} role="alert">${saveMsg.text}</p>`}
    ${previewing && html`<${PreviewPanel} inter=${enc} draft=${plan} onClose=${() => setPreviewing(false)} />`}
    <${BlockIssues} ctx=${ctx} path="" />
    <div class="cols"><${Field} ctx=${ctx} path="name" label=${t("plan_name")} kind="text" /></div>
    <${PhaseTable} ctx=${ctx} />
    <${RingsBarriers} ctx=${ctx} />
    <${Patterns} ctx=${ctx} />
    <${DayPlans} ctx=${ctx} />
    <${WeekHolidays} ctx=${ctx} />
  </section>`;
}
