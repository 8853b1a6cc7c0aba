// One intersection live: phases and peds, the ring-barrier diagram, cycle timer, running vs scheduled pattern,
// control source, the backup timer while under manual control, the flash cause; and the manual control panel.
import { html } from "../lib.js";
import { state } from "../store.js";
import { t, fmtNum, fmtDateTime, fmtDuration, tMaybe } from "../i18n.js";
import { useApi, Loading, modeText, alarmLabel, CommBadge, signalValues } from "./common.js";
import { RingBarrier } from "./ring_barrier.js";
import { ControlPanel } from "./control_panel.js";
import "../i18n/workspace.js";
import "../i18n/measures.js";

/** Which stored version the controller runs: the one whose CRC it reports (`plan_crc32`), else the deployed one
 * when it reports none. {version, source: "deployed" | "device"} or null when the running plan is unknown. */
export function runningVersion(list, values) {
  if (!list) return null;
  const active = list.active_version;
  const reported = values && Number.isInteger(values.plan_crc32) && values.plan_crc32 > 0 ? values.plan_crc32 : null;
  if (reported === null) return active ? { version: active, source: "deployed" } : null;
  const match = list.versions.find((v) => v.crc32 === reported);
  if (!match) return null;
  return { version: match.version, source: match.version === active ? "deployed" : "device" };
}

function PlanDiagram({ running, plan, values, deployed }) {
  if (!running && deployed) {  // the device reports a CRC no stored version has: changed at the cabinet
    const crc = (values.plan_crc32 >>> 0).toString(16).padStart(8, "0");
    return html`<p class="notice" data-testid="plan-unknown">${t("rb_crc_mismatch", { v: deployed, crc })}</p>`;
  }
  if (!running) {
    const p = values && values.pattern;
    return html`<p class="notice" data-testid="plan-unknown">${p
      ? t("rb_unknown_plan", { p, c: fmtNum(values.cycle_s) }) : t("rb_unknown_nothing")}</p>`;
  }
  if (!plan) return html`<p class="muted" role="status">${t("loading")}</p>`;
  const has = values && plan.patterns.some((x) => x.pattern === values.pattern);
  return html`${running.source === "device" && html`<p class="muted small" data-testid="plan-from-device">${t("rb_device_plan")} (${t("version")} ${running.version})</p>`}
    ${has ? html`<${RingBarrier} plan=${plan} values=${values} />`
      : html`<p class="notice" data-testid="plan-pattern-missing">${t("rb_pattern_missing", { p: values && values.pattern })}</p>`}`;
}

function PhaseStrip({ values }) {
  const phases = (values && values.phases) || {};
  const peds = (values && values.peds) || {};
  return html`<ol class="phases" aria-label=${t("phase")}>
    ${[1, 2, 3, 4, 5, 6, 7, 8].map((n) => {
      const st = phases[String(n)] || "dark";
      const ped = peds[String(n)];
      return html`<li key=${n} data-phase=${n} data-state=${st}>
        <span class=${`dot dot-${st}`} aria-hidden="true"></span>
        <span class="ph-name">${t("phase_n", { n })}</span>
        <span class="ph-state">${tMaybe(`ph_${st}`) || st}</span>
        ${ped && html`<span class=${`ped ped-${ped}`}>${t("ped")}: ${tMaybe(`ped_${ped}`) || ped}</span>`}
      </li>`;
    })}
  </ol>`;
}

/** Vehicle detectors with a call now (bit n-1 of the controller's `detectors` mask is detector n). */
function activeDetectors(values) {
  const mask = values && Number.isInteger(values.detectors) ? values.detectors : null;
  if (mask === null) return t("none");
  const on = [];
  for (let n = 1; n <= 16; n++) if (mask & (1 << (n - 1))) on.push(n);
  return on.length ? on.join(", ") : t("no_calls");
}

function Facts({ values, sched, control }) {
  const expected = sched && sched.expected;
  const scheduled = expected ? (expected.action === "pattern" ? `${t("pattern")} ${expected.pattern}` : tMaybe(`ev_${expected.action}`) || expected.action) : t("none");
  const central = values && values.control_source === "central";
  return html`<dl class="facts">
    <div><dt>${t("col_mode")}</dt><dd data-testid="mode" class=${values && values.mode === "flash" ? "mode flash" : "mode"}>${modeText(values)}</dd></div>
    ${values && values.mode === "flash" && html`<div><dt>${t("flash_cause")}</dt><dd data-testid="flash-cause">${tMaybe(`flash_${values.flash_cause || "none"}`)}</dd></div>`}
    <div><dt>${t("running")}</dt><dd data-testid="pattern">${values && values.pattern ? `${t("pattern")} ${values.pattern}` : t("none")}</dd></div>
    <div><dt>${t("scheduled")}</dt><dd data-testid="scheduled">${scheduled}${sched && sched.status !== "skipped" ? html` <span class=${`badge badge-${sched.status}`}>${tMaybe(`compliance_${sched.status}`)}</span>` : ""}</dd></div>
    <div><dt>${t("col_source")}</dt><dd data-testid="source">${values && values.control_source ? t(`source_${values.control_source}`) : t("none")}</dd></div>
    <div><dt>${t("cycle_timer")}</dt><dd>${values && values.cycle_s ? `${fmtNum(values.cycle_timer_s, 1)} / ${fmtNum(values.cycle_s)} s` : t("none")}</dd></div>
    <div><dt>${t("detectors")}</dt><dd data-testid="detectors">${activeDetectors(values)}</dd></div>
    ${central && html`<div class="backup"><dt>${t("backup_timer")}</dt><dd data-testid="backup">${t("backup_left", { s: fmtDuration(values.backup_remaining_s) })}</dd></div>`}
    ${control && html`<div class="holder"><dt>${t("control_panel")}</dt><dd data-testid="holder">${t("held_by", { user: control.created_by, until: fmtDateTime(control.until, { seconds: false }) })}</dd></div>`}
  </dl>`;
}

export function IntersectionView({ id }) {
  const enc = encodeURIComponent(id);
  const inter = useApi(`/api/v1/intersections/${enc}`);
  const plans = useApi(`/api/v1/intersections/${enc}/plans`, { every: 30000 });
  const i0 = inter.data;
  const dev0 = i0 && state.devices.get(i0.controller_id);
  const values0 = signalValues(dev0) || (i0 && i0.controller && i0.controller.state && i0.controller.state.values) || null;
  const running = runningVersion(plans.data, values0);
  const active = running && running.version;
  const plan = useApi(active ? `/api/v1/intersections/${enc}/plans/${active}` : null);
  const sched = useApi(`/api/v1/intersections/${enc}/schedule`, { every: 15000 });
  const control = useApi(`/api/v1/intersections/${enc}/control`, { every: 5000 });
  if (inter.error && !inter.data) return html`<p class="error" role="alert">${t("intersection_missing", { id })}</p>`;
  const i = inter.data;
  const dev = i && state.devices.get(i.controller_id);
  const values = signalValues(dev) || (i && i.controller && i.controller.state && i.controller.state.values) || null;
  const alarms = i ? [...state.alarms.values()].filter((a) => a.device_id === i.controller_id) : [];
  const session = control.data && control.data.active;
  return html`<${Loading} res=${inter}>${i && html`<section class="intersection" aria-labelledby="int-title">
    <div class="title-row">
      <h1 id="int-title">${i.name}</h1>
      <span class="muted">${i.id} · ${i.controller_id || t("none")}</span>
      <${CommBadge} dev=${dev} />
      <span class="spacer"></span>
      <a class="button" href=${`#/i/${enc}/events`}>${t("event_log")}</a>
      <a class="button" href=${`#/i/${enc}/measures`}>${t("measures")}</a>
      ${i.controller_id && html`<a class="button" href=${`#/d/${encodeURIComponent(i.controller_id)}/telemetry`}>${t("telemetry")}</a>`}
      <a class="button" href=${`#/i/${enc}/plans`}>${t("plans")}</a>
    </div>
    ${alarms.length > 0 && html`<p class="alarms-line">${alarms.map((a) => html`<span key=${a.id} class="badge badge-alarm">${alarmLabel(a)}</span>`)}</p>`}
    <div class="two-col">
      <div>
        <${Facts} values=${values} sched=${sched.data} control=${session} />
        <${PhaseStrip} values=${values} />
        ${plans.data && html`<${PlanDiagram} running=${running} deployed=${plans.data.active_version} plan=${plan.data && plan.data.version === active ? plan.data.plan : null} values=${values} />`}
      </div>
      <${ControlPanel} inter=${i} values=${values} session=${session} reload=${control.reload}
        patterns=${plan.data ? plan.data.plan.patterns.map((p) => p.pattern) : null} />
    </div>
  </section>`}<//>`;
}
