// Manual control: hold pattern N / free / flash for a chosen duration with a reason, release, and (engineers) reset
// a conflict flash with a reason. Release goes through the manual-control owner (DELETE …/control), so the API
// stops renewing the hold; a conflict flash is not manual control and cannot be released: the panel says why.
import { html, useState } from "../lib.js";
import { state, can } from "../store.js";
import { api } from "../session.js";
import { t, fmtDateTime } from "../i18n.js";
import { problemText } from "./common.js";

const DURATIONS_MIN = [10, 30, 60, 120, 240, 480];

function durationLabel(m) { return m < 60 ? t("minutes", { n: m }) : t("hours", { n: m / 60 }); }

function CommandResult({ pending }) {
  if (!pending) return html`<p class="result" role="status"></p>`;
  const cmd = pending.commandId ? state.commands.get(pending.commandId) : null;
  let text = pending.text;
  let cls = pending.cls || "";
  if (cmd) {
    if (cmd.status === "succeeded") { text = t("succeeded"); cls = "ok"; }
    else if (cmd.status === "failed") {
      text = cmd.error === "refused" && pending.kind === "reset" ? t("reset_refused") : `${t("failed")}: ${cmd.message || cmd.error}`;
      cls = "bad";
    } else if (cmd.status === "expired") { text = t("expired"); cls = "bad"; }
  }
  return html`<p class=${`result ${cls}`} role="status" data-testid="control-result">${text}</p>`;
}

export function ControlPanel({ inter, values, session, patterns, reload }) {
  const [action, setAction] = useState("hold_pattern");
  const [pattern, setPattern] = useState("");
  const [minutes, setMinutes] = useState(30);
  const [reason, setReason] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [pending, setPending] = useState(null);
  const [resetReason, setResetReason] = useState("");
  const enc = encodeURIComponent(inter.id);
  const conflict = values && values.mode === "flash" && values.flash_cause === "conflict";
  const mayCommand = can("command:signal");
  const patternValue = pattern || (patterns && patterns[0] ? String(patterns[0]) : "1");

  if (!mayCommand) {
    return html`<aside class="panel" aria-labelledby="ctl-title"><h2 id="ctl-title">${t("control_panel")}</h2>
      <p class="muted">${t("control_view_only")}</p></aside>`;
  }
  const until = new Date(Date.now() + minutes * 60000);
  const actionText = action === "hold_pattern" ? `${t("act_hold_pattern")} ${patternValue}` : t(`act_${action}`);

  async function start() {
    setConfirming(false);
    setPending({ text: t("sent") });
    const body = { action, until: until.toISOString().replace(/\.\d+Z$/, "Z"), reason: reason.trim() };
    if (action === "hold_pattern") body.pattern = Number(patternValue);
    const r = await api(`/api/v1/intersections/${enc}/control`, { method: "POST", json: body });
    setPending(r.ok ? { text: t("held_by", { user: r.body.created_by, until: fmtDateTime(r.body.until, { seconds: false }) }), cls: "ok" }
                    : { text: `${t("failed")}: ${problemText(r)}`, cls: "bad" });
    reload();
  }

  async function release() {
    setPending({ text: t("sent") });
    const r = await api(`/api/v1/intersections/${enc}/control`, { method: "DELETE" });
    setPending(r.ok ? { text: t("succeeded"), cls: "ok" } : { text: `${t("failed")}: ${problemText(r)}`, cls: "bad" });
    reload();
  }

  async function resetConflict() {
    setPending({ text: t("sent"), kind: "reset" });
    const r = await api(`/api/v1/intersections/${enc}/reset-conflict`, { method: "POST", json: { reason: resetReason.trim() } });
    setPending(r.ok ? { text: t("pending"), kind: "reset", commandId: r.body.id }
                    : { text: `${t("failed")}: ${problemText(r)}`, cls: "bad", kind: "reset" });
  }

  const reasonOk = reason.trim().length >= 3;
  return html`<aside class="panel" aria-labelledby="ctl-title">
    <h2 id="ctl-title">${t("control_panel")}</h2>
    <p data-testid="control-state">${session
      ? t("held_by", { user: session.created_by, until: fmtDateTime(session.until, { seconds: false }) })
      : t("no_manual")}</p>
    ${conflict && html`<p class="warning" role="note" data-testid="conflict-note">${t("conflict_no_release")}</p>`}
    <fieldset disabled=${conflict}>
      <legend>${t("action")}</legend>
      ${["hold_pattern", "free", "flash"].map((a) => html`<label key=${a} class="radio">
        <input type="radio" name="action" value=${a} checked=${action === a} onChange=${() => setAction(a)} />${t(`act_${a}`)}</label>`)}
      ${action === "hold_pattern" && html`<label>${t("pattern")}
        ${patterns ? html`<select name="pattern" value=${patternValue} onChange=${(e) => setPattern(e.target.value)}>
            ${patterns.map((p) => html`<option key=${p} value=${String(p)}>${p}</option>`)}</select>`
          : html`<input name="pattern" type="number" min="1" max="253" value=${patternValue} onInput=${(e) => setPattern(e.target.value)} />`}
      </label>`}
      <label>${t("duration")}<select name="duration" value=${String(minutes)} onChange=${(e) => setMinutes(Number(e.target.value))}>
        ${DURATIONS_MIN.map((m) => html`<option key=${m} value=${String(m)}>${durationLabel(m)}</option>`)}</select></label>
      <label>${t("reason")}<input name="reason" value=${reason} onInput=${(e) => setReason(e.target.value)} maxLength="500" /></label>
      ${confirming
        ? html`<div class="confirm" role="group" aria-label=${t("confirm")}>
            <p>${t("confirm_control", { action: actionText, until: fmtDateTime(until, { seconds: false }) })}</p>
            <button type="button" class="primary" onClick=${start}>${t("confirm")}</button>
            <button type="button" onClick=${() => setConfirming(false)}>${t("cancel")}</button></div>`
        : html`<button type="button" class="primary" disabled=${!reasonOk} onClick=${() => setConfirming(true)}>${t("start_control")}</button>
            ${!reasonOk && html`<span class="muted small">${t("reason_needed")}</span>`}`}
    </fieldset>
    <div class="row">
      <button type="button" onClick=${release} disabled=${conflict}
        aria-describedby=${conflict ? "conflict-why" : undefined}>${t("release")}</button>
      ${conflict && html`<span id="conflict-why" class="muted small">${t("flash_conflict")}</span>`}
    </div>
    ${conflict && (can("intersections:write")
      ? html`<div class="reset">
          <label>${t("reason")}<input name="reset-reason" value=${resetReason} onInput=${(e) => setResetReason(e.target.value)} maxLength="500" /></label>
          <button type="button" class="danger" disabled=${resetReason.trim().length < 3} onClick=${resetConflict}>${t("reset_conflict")}</button>
        </div>`
      : html`<p class="muted">${t("reset_engineer_only")}</p>`)}
    <${CommandResult} pending=${pending} />
  </aside>`;
}
