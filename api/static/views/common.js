// Pieces every screen uses: loading / failed states of an API read, labels of modes, flash causes and alarms.
import { html, useState, useEffect, useCallback } from "../lib.js";
import { state } from "../store.js";
import { api } from "../session.js";
import { t, tMaybe } from "../i18n.js";

/** GET `path` (null: nothing yet): {data, error, loading, reload}. Re-fetches when `path` changes. */
export function useApi(path, { every = 0 } = {}) {
  const [res, setRes] = useState({ data: null, error: null, loading: !!path });
  const load = useCallback(async () => {
    if (!path) return;
    const r = await api(path);
    if (r.ok) setRes({ data: r.body, error: null, loading: false });
    else if (r.status !== 401) setRes((old) => ({ data: old.data, error: problemText(r), loading: false }));
  }, [path]);
  useEffect(() => {
    setRes((old) => ({ ...old, loading: true }));
    load();
    if (!every) return undefined;
    const timer = setInterval(load, every);
    return () => clearInterval(timer);
  }, [load, every]);
  return { ...res, reload: load };
}

/** A one-line reason from an API answer. */
export function problemText(r) {
  if (r.status === 0) return t("network_error");
  const p = r.problem || {};
  return p.detail || p.title || `HTTP ${r.status}`;
}

export function Loading({ res, children }) {
  if (res.error && !res.data) return html`<p class="error" role="alert">${t("failed_load", { reason: res.error })}
    <button type="button" onClick=${res.reload}>${t("retry")}</button></p>`;
  if (!res.data) return html`<p class="muted" role="status">${t("loading")}</p>`;
  return html`${res.error && html`<p class="error" role="alert">${t("failed_load", { reason: res.error })}</p>`}${children}`;
}

/** Mode of a controller in words; a flash always names its cause (a conflict flash is not "flash 30 min"). */
export function modeText(values) {
  if (!values || !values.mode) return t("mode_unknown");
  if (values.mode === "flash") return tMaybe(`flash_${values.flash_cause || "none"}`) || t("flash_none");
  return tMaybe(`mode_${values.mode}`) || values.mode;
}

export function alarmLabel(alarm) {
  if (alarm.label) return state.lang === "vi" ? alarm.label.vi : alarm.label.en;
  return alarm.kind;
}

export function CommBadge({ dev }) {
  const status = dev ? dev.status : "unknown";
  const reason = dev && status === "offline" && dev.status_reason ? tMaybe(dev.status_reason) : null;
  return html`<span class=${`badge badge-${status}`}>${tMaybe(status) || status}${reason ? ` · ${reason}` : ""}</span>`;
}

export const signalValues = (dev) => (dev && dev.state && dev.state.values) || null;
