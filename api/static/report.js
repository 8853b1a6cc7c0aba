// The citizens' report page (`/report`): no account, phone first, Vietnamese by default. Where (the phone's
// location, or coordinates typed in), what (a category), a few words and an optional photo; the answer is a
// reference to look the report up later (the lookup shows the status only). It talks only to /api/v1/public/….
import { html, render, useState, useEffect } from "./lib.js";
import { state, changed, subscribe } from "./store.js";
import { t, fmtNum } from "./i18n.js";
import { MapView, uiConfig } from "./map.js";
import "./i18n/citizen_report.js";
import "./i18n/work_orders.js";

const CATEGORIES = ["dark_street", "broken_lamp", "day_burning", "damaged_pole", "other"];
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
const PHOTO_MAX_BYTES = 5_000_000;
const FIELD_WORDS = { "body.lat": "rp_lat", "body.lon": "rp_lon", "body.category": "rp_what", "body.text": "rp_text" };

/** A decimal typed the Vietnamese way ("21,5942") or the English way; NaN when it is not a finite number. */
const parseCoord = (s) => (/^\s*-?\d+([.,]\d+)?\s*$/.test(s) ? Number(s.replace(",", ".")) : NaN);

async function call(path, options = {}) {
  try {
    const r = await fetch(path, options);
    const body = await r.json().catch(() => null);
    return { ok: r.ok, status: r.status, body, retry: r.headers.get("Retry-After") };
  } catch {
    return { ok: false, status: 0, body: null };
  }
}

function problemWords(r) {
  if (r.status === 0) return t("network_error");
  const p = r.body || {};
  if (p.message) return state.lang === "vi" ? p.message.vi : p.message.en;
  if (p.errors && p.errors.length) return t("rp_bad_field", { field: t(FIELD_WORDS[p.errors[0].path] || "rp_what") });
  return p.detail || `HTTP ${r.status}`;
}

function Lookup({ initial }) {
  const [ref, setRef] = useState(initial || "");
  const [out, setOut] = useState(null);
  async function check(ev) {
    ev.preventDefault();
    const value = ref.trim().toUpperCase();
    if (!/^PA-[2-9A-Z]{8}$/.test(value)) { setOut({ bad: true, text: t("rp_not_found") }); return; }
    const r = await call(`/api/v1/public/reports/${encodeURIComponent(value)}`);
    if (r.ok) setOut({ bad: false, text: t("rp_status", { status: state.lang === "vi" ? r.body.status_label.vi : r.body.status_label.en }) });
    else setOut({ bad: true, text: r.status === 404 ? t("rp_not_found") : problemWords(r) });
  }
  return html`<form class="panel" onSubmit=${check} aria-labelledby="rp-lookup">
    <h2 id="rp-lookup">${t("rp_lookup")}</h2>
    <label>${t("rp_reference")}<input value=${ref} maxLength="11" autocapitalize="characters" placeholder="PA-XXXXXXXX"
      onInput=${(e) => setRef(e.target.value)} data-testid="rp-ref-input" /></label>
    <button type="submit">${t("rp_check")}</button>
    <p class=${out && out.bad ? "error" : "result ok"} role="status" data-testid="rp-status">${out ? out.text : ""}</p>
  </form>`;
}

function ReportForm({ onSent }) {
  const [lat, setLat] = useState(""), [lon, setLon] = useState("");
  const [accuracy, setAccuracy] = useState(null);
  const [where, setWhere] = useState(null);
  const [category, setCategory] = useState("");
  const [text, setText] = useState("");
  const [photo, setPhoto] = useState(null);
  const [msg, setMsg] = useState(null);
  const [busy, setBusy] = useState(false);
  const [tiles, setTiles] = useState(false);
  useEffect(() => { uiConfig().then((c) => setTiles(!!c.map_tile_url)); }, []);

  function locate() {
    if (!navigator.geolocation) { setWhere(t("rp_no_location")); return; }
    setWhere(t("rp_locating"));
    navigator.geolocation.getCurrentPosition((pos) => {
      setLat(pos.coords.latitude.toFixed(6).replace(".", state.lang === "vi" ? "," : "."));
      setLon(pos.coords.longitude.toFixed(6).replace(".", state.lang === "vi" ? "," : "."));
      setAccuracy(pos.coords.accuracy);
      setWhere(t("rp_located", { m: fmtNum(pos.coords.accuracy) }));
      setMsg(null);
    }, () => setWhere(t("rp_no_location")), { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  function pickPhoto(ev) {
    const file = ev.target.files && ev.target.files[0];
    setMsg(null);
    if (!file) { setPhoto(null); return; }
    if (!PHOTO_TYPES.includes(file.type)) { ev.target.value = ""; setPhoto(null); setMsg({ bad: true, text: t("wo_photo_type") }); return; }
    if (file.size > PHOTO_MAX_BYTES) {
      ev.target.value = ""; setPhoto(null);
      setMsg({ bad: true, text: t("wo_photo_too_big", { mb: fmtNum(PHOTO_MAX_BYTES / 1e6) }) });
      return;
    }
    setPhoto(file);
  }
  async function submit(ev) {
    ev.preventDefault();
    const la = parseCoord(lat), lo = parseCoord(lon);
    if (!Number.isFinite(la) || !Number.isFinite(lo)) { setMsg({ bad: true, text: t("rp_need_location") }); return; }
    if (!category) { setMsg({ bad: true, text: t("rp_need_category") }); return; }
    setBusy(true); setMsg({ bad: false, text: t("rp_sending") });
    const body = { lat: la, lon: lo, category, text: text.trim(), ...(accuracy != null ? { accuracy_m: Math.min(accuracy, 100000) } : {}) };
    const r = await call("/api/v1/public/reports", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!r.ok) { setBusy(false); setMsg({ bad: true, text: problemWords(r) }); return; }
    let photoNote = null;
    if (photo) {
      const p = await call(r.body.photo_href, { method: "PUT", headers: { "Content-Type": photo.type }, body: photo });
      photoNote = p.ok ? { bad: false, text: t("rp_photo_sent") } : { bad: true, text: t("rp_photo_failed", { reason: problemWords(p) }) };
    }
    setBusy(false);
    onSent(r.body, photoNote);
  }
  const la = parseCoord(lat), lo = parseCoord(lon);
  return html`<form class="panel" onSubmit=${submit} aria-labelledby="rp-form" novalidate>
    <h2 id="rp-form" class="sr-only">${t("rp_title")}</h2>
    <fieldset><legend>${t("rp_where")}</legend>
      <button type="button" onClick=${locate} data-testid="rp-locate">${t("rp_use_location")}</button>
      <p class="small" role="status">${where || ""}</p>
      <div class="row">
        <label>${t("rp_lat")}<input value=${lat} inputmode="decimal" size="12" maxLength="16" onInput=${(e) => setLat(e.target.value)} data-testid="rp-lat" /></label>
        <label>${t("rp_lon")}<input value=${lon} inputmode="decimal" size="12" maxLength="16" onInput=${(e) => setLon(e.target.value)} data-testid="rp-lon" /></label>
      </div>
      ${tiles && Number.isFinite(la) && Number.isFinite(lo) && html`<${MapView} markers=${[]} here=${{ lat: la, lon: lo, label: t("rp_map") }}
        height=${220} label=${t("rp_map")} />`}
    </fieldset>
    <fieldset class="cats"><legend>${t("rp_what")}</legend>
      ${CATEGORIES.map((c) => html`<label key=${c} class="radio"><input type="radio" name="category" value=${c}
        checked=${category === c} onChange=${() => setCategory(c)} />${t(`cat_${c}`)}</label>`)}
    </fieldset>
    <label>${t("rp_text")}<textarea rows="3" maxLength="500" value=${text} onInput=${(e) => setText(e.target.value)} data-testid="rp-text"></textarea>
      <span class="small muted">${t("rp_chars", { n: text.length })}</span></label>
    <div><span class="small">${t("rp_photo", { mb: fmtNum(PHOTO_MAX_BYTES / 1e6) })}</span>
      <div class="row"><label class="file button">${t("rp_choose_photo")}<input type="file" accept=${PHOTO_TYPES.join(",")}
        onChange=${pickPhoto} data-testid="rp-photo" /></label>
      <span class="small" role="status">${photo ? photo.name : t("rp_no_photo")}</span></div></div>
    <button type="submit" class="primary" disabled=${busy} data-testid="rp-send">${busy ? t("rp_sending") : t("rp_send")}</button>
    <p class=${msg && msg.bad ? "error" : "muted"} role=${msg && msg.bad ? "alert" : "status"}>${msg ? msg.text : ""}</p>
    <p class="small muted">${t("rp_privacy")}</p>
  </form>`;
}

function Page() {
  const [sent, setSent] = useState(null);
  function toggleLang() {
    state.lang = state.lang === "vi" ? "en" : "vi";
    localStorage.setItem("sl.lang", state.lang);
    changed();
  }
  return html`<header class="top">
      <span class="brand">${t("rp_title")}</span><span class="spacer"></span>
      <button type="button" class="ghost" onClick=${toggleLang} lang=${state.lang === "vi" ? "en" : "vi"}
        aria-label=${`${t("lang_label")}: ${t("lang_other")}`}>${t("lang_other")}</button>
    </header>
    <main id="main" class="report">
      <h1>${t("rp_title")}</h1>
      <p>${t("rp_intro")}</p>
      ${sent ? html`<section class="panel" aria-live="polite" data-testid="rp-done">
          <p>${t("rp_thanks")}</p><p class="ref" data-testid="rp-reference">${sent.report.reference}</p>
          <p>${t("rp_keep")}</p>
          <p>${t("rp_status", { status: state.lang === "vi" ? sent.report.status_label.vi : sent.report.status_label.en })}</p>
          ${sent.photo && html`<p class=${sent.photo.bad ? "error" : "result ok"}>${sent.photo.text}</p>`}
          <button type="button" onClick=${() => setSent(null)}>${t("rp_new")}</button>
        </section>`
        : html`<${ReportForm} onSent=${(report, photo) => setSent({ report, photo })} />`}
      <${Lookup} initial=${sent ? sent.report.reference : ""} key=${sent ? sent.report.reference : "none"} />
    </main>`;
}

function App() {
  const [, setTick] = useState(0);
  useEffect(() => subscribe(() => setTick((n) => n + 1)), []);
  document.documentElement.lang = state.lang;
  document.title = t("rp_title");
  return html`<${Page} />`;
}

render(html`<${App} />`, document.getElementById("app"));
