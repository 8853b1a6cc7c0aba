// A circuit's luminaires for the crew: how many are out (estimated from the circuit's current, the cabinet meters
// circuits, not luminaires), their lamp life (hours burnt since the last relamping against the rated life), and
// "relamped" with a reason: the center restarts the circuit's lamp life from now (audited). Not queued offline: a
// relamping is recorded once, with its answer shown (sending, recorded, failed with the reason and a retry).
import { html, useState } from "../lib.js";
import { can } from "../store.js";
import { t, fmtNum, fmtDateTime } from "../i18n.js";
import { api } from "../session.js";
import { problemText } from "./common.js";
import "../i18n/crew.js";

const RELAMP_REASONS = ["end_of_life", "failed_lamps", "upgrade", "vandalism"];

/** "3 of 20 out" / "all 20 working" / the count alone when the current cannot tell (off, dimmed low). */
export function luminairesText(c) {
  if (c.luminaires === null || c.luminaires === undefined) return t("none");
  if (c.luminaires_out === null || c.luminaires_out === undefined) return t("luminaires_n", { n: c.luminaires });
  return c.luminaires_out > 0 ? t("luminaires_out", { out: c.luminaires_out, n: c.luminaires })
    : t("luminaires_all_ok", { n: c.luminaires });
}

function lifeText(life) {
  if (!life || life.burning_h === null || life.burning_h === undefined) return t("none");
  const burnt = t("hours_burnt", { h: fmtNum(life.burning_h, 0) });
  return life.rated_life_h ? `${burnt} / ${fmtNum(life.rated_life_h, 0)} h (${fmtNum(life.used_pct, 0)} %)` : burnt;
}

export function LampLife({ id, circuit, life, onDone }) {
  const [why, setWhy] = useState("end_of_life");
  const [st, setSt] = useState(null);   // {status: sending | done | failed, text}
  const send = async () => {
    setSt({ status: "sending" });
    const r = await api(`/api/v1/lighting/cabinets/${encodeURIComponent(id)}/circuits/${circuit}/relamp`,
      { method: "POST", json: { reason: t(`relamp_${why}`) }, timeoutMs: 15000 });
    if (r.ok) { setSt({ status: "done", text: fmtDateTime(new Date(r.body.relamped_on), { seconds: false }) }); if (onDone) onDone(); }
    else setSt({ status: "failed", text: problemText(r) });
  };
  return html`<div class="lamp-life" data-testid="lamp-life">
    <p class="small">${t("lamp_life")}: <span data-testid="lamp-life-hours">${lifeText(life)}</span>${life && life.relamped_on
      ? html` · ${t("relamped_on", { date: fmtDateTime(life.relamped_on, { seconds: false }) })}` : ""}</p>
    ${can("command:cabinet") && html`<details class="relamp">
      <summary>${t("relamp")}</summary>
      <label>${t("reason")}<select value=${why} onChange=${(ev) => setWhy(ev.target.value)} data-testid="relamp-reason">
        ${RELAMP_REASONS.map((r) => html`<option key=${r} value=${r}>${t(`relamp_${r}`)}</option>`)}</select></label>
      <button type="button" onClick=${send} disabled=${st && st.status === "sending"} data-testid="relamp">${t("relamp_confirm")}</button>
      ${st && html`<p class=${`small ${st.status === "failed" ? "error" : ""}`} role="status" data-testid="relamp-status"
        data-status=${st.status}>${st.status === "sending" ? t("relamp_sending")
          : st.status === "done" ? t("relamp_done", { when: st.text }) : t("relamp_failed", { reason: st.text })}
        ${st.status === "failed" && html` <button type="button" onClick=${send}>${t("retry")}</button>`}</p>`}
    </details>`}
  </div>`;
}
