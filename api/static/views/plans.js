// Timing plans of one intersection: versions (author, comment, created, which runs), deploy history, a
// side-by-side diff of two versions, export / import JSON, and deploy: a confirmation showing the diff against what
// runs now, then the stages live (stream `deployment` events, polled too) to "active" or "rolled back" and why.
import { html, useState, useEffect } from "../lib.js";
import { state, can, changed } from "../store.js";
import { api } from "../session.js";
import { t, fmtDateTime, fmtNum, tMaybe } from "../i18n.js";
import { useApi, Loading, problemText } from "./common.js";
import { PreviewPanel } from "./plan_preview.js";

const STAGES = ["validate", "transferring", "verifying", "activating", "active"];
const ORDER = { pending: 1, transferring: 1, verifying: 2, activating: 3, active: 5 };
const FINAL = new Set(["active", "rolled_back", "failed"]);

const show = (v) => (v === undefined ? "" : typeof v === "number" ? fmtNum(v, 3) : typeof v === "object" ? JSON.stringify(v) : String(v));

export function DiffTable({ changes, from, to }) {
  if (!changes.length) return html`<p class="muted">${t("no_changes")}</p>`;
  return html`<table class="diff" data-testid="diff">
    <thead><tr><th scope="col">${t("field")}</th><th scope="col">${t("version")} ${from}</th><th scope="col">${t("version")} ${to}</th></tr></thead>
    <tbody>${changes.map((c) => html`<tr key=${c.path} class=${`chg-${c.kind}`}>
      <th scope="row"><code>${c.path}</code> <span class="muted small">${tMaybe(`change_${c.kind}`) || c.kind}</span></th>
      <td class="old">${show(c.old)}</td><td class="new">${show(c.new)}</td></tr>`)}</tbody>
  </table>`;
}

export function DeployProgress({ dep }) {
  const reached = FINAL.has(dep.status) && dep.status !== "active" ? -1 : ORDER[dep.status] ?? 0;
  const failed = dep.status === "rolled_back" || dep.status === "failed";
  return html`<section class="deploy-progress" aria-live="polite" data-testid="deploy-progress" data-status=${dep.status}>
    <h3>${t("deploy_progress", { v: dep.version })}</h3>
    <ol class="stages">${STAGES.map((s, i) => {
      // the API validated the plan before sending it: that stage is passed whatever came after
      const done = i === 0 || (!failed && (i < reached || (s === "active" && dep.status === "active")));
      const current = !failed && !FINAL.has(dep.status) && i === reached;
      return html`<li key=${s} class=${done ? "done" : current ? "current" : ""}>${done ? "✓ " : current ? "… " : ""}${t(`stage_${s === "validate" ? "validate" : s}`)}</li>`;
    })}</ol>
    <p class=${`outcome ${failed ? "bad" : dep.status === "active" ? "ok" : ""}`} data-testid="deploy-outcome">
      <strong>${t(`stage_${dep.status}`)}</strong>${dep.message || dep.error ? html` — ${t("deploy_reason", { reason: `${dep.error || ""}${dep.message ? `: ${dep.message}` : ""}` })}` : ""}
    </p>
  </section>`;
}

function useDeployment(id) {
  const [dep, setDep] = useState(null);
  useEffect(() => {
    if (!id) return undefined;
    let live = true;
    async function poll() {
      const r = await api(`/api/v1/deployments/${encodeURIComponent(id)}`);
      if (live && r.ok) { state.deployments.set(id, r.body); changed(); }
    }
    poll();
    const timer = setInterval(poll, 2000);
    return () => { live = false; clearInterval(timer); };
  }, [id]);
  const latest = id ? state.deployments.get(id) : null;
  useEffect(() => { if (latest) setDep(latest); });
  return latest || dep;
}

function DeployDialog({ inter, version, active, onDone }) {
  const diff = useApi(active && active !== version ? `/api/v1/intersections/${inter}/plans/diff?from=${active}&to=${version}` : null);
  const [error, setError] = useState(null);
  async function go() {
    const r = await api(`/api/v1/intersections/${inter}/plans/${version}/deploy`, { method: "POST" });
    if (r.ok) onDone(r.body.id); else setError(problemText(r));
  }
  return html`<div class="dialog" role="dialog" aria-modal="false" aria-labelledby="deploy-title">
    <h3 id="deploy-title">${t("deploy_confirm_title", { v: version })}</h3>
    ${active ? html`<p>${t("deploy_diff", { v: active })}</p>
      ${active === version ? html`<p class="muted">${t("no_changes")}</p>` : html`<${Loading} res=${diff}>${diff.data && html`<${DiffTable} changes=${diff.data.changes} from=${active} to=${version} />`}<//>`}`
      : html`<p>${t("deploy_first", { v: version })}</p>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="row"><button type="button" class="primary" onClick=${go}>${t("deploy")}</button>
      <button type="button" onClick=${() => onDone(null)}>${t("cancel")}</button></div>
  </div>`;
}

async function exportVersion(inter, v) {
  const r = await api(`/api/v1/intersections/${inter}/plans/${v}/export`, { raw: true });
  if (!r.ok) return;
  const url = URL.createObjectURL(r.body);
  const a = document.createElement("a");
  a.href = url; a.download = `${decodeURIComponent(inter)}-v${v}.json`;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function PlansPage({ id, query }) {
  const enc = encodeURIComponent(id);
  const list = useApi(`/api/v1/intersections/${enc}/plans`);
  const deploys = useApi(`/api/v1/intersections/${enc}/deployments`, { every: 10000 });
  const [deployOf, setDeployOf] = useState(null);
  const [previewOf, setPreviewOf] = useState(null);
  const [following, setFollowing] = useState(query.get("deployment"));
  const [a, setA] = useState(""), [b, setB] = useState("");
  const [importError, setImportError] = useState(null);
  const dep = useDeployment(following);
  const versions = (list.data && list.data.versions) || [];
  const active = list.data && list.data.active_version;
  const from = a || (versions[1] ? String(versions[1].version) : "");
  const to = b || (versions[0] ? String(versions[0].version) : "");
  const diff = useApi(from && to && from !== to ? `/api/v1/intersections/${enc}/plans/diff?from=${from}&to=${to}` : null);
  const mayWrite = can("plans:write");
  useEffect(() => { if (dep && FINAL.has(dep.status)) { list.reload(); deploys.reload(); } }, [dep && dep.status]);

  async function onImport(ev) {
    const file = ev.target.files[0];
    if (!file) return;
    try {
      const plan = JSON.parse(await file.text());
      sessionStorage.setItem("sl.import", JSON.stringify(plan));
      location.hash = `#/i/${enc}/plans/edit?from=import`;
    } catch (e) {
      setImportError(t("bad_json", { reason: e.message }));
    }
  }

  return html`<section aria-labelledby="plans-title">
    <div class="title-row">
      <a href=${`#/i/${enc}`}>← ${id}</a>
      <h1 id="plans-title">${t("plans")}</h1>
      <span class="spacer"></span>
      ${mayWrite && html`<a class="button" href=${`#/i/${enc}/plans/edit${versions[0] ? `?from=${versions[0].version}` : ""}`}>${versions[0] ? t("edit_copy") : t("new_from_example")}</a>
        <a class="button" href="#/corridor">${t("cor_title")}</a>
        <label class="button file">${t("import")}<input type="file" accept="application/json,.json" onChange=${onImport} /></label>`}
    </div>
    ${importError && html`<p class="error" role="alert">${importError}</p>`}
    ${dep && html`<${DeployProgress} dep=${dep} />`}
    ${previewOf && html`<${PreviewPanel} key=${previewOf} inter=${enc} version=${previewOf} onClose=${() => setPreviewOf(null)}
        onDeploy=${dep && !FINAL.has(dep.status) ? null : () => { setPreviewOf(null); setDeployOf(previewOf); }} />`}
    ${deployOf && html`<${DeployDialog} inter=${enc} version=${deployOf} active=${active}
        onDone=${(depId) => { setDeployOf(null); if (depId) setFollowing(depId); }} />`}
    <${Loading} res=${list}>
      <h2>${t("versions")}</h2>
      ${versions.length === 0 ? html`<p class="muted">${t("no_versions")}</p>` : html`<table class="grid-table" data-testid="versions">
        <thead><tr><th scope="col">${t("version")}</th><th scope="col">${t("author")}</th><th scope="col">${t("created")}</th>
          <th scope="col">${t("comment")}</th><th scope="col">${t("status")}</th><th scope="col"><span class="sr-only">${t("action")}</span></th></tr></thead>
        <tbody>${versions.map((v) => html`<tr key=${v.version} data-version=${v.version}>
          <th scope="row">${v.version}</th><td>${v.author}</td><td>${fmtDateTime(v.created_at, { seconds: false })}</td>
          <td>${v.comment || t("none")}</td><td>${v.version === active ? html`<span class="badge badge-online">${t("active_version")}</span>` : ""}</td>
          <td class="row">
            ${mayWrite && html`<a class="button" href=${`#/i/${enc}/plans/edit?from=${v.version}`}>${t("open")}</a>`}
            <button type="button" onClick=${() => exportVersion(enc, v.version)}>${t("export")}</button>
            ${mayWrite && html`<button type="button" onClick=${() => { setDeployOf(null); setPreviewOf(v.version); }}>${t("pv_preview")}</button>`}
            ${mayWrite && html`<button type="button" class="primary" onClick=${() => setDeployOf(v.version)}
              disabled=${!!(dep && !FINAL.has(dep.status))}>${t("deploy")}</button>`}
          </td></tr>`)}</tbody></table>`}
      ${versions.length > 1 && html`<h2>${t("diff")}</h2>
        <div class="toolbar">
          <label>${t("diff_from")}<select value=${from} onChange=${(e) => setA(e.target.value)}>${versions.map((v) => html`<option key=${v.version} value=${String(v.version)}>${v.version}</option>`)}</select></label>
          <label>${t("diff_to")}<select value=${to} onChange=${(e) => setB(e.target.value)}>${versions.map((v) => html`<option key=${v.version} value=${String(v.version)}>${v.version}</option>`)}</select></label>
        </div>
        ${diff.data && html`<${DiffTable} changes=${diff.data.changes} from=${from} to=${to} />`}`}
    <//>
    <h2>${t("deploy_history")}</h2>
    <${Loading} res=${deploys}>${deploys.data && (deploys.data.length === 0 ? html`<p class="muted">${t("none")}</p>` : html`
      <table class="grid-table" data-testid="deployments"><thead><tr><th scope="col">${t("version")}</th><th scope="col">${t("status")}</th>
        <th scope="col">${t("author")}</th><th scope="col">${t("created")}</th><th scope="col">${t("detail")}</th></tr></thead>
      <tbody>${deploys.data.map((d) => html`<tr key=${d.id}><td>${d.version}</td><td>${t(d.status === "active" ? "activated" : `stage_${d.status}`)}</td><td>${d.requested_by}</td>
        <td>${fmtDateTime(d.created_at, { seconds: false })}</td><td>${d.error ? `${d.error}: ${d.message || ""}` : t("none")}</td></tr>`)}</tbody></table>`)}<//>
  </section>`;
}
