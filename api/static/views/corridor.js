// The corridor preview (#/corridor, engineers): 2–5 intersections with a twin geometry, in order along the road,
// each with the plan version to try (newest by default); between neighbours the legs that join them and the
// distance (prefilled from the registry's coordinates: haversine distance, each end's leg the one pointing at the
// other, within 45°; else the engineer picks). Runs POST /api/v1/corridors/preview, follows the job by the stream's
// `preview` events (slowly polled only while the stream is down), then per intersection the candidate against the
// running plan, through movements first with their arrivals on green marked: the platoon an offset is meant to catch.
// The hash carries the job and the whole form (members and versions in order, links, start, duration, seeds), so a
// shared or reloaded link refills the form and shows the result.
import { html, useState, useEffect } from "../lib.js";
import { api } from "../session.js";
import { t, fmtNum } from "../i18n.js";
import { distanceM } from "../geo.js";
import { useApi, Loading } from "./common.js";
import { ACTIVE, Cards, JobStatus, PreviewError, figuresOf, previewError, todayAt, useFollowedJob } from "./preview_cards.js";

const MAX = 5;
const DURATIONS = [10, 15, 30, 60];
const SEEDS = [1, 3, 5];
const hasPlace = (i) => i && Number.isFinite(i.lat) && Number.isFinite(i.lon);

/** Initial compass bearing (degrees) from a to b. */
function bearing(a, b) {
  const r = Math.PI / 180;
  const y = Math.sin((b.lon - a.lon) * r) * Math.cos(b.lat * r);
  const x = Math.cos(a.lat * r) * Math.sin(b.lat * r) - Math.sin(a.lat * r) * Math.cos(b.lat * r) * Math.cos((b.lon - a.lon) * r);
  return (Math.atan2(y, x) / r + 360) % 360;
}

/** The leg of `geometry` pointing within 45° of `deg`, else "". */
function legToward(geometry, deg) {
  let best = "", off = 45.0001;
  for (const a of geometry.approaches) {
    const d = Math.abs(((a.bearing_deg - deg + 540) % 360) - 180);
    if (d < off) { best = a.leg; off = d; }
  }
  return best;
}

/** A link between neighbours a and b prefilled from their coordinates (or left to the engineer). */
function guessLink(a, b, geoA, geoB) {
  if (!hasPlace(a) || !hasPlace(b)) return { from_leg: "", to_leg: "", distance_m: "" };
  const m = Math.min(5000, Math.max(30, Math.round(distanceM(a, b) / 10) * 10));
  return { from_leg: legToward(geoA, bearing(a, b)), to_leg: legToward(geoB, bearing(b, a)), distance_m: String(m) };
}

/** Every intersection's geometry (null: none stored) and plan versions, read once each. */
function useMembers(list) {
  const [info, setInfo] = useState({});
  const ids = (list || []).map((i) => i.id).join(",");
  useEffect(() => {
    if (!ids) return undefined;
    let live = true;
    (async () => {
      const out = {};
      for (const id of ids.split(",")) {
        const enc = encodeURIComponent(id);
        const g = await api(`/api/v1/intersections/${enc}/geometry`);
        const p = g.ok ? await api(`/api/v1/intersections/${enc}/plans`) : null;
        out[id] = { geometry: g.ok ? g.body : null, versions: p && p.ok ? p.body.versions.map((v) => v.version) : [] };
      }
      if (live) setInfo(out);
    })();
    return () => { live = false; };
  }, [ids]);
  return info;
}

/** The form a corridor link carries: `v` members in order as id:version, `l` each link as from_leg:to_leg:metres,
 * `start` (datetime-local), `d` minutes, `s` seeds. What is missing or malformed is left at the form's default. */
function formOf(query) {
  const chosen = (query.get("v") || "").split(",").filter(Boolean).map((p) => {
    const at = p.lastIndexOf(":");
    return { id: p.slice(0, at), version: Number(p.slice(at + 1)) };
  }).filter((c) => c.id && Number.isInteger(c.version) && c.version > 0);
  const links = {};
  (query.get("l") || "").split(",").forEach((p, k) => {
    const [from_leg, to_leg, distance_m] = p.split(":");
    if (chosen[k + 1] && from_leg && to_leg && distance_m) links[`${chosen[k].id}>${chosen[k + 1].id}`] = { from_leg, to_leg, distance_m };
  });
  const start = /^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(query.get("start") || "") ? query.get("start") : null;
  const duration = DURATIONS.includes(Number(query.get("d"))) ? Number(query.get("d")) : null;
  const seeds = SEEDS.includes(Number(query.get("s"))) ? Number(query.get("s")) : null;
  return { chosen, links, start, duration, seeds };
}

function LinkRow({ a, b, geoA, geoB, link, onChange }) {
  const set = (k) => (e) => onChange({ ...link, [k]: e.target.value });
  const legs = (g) => g.approaches.map((x) => html`<option key=${x.leg} value=${x.leg}>${x.leg} (${fmtNum(x.bearing_deg, 0)}°)</option>`);
  return html`<fieldset class="cor-link" data-testid="corridor-link">
    <legend>${t("cor_link", { a: a.name, b: b.name })}</legend>
    <label>${t("cor_from_leg", { name: a.id })}<select value=${link.from_leg} onChange=${set("from_leg")} required>
      <option value="">—</option>${legs(geoA)}</select></label>
    <label>${t("cor_to_leg", { name: b.id })}<select value=${link.to_leg} onChange=${set("to_leg")} required>
      <option value="">—</option>${legs(geoB)}</select></label>
    <label>${t("cor_distance")}<input type="number" inputmode="numeric" min="30" max="5000" step="1" required
      value=${link.distance_m} onInput=${set("distance_m")} /></label>
    ${!hasPlace(a) || !hasPlace(b) ? html`<p class="small muted">${t("cor_no_place")}</p>` : ""}
  </fieldset>`;
}

function Result({ job, byId, versions }) {
  const [view, setView] = useState("through");
  const res = job.result;
  const members = (job.request && job.request.intersections) || [];
  return html`<div class="pv-result" data-testid="corridor-result">
    <p class="small">${t("pv_meta", { duration: fmtNum(res.duration_s / 60, 0), n: res.seeds.length,
      sumo: res.sumo_version, speed: fmtNum(res.simulated_s_per_wall_s, 0) })}</p>
    <p class="small">${t("cor_aog_note")}</p>
    <div class="toolbar" role="group" aria-label=${t("pv_show")}>
      ${["through", "approach", "movement"].map((v) => html`<button type="button" key=${v} aria-pressed=${view === v ? "true" : "false"}
        onClick=${() => setView(v)}>${t(v === "through" ? "cor_by_through" : `pv_by_${v}`)}</button>`)}
    </div>
    ${members.map((m) => {
      const { candidate, running } = figuresOf(res, m.intersection_id);
      const source = (job.demand_sources || {})[m.intersection_id] || "default";
      return html`<section key=${m.intersection_id} class="cor-member" data-testid="corridor-member" data-id=${m.intersection_id}>
        <h2>${(byId[m.intersection_id] || {}).name || m.intersection_id} <span class="muted small">${m.intersection_id}</span></h2>
        <p class="small muted">${t(`pv_demand_${source}`)}</p>
        ${candidate ? html`<${Cards} cand=${candidate} run=${running || null} view=${view} version=${versions[m.intersection_id] || "?"}
          highlight=${(r) => (r.movement === "through" ? ["arrivals_on_green"] : [])} />` : html`<p class="muted">—</p>`}
      </section>`;
    })}
  </div>`;
}

export function CorridorPage({ query }) {
  const list = useApi("/api/v1/intersections");
  const info = useMembers(list.data);
  const byId = Object.fromEntries((list.data || []).map((i) => [i.id, i]));
  const shared = formOf(query);
  const [picked, setChosen] = useState(shared.chosen);  // [{id, version}]
  const [links, setLinks] = useState(shared.links);     // "a>b" → {from_leg, to_leg, distance_m}
  const [adding, setAdding] = useState("");
  const [start, setStart] = useState(shared.start || todayAt("07:00"));
  const [duration, setDuration] = useState(shared.duration || 15);
  const [seeds, setSeeds] = useState(shared.seeds || 3);
  useEffect(() => {  // another shared link opened on this page: its form
    if (!shared.chosen.length) return;
    setChosen(shared.chosen); setLinks(shared.links);
    if (shared.start) setStart(shared.start);
    if (shared.duration) setDuration(shared.duration);
    if (shared.seeds) setSeeds(shared.seeds);
  }, [query.toString()]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const jobId = query.get("job");
  // the candidates' versions ride in the hash beside the job (the job's request holds plans, not version numbers)
  const versions = Object.fromEntries((query.get("v") || "").split(",").filter(Boolean).map((p) => {
    const at = p.lastIndexOf(":");
    return [p.slice(0, at), p.slice(at + 1)];
  }));
  const [dropped, setDropped] = useState(null);  // the job of the link, taken off the screen by a refused run
  const job = useFollowedJob(jobId && jobId !== dropped ? jobId : null);
  const request = job && job.request && job.request.links ? job.request : null;
  useEffect(() => {  // a link carrying only the job and the versions: the rest of the form from the job's request
    if (!request || query.get("l")) return;
    setLinks(Object.fromEntries(request.links.map((l) => [`${l.from_id}>${l.to_id}`,
      { from_leg: l.from_leg, to_leg: l.to_leg, distance_m: String(l.distance_m) }])));
    if (DURATIONS.includes(request.duration_s / 60)) setDuration(request.duration_s / 60);
    if (SEEDS.includes(request.seeds.length)) setSeeds(request.seeds.length);
  }, [request && job.id]);
  const loaded = list.data && Object.keys(info).length === list.data.length;
  // a link may name an intersection since removed or without a geometry: it is left out
  const chosen = loaded ? picked.filter((c) => byId[c.id] && info[c.id] && info[c.id].geometry) : [];
  const pickable = (list.data || []).filter((i) => info[i.id] && info[i.id].geometry && info[i.id].versions.length
    && !chosen.some((c) => c.id === i.id));
  const pairs = chosen.slice(1).map((c, k) => [chosen[k].id, c.id]);
  const linkOf = ([a, b]) => links[`${a}>${b}`] || guessLink(byId[a], byId[b], info[a].geometry, info[b].geometry);

  function add() {
    const id = adding || (pickable[0] && pickable[0].id);
    if (!id || chosen.length >= MAX) return;
    setChosen([...chosen, { id, version: info[id].versions[0] }]);
    setAdding("");
  }
  // The picker sits in a stable wrapper (.cor-add): without it the re-render inside the Add click (the last pick
  // empties the picker) could morph the Add button into Run before the click's default action, and submit.
  const move = (k, d) => { const c = [...chosen]; [c[k], c[k + d]] = [c[k + d], c[k]]; setChosen(c); };

  async function run(ev) {
    ev.preventDefault();
    setBusy(true); setError(null);
    const body = { start: `${start}:00`, duration_s: duration * 60, seeds: Array.from({ length: seeds }, (_, i) => i + 1),
      intersections: chosen.map((c) => ({ intersection_id: c.id, version: c.version })),
      links: pairs.map((p) => { const l = linkOf(p); return { from_id: p[0], from_leg: l.from_leg, to_id: p[1], to_leg: l.to_leg, distance_m: Number(l.distance_m) }; }) };
    const r = await api("/api/v1/corridors/preview", { method: "POST", json: body });
    setBusy(false);
    if (r.ok) {
      const q = new URLSearchParams({ job: r.body.id, v: chosen.map((c) => `${c.id}:${c.version}`).join(","),
        l: body.links.map((l) => `${l.from_leg}:${l.to_leg}:${l.distance_m}`).join(","), start, d: String(duration), s: String(seeds) });
      location.hash = `#/corridor?${q}`;
    } else {
      // a refused run leaves no earlier result on screen, where it could be read as this run's answer
      setDropped(jobId);
      setError(previewError(r));
    }
  }

  const running = busy || !!(job && ACTIVE.has(job.state));
  return html`<section aria-labelledby="cor-title" class="corridor">
    <div class="title-row"><a href="#/">← ${t("nav_intersections")}</a><h1 id="cor-title">${t("cor_title")}</h1></div>
    <p class="small muted">${t("cor_intro")}</p>
    <${Loading} res=${list}>
      ${!loaded ? html`<p role="status" class="muted" data-testid="corridor-loading">${t("cor_loading")}</p>` : html`
      <form onSubmit=${run} data-testid="corridor-form">
        <ol class="cor-members">${chosen.map((c, k) => html`<li key=${c.id} data-id=${c.id}>
          ${k > 0 && html`<${LinkRow} a=${byId[chosen[k - 1].id]} b=${byId[c.id]} geoA=${info[chosen[k - 1].id].geometry}
            geoB=${info[c.id].geometry} link=${linkOf(pairs[k - 1])} onChange=${(l) => setLinks({ ...links, [`${chosen[k - 1].id}>${c.id}`]: l })} />`}
          <div class="cor-member-row"><strong>${k + 1}. ${byId[c.id].name}</strong> <span class="muted small">${c.id}</span>
            <label>${t("cor_version")}<select value=${String(c.version)} onChange=${(e) => setChosen(chosen.map((x) => x.id === c.id ? { ...x, version: Number(e.target.value) } : x))}>
              ${info[c.id].versions.map((v, n) => html`<option key=${v} value=${String(v)}>${v}${n === 0 ? ` (${t("cor_newest")})` : ""}</option>`)}</select></label>
            <button type="button" disabled=${k === 0} onClick=${() => move(k, -1)} aria-label=${t("cor_up", { name: c.id })}>↑</button>
            <button type="button" disabled=${k === chosen.length - 1} onClick=${() => move(k, 1)} aria-label=${t("cor_down", { name: c.id })}>↓</button>
            <button type="button" onClick=${() => setChosen(chosen.filter((x) => x.id !== c.id))} aria-label=${t("cor_remove", { name: c.id })}>✕</button>
          </div></li>`)}</ol>
        <div class="cor-add">${chosen.length < MAX && (pickable.length ? html`<div class="toolbar">
          <label class="grow">${t("cor_pick")}<select value=${adding || pickable[0].id} onChange=${(e) => setAdding(e.target.value)}>
            ${pickable.map((i) => html`<option key=${i.id} value=${i.id}>${i.name} (${i.id})</option>`)}</select></label>
          <button type="button" onClick=${add}>${t("cor_add")}</button></div>`
          : html`<p class="muted small" data-testid="corridor-none">${t("cor_none_left")}</p>`)}</div>
        <div class="toolbar">
          <label>${t("pv_start")}<input type="datetime-local" value=${start} step="900" required onInput=${(e) => setStart(e.target.value)} /></label>
          <label>${t("pv_duration")}<select value=${String(duration)} onChange=${(e) => setDuration(Number(e.target.value))}>
            ${DURATIONS.map((n) => html`<option key=${n} value=${String(n)}>${t("pv_min", { n })}</option>`)}</select></label>
          <label>${t("pv_seeds")}<select value=${String(seeds)} onChange=${(e) => setSeeds(Number(e.target.value))}>
            ${SEEDS.map((n) => html`<option key=${n} value=${String(n)}>${n}</option>`)}</select></label>
          <button type="submit" class="primary" disabled=${running || chosen.length < 2}>${t("cor_run")}</button>
        </div>
        ${chosen.length < 2 ? html`<p class="small muted">${t("cor_need_two")}</p>` : ""}
      </form>`}
    <//>
    ${error && html`<${PreviewError} error=${error} />`}
    ${job && html`<${JobStatus} job=${job} />`}
    ${job && job.state === "done" && job.result && html`<${Result} job=${job} byId=${byId} versions=${versions} />`}
  </section>`;
}
