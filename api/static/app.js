// The shell: sign-in, header (connection pill from the stream's heartbeat, language, user), navigation and hash
// routes. One shell for the operations center and the phones; each screen is a module under views/.
import { html, render, useState, useEffect, useRef } from "./lib.js";
import { state, changed, subscribe } from "./store.js";
import { t, fmtDateTime } from "./i18n.js";
import "./i18n/crew.js";
import { restore, signIn, signOut } from "./session.js";
import { startLive, stopLive } from "./live.js";
import { IntersectionList } from "./views/intersections.js";
import { IntersectionView } from "./views/intersection.js";
import { PlansPage } from "./views/plans.js";
import { PlanEditor } from "./views/plan_editor.js";
import { AlarmsPage } from "./views/alarms.js";
import { DeviceList } from "./views/devices.js";
import { WorkOrdersPage, WorkOrderView } from "./views/work_orders.js";
import { EventLog } from "./views/events.js";
import { TelemetryPage } from "./views/telemetry.js";
import { MeasuresPage } from "./views/measures.js";
import { CorridorPage } from "./views/corridor.js";
import { CrewFaults } from "./views/crew_faults.js";
import { CrewCabinet } from "./views/crew_cabinet.js";
import { startQueue } from "./crew_queue.js";
import { keepLastKnown } from "./last_known.js";

// A lighting crew sees the crew screens (faults near them, cabinets) and never signal controls; others see all.
const isCrew = () => !!state.session && state.session.role === "crew";

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

function SignIn() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const userRef = useRef(null);
  useEffect(() => { userRef.current && userRef.current.focus(); }, []);
  async function submit(ev) {
    ev.preventDefault();
    const form = new FormData(ev.target);
    setBusy(true); setError(null);
    const err = await signIn(form.get("username"), form.get("password"));
    setBusy(false);
    if (err) setError(err); else startLive();
  }
  return html`<form class="signin" onSubmit=${submit} aria-labelledby="signin-title">
    <h1 id="signin-title">${t("sign_in_title")}</h1>
    ${state.notice && html`<p class="notice" role="status">${t(state.notice)}</p>`}
    <label>${t("user")}<input ref=${userRef} name="username" autocomplete="username" required /></label>
    <label>${t("password")}<input name="password" type="password" autocomplete="current-password" required /></label>
    <button class="primary" type="submit" disabled=${busy}>${busy ? t("signing_in") : t("sign_in")}</button>
    <p class="error" role="alert">${error ? t(error) : ""}</p>
  </form>`;
}

function ConnPill() {
  const since = state.lastDataAt && state.conn !== "live" && state.conn !== "signed_out"
    ? ` · ${t("conn_since", { time: fmtDateTime(state.lastDataAt, { date: false }) })}` : "";
  return html`<span class=${`conn conn-${state.conn}`} role="status" data-conn=${state.conn}>${t(`conn_${state.conn}`)}${since}</span>`;
}

function Header({ route }) {
  const s = state.session;
  const here = route.parts[0] || "";
  const link = (href, key, active) => html`<a href=${href} aria-current=${active ? "page" : undefined}>${t(key)}</a>`;
  function toggleLang() {
    state.lang = state.lang === "vi" ? "en" : "vi";
    localStorage.setItem("sl.lang", state.lang);
    changed();
  }
  return html`<header class="top">
    <a class="brand" href="#/">${t("app")}</a>
    ${s && html`<nav aria-label=${t("nav")}>
      ${isCrew() ? link("#/crew", "nav_crew", here === "crew" || here === "") : link("#/", "nav_intersections", here === "" || here === "i")}
      ${!isCrew() && link("#/crew", "nav_crew", here === "crew")}
      ${isCrew() && link("#/orders", "nav_orders", here === "orders")}
      ${link("#/alarms", "nav_alarms", here === "alarms")}
      ${!isCrew() && link("#/devices", "nav_devices", here === "devices")}
      ${!isCrew() && link("#/orders", "nav_orders", here === "orders")}
    </nav>`}
    <span class="spacer"></span>
    <${ConnPill} />
    <button type="button" class="ghost" onClick=${toggleLang} lang=${state.lang === "vi" ? "en" : "vi"}
      title=${`${t("lang_label")}: ${t("lang_other")}`}><span class="lang-long">${t("lang_other")}</span><span class="lang-short">${state.lang === "vi" ? "EN" : "VI"}</span></button>
    ${s && html`<span class="who">${s.user} (${s.role})</span>
      <button type="button" class="ghost signout" onClick=${() => { stopLive(); signOut(); }}
        title=${`${s.user} (${s.role})`}>${t("sign_out")}</button>`}
  </header>`;
}

function Page({ route }) {
  const [a, b, c, d] = route.parts;
  if (a === "crew" && b === "c" && c) return html`<${CrewCabinet} id=${c} />`;
  if (a === "crew" || (!a && isCrew())) return html`<${CrewFaults} />`;
  if (a === "i" && isCrew()) return html`<p class="notice">${t("crew_no_signals")}</p>`;
  if (!a) return html`<${IntersectionList} />`;
  if (a === "i" && b && !c) return html`<${IntersectionView} id=${b} />`;
  if (a === "i" && b && c === "plans" && d === "edit") return html`<${PlanEditor} id=${b} from=${route.query.get("from")} />`;
  if (a === "i" && b && c === "plans") return html`<${PlansPage} id=${b} query=${route.query} />`;
  if (a === "i" && b && c === "events") return html`<${EventLog} id=${b} query=${route.query} />`;
  if (a === "i" && b && c === "measures") return html`<${MeasuresPage} id=${b} query=${route.query} />`;
  if (a === "d" && b && c === "telemetry") return html`<${TelemetryPage} device=${b} />`;
  if (a === "corridor" && !isCrew()) return html`<${CorridorPage} query=${route.query} />`;
  if (a === "alarms") return html`<${AlarmsPage} />`;
  if (a === "devices") return html`<${DeviceList} />`;
  if (a === "orders" && !b) return html`<${WorkOrdersPage} query=${route.query} />`;
  if (a === "orders" && b) return html`<${WorkOrderView} id=${b} />`;
  return html`<p class="notice">${t("not_found")}</p>`;
}

function QueueBanner() {
  const who = state.session && state.session.user;
  const waiting = (state.queue || []).filter((e) => e.status === "waiting" && e.user === who).length;
  return waiting ? html`<p class="queue-banner" role="status" data-testid="queue-banner">${t("queue_waiting_n", { n: waiting })}</p>` : null;
}

function App() {
  const [, setTick] = useState(0);
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const unsubscribe = subscribe(() => setTick((n) => n + 1));
    setTick((n) => n + 1);  // what changed between the first render and now (the stream may have said "offline")
    return unsubscribe;
  }, []);
  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => { document.documentElement.lang = state.lang; document.title = t("app"); });
  return html`<${Header} route=${route} />
    <main id="main" class=${state.conn === "live" ? "" : "not-live"}>
      <${QueueBanner} />
      ${state.session ? html`<${Page} route=${route} />` : html`<${SignIn} />`}
    </main>`;
}

async function boot() {
  restore();  // before the first paint: a signed-out shell never says "Connecting…"
  try {
    const h = await (await fetch("/healthz")).json();
    if (h.timezone) state.tz = h.timezone;
  } catch { /* keep the default zone; the stream will say whether the API is there */ }
  const signedIn = restore();
  keepLastKnown();
  startQueue();
  render(html`<${App} />`, document.getElementById("app"));
  if (signedIn) startLive();
  // The phone app's shell offline (sw.js); a browser without service workers just needs the network.
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}

boot();
