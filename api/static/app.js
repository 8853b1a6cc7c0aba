// signalight status page: vanilla JS, no build step.
// Auth: OAuth2 password flow; tokens kept in sessionStorage (gone when the tab closes).
// Live updates: fetch-streaming of /api/v1/stream with the Authorization header (SSE framing), resumed with
// Last-Event-ID after a drop. Device data is written with textContent only (it comes from devices).
"use strict";

const T = {
  vi: { connecting: "Đang kết nối…", live: "Trực tiếp", down: "Mất kết nối", logout: "Đăng xuất",
        login_title: "Đăng nhập", user: "Tên đăng nhập", password: "Mật khẩu", login: "Đăng nhập",
        filter: "Lọc theo tên, mã, khu vực…", online: "trực tuyến", offline: "ngoại tuyến", unknown: "chưa rõ",
        signal_controller: "Tủ điều khiển đèn tín hiệu", lighting_cabinet: "Tủ chiếu sáng",
        mode: "Chế độ", pattern: "Kịch bản", cycle: "Chu kỳ", circuit: "Mạch", level: "Mức",
        on: "Bật", off: "Tắt", flash: "Nhấp nháy 30 phút", release: "Trả về lịch", release_circuit: "Trả về chương trình",
        last_seen: "Cập nhật", devices: "thiết bị", bad_login: "Sai tên đăng nhập hoặc mật khẩu",
        sent: "Đã gửi lệnh…", succeeded: "Thành công", failed: "Thất bại", expired: "Hết hạn", pending: "Đang chờ",
        coordinated: "phối hợp", free: "tự do", manual_hold: "giữ kịch bản", preempt: "ưu tiên", dark: "tắt",
        confirm_flash: "Chuyển nút giao sang nhấp nháy vàng trong 30 phút?", walk: "đi bộ",
        override: "ghi đè", program: "chương trình", locked: "Tài khoản tạm khoá, thử lại sau",
        ack: "Xác nhận", acked_by: "đã xác nhận bởi",
        gateway_offline: "gateway mất kết nối", gateway_restarted: "chờ gateway khởi động lại" },
  en: { connecting: "Connecting…", live: "Live", down: "Disconnected", logout: "Log out",
        login_title: "Sign in", user: "User name", password: "Password", login: "Sign in",
        filter: "Filter by name, id, site…", online: "online", offline: "offline", unknown: "unknown",
        signal_controller: "Signal controller", lighting_cabinet: "Lighting cabinet",
        mode: "Mode", pattern: "Pattern", cycle: "Cycle", circuit: "Circuit", level: "Level",
        on: "On", off: "Off", flash: "Flash 30 min", release: "Release to schedule", release_circuit: "Release to program",
        last_seen: "Updated", devices: "devices", bad_login: "Wrong user name or password",
        sent: "Command sent…", succeeded: "Succeeded", failed: "Failed", expired: "Expired", pending: "Pending",
        coordinated: "coordinated", free: "free", manual_hold: "pattern hold", preempt: "preempt", dark: "dark",
        confirm_flash: "Put this intersection in yellow flash for 30 minutes?", walk: "walk",
        override: "override", program: "program", locked: "Account locked, try again later",
        ack: "Acknowledge", acked_by: "acknowledged by",
        gateway_offline: "gateway offline", gateway_restarted: "waiting for its gateway" },
};
const ALARM_LABELS = {
  comm_loss: ["Mất liên lạc", "Communication loss"], conflict_flash: ["Nhấp nháy do xung đột pha", "Conflict flash"],
  local_flash: ["Nhấp nháy tại tủ", "Local flash"], coordination_failure: ["Lỗi phối hợp", "Coordination failure"],
  detector_fault: ["Lỗi đầu dò", "Detector fault"], door_open: ["Cửa tủ mở", "Cabinet door open"],
  power_fail: ["Mất điện lưới", "Power failure"], lamp_failure: ["Hỏng đèn", "Lamp failure"],
  breaker_trip: ["Nhảy aptomat", "Breaker trip"], day_burner: ["Đèn sáng ban ngày", "Day burner"],
  dark_lamp: ["Đèn tắt ban đêm", "Dark lamp"], plan_deploy_failed: ["Nạp kế hoạch thất bại", "Plan deploy failed"],
  clock_drift: ["Lệch đồng hồ", "Clock drift"], contactor_stuck: ["Kẹt công tắc tơ", "Contactor stuck"],
};

const S = { lang: localStorage.getItem("sl.lang") || "vi", tz: "Asia/Ho_Chi_Minh", devices: new Map(),
            lastEventId: null, abort: null, scopes: [], alarms: new Map() };  // alarms: id -> active alarm
const $ = (id) => document.getElementById(id);
const t = (k) => (T[S.lang][k] ?? k);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function applyI18n() {
  document.documentElement.lang = S.lang;
  $("lang").textContent = S.lang === "vi" ? "EN" : "VI";
  document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((n) => { n.placeholder = t(n.dataset.i18nPlaceholder); });
  render();
}

function fmtTime(iso) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(S.lang === "vi" ? "vi-VN" : "en-GB",
    { timeZone: S.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", day: "2-digit", month: "2-digit" })
    .format(new Date(iso));
}

// ---- auth -------------------------------------------------------------------------------------------------
function token() { return sessionStorage.getItem("sl.access"); }
function can(scope) { return S.scopes.includes(scope); }

function saveTokens(body) {
  sessionStorage.setItem("sl.access", body.access_token);
  sessionStorage.setItem("sl.refresh", body.refresh_token);
  sessionStorage.setItem("sl.user", JSON.stringify({ user: body.user, role: body.role, scopes: body.scopes }));
  S.scopes = body.scopes;
}

// Single flight: a refresh token is used once (the server rotates it and treats a second use as theft), so
// concurrent 401s must share one refresh.
let refreshing = null;
function refreshTokens() {
  if (!refreshing) {
    refreshing = (async () => {
      const refresh = sessionStorage.getItem("sl.refresh");
      if (!refresh) return false;
      const r = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" },
                                                      body: JSON.stringify({ refresh_token: refresh }) });
      if (!r.ok) return false;
      saveTokens(await r.json());
      return true;
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function api(path, opts = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = { ...(opts.headers || {}), Authorization: `Bearer ${token()}` };
    const r = await fetch(path, { ...opts, headers });
    if (r.status !== 401 || attempt === 1 || !(await refreshTokens())) {
      if (r.status === 401) showLogin();
      return r;
    }
  }
}

function showLogin() {
  if (S.abort) S.abort.abort();
  sessionStorage.clear();
  $("login").hidden = false; $("fleet").hidden = true; $("logout").hidden = true; $("who").textContent = "";
}

async function onLogin(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const r = await fetch("/api/v1/auth/token", { method: "POST", body: new URLSearchParams(form) });
  if (!r.ok) { $("login-error").textContent = r.status === 429 ? t("locked") : t("bad_login"); return; }
  saveTokens(await r.json());
  ev.target.reset(); $("login-error").textContent = "";
  start();
}

// ---- live stream ------------------------------------------------------------------------------------------
function setConn(state) { const c = $("conn"); c.className = `conn ${state}`; c.dataset.i18n = state; c.textContent = t(state); }

function applyEvent(type, data) {
  if (type === "snapshot") {
    S.devices = new Map(data.devices.map((d) => [d.id, d]));
    loadAlarms();
    return;
  }
  const dev = S.devices.get(data.device) || { id: data.device, site: data.site, status: "unknown", alarms: [] };
  if (type === "device") Object.assign(dev, data.data, { alarms: dev.alarms });
  else if (type === "status") {
    dev.status = data.data.status; dev.status_reason = data.data.reason;
    if ("gateway" in data.data) dev.gateway = data.data.gateway;
  }
  else if (type === "state") { dev.state = data.data; dev.kind = data.data.kind; dev.last_seen = data.data.ts; }
  else if (type === "alarm") {
    const set = new Set(dev.alarms || []);
    if (data.data.active) { set.add(data.data.kind); S.alarms.set(data.data.id, data.data); }
    else { set.delete(data.data.kind); S.alarms.delete(data.data.id); }
    dev.alarms = [...set].sort();
  } else if (type === "command") { showResult(data.device, data.data); }
  S.devices.set(dev.id, dev);
}

async function stream() {
  let delay = 1000;
  for (;;) {
    S.abort = new AbortController();
    try {
      const headers = { Authorization: `Bearer ${token()}` };
      if (S.lastEventId) headers["Last-Event-ID"] = S.lastEventId;
      const r = await fetch("/api/v1/stream", { headers, signal: S.abort.signal });
      if (r.status === 401) { if (!(await refreshTokens())) { showLogin(); return; } continue; }
      if (!r.ok) throw new Error(`stream ${r.status}`);
      setConn("live"); delay = 1000;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, cut); buf = buf.slice(cut + 2);
          let id = null, type = "message", data = "";
          for (const line of frame.split("\n")) {
            if (line.startsWith("id: ")) id = line.slice(4);
            else if (line.startsWith("event: ")) type = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (!data) continue;
          if (id) S.lastEventId = id;
          applyEvent(type, JSON.parse(data));
          scheduleRender();
        }
      }
    } catch (e) {
      if (S.abort.signal.aborted) return;
    }
    setConn("down");
    await new Promise((res) => setTimeout(res, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 2, 30000);
  }
}

// ---- alarms -----------------------------------------------------------------------------------------------
async function loadAlarms() {
  const r = await api("/api/v1/alarms?active=true&limit=1000");
  if (!r || !r.ok) return;
  S.alarms = new Map((await r.json()).map((a) => [a.id, a]));
  scheduleRender();
}

async function ackAlarm(alarm) {
  const r = await api(`/api/v1/alarms/${alarm.id}/ack`, { method: "POST" });
  if (r && (r.ok || r.status === 409)) { loadAlarms(); }
}

// ---- commands ---------------------------------------------------------------------------------------------
const results = new Map();
function showResult(deviceId, cmd) { results.set(deviceId, cmd); scheduleRender(); }

async function send(dev, name, args, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  showResult(dev.id, { status: "sent" });
  const r = await api(`/api/v1/devices/${encodeURIComponent(dev.id)}/commands`,
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name, args }) });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { showResult(dev.id, { status: "failed", message: body.detail || r.status }); return; }
  showResult(dev.id, { status: "pending", id: body.id });
}

function untilIn(minutes) { return new Date(Date.now() + minutes * 60000).toISOString().replace(/\.\d+Z$/, "Z"); }

// ---- rendering --------------------------------------------------------------------------------------------
let renderQueued = false;
function scheduleRender() { if (!renderQueued) { renderQueued = true; requestAnimationFrame(() => { renderQueued = false; render(); }); } }

function signalBody(dev) {
  const v = (dev.state && dev.state.values) || {};
  const box = el("div");
  box.append(el("div", { class: "meta", text: `${t("mode")}: ${t(v.mode || "unknown")} · ${t("pattern")}: ${v.pattern ?? "—"} · ${t("cycle")}: ${v.cycle_timer_s ?? "—"}/${v.cycle_s ?? "—"} s` }));
  const phases = el("div", { class: "phases" });
  for (let n = 1; n <= 8; n++) {
    const colour = (v.phases || {})[String(n)] || "dark";
    const ped = (v.peds || {})[String(n)];
    phases.append(el("div", {}, el("div", { class: `dot ${colour}`, title: `${n}: ${colour}` }), el("div", { text: String(n) }),
      el("div", { class: `walk ${ped || ""}`, text: ped === "walk" ? t("walk") : ped === "ped_clear" ? `${t("walk")}…` : ped === "dont_walk" ? "—" : "" })));
  }
  box.append(phases);
  if (can("command:signal")) {
    box.append(el("div", { class: "actions" },
      el("button", { class: "primary", text: t("flash"), onclick: () => send(dev, "flash", { until: untilIn(30) }, t("confirm_flash")) }),
      el("button", { text: t("release"), onclick: () => send(dev, "release", {}) })));
  }
  return box;
}

function cabinetBody(dev) {
  const v = (dev.state && dev.state.values) || {};
  const list = el("ul", { class: "circuits" });
  for (const c of v.circuits || []) {
    const li = el("li", {}, el("span", { class: `lamp ${c.on ? "on" : ""}` }),
      el("span", { text: `${t("circuit")} ${c.circuit}: ${c.on ? t("on") : t("off")} · ${t("level")} ${Math.round(c.level_pct)}%${c.control ? " · " + t(c.control) : ""}` }));
    if (can("command:cabinet")) {
      li.append(el("button", { text: t("on"), onclick: () => send(dev, "switch", { circuit: c.circuit, level_pct: 100, until: untilIn(60) }) }),
        el("button", { text: t("off"), onclick: () => send(dev, "switch", { circuit: c.circuit, level_pct: 0, until: untilIn(60) }) }),
        el("button", { text: t("release_circuit"), onclick: () => send(dev, "release", { circuit: c.circuit }) }));
    }
    list.append(li);
  }
  return list;
}

function render() {
  const box = $("devices");
  if (!box || $("fleet").hidden) return;
  const q = $("filter").value.trim().toLowerCase();
  const devs = [...S.devices.values()].sort((a, b) => (a.site + a.id).localeCompare(b.site + b.id))
    .filter((d) => !q || `${d.id} ${d.site} ${d.name || ""}`.toLowerCase().includes(q));
  const online = devs.filter((d) => d.status === "online").length;
  $("summary").textContent = `${devs.length} ${t("devices")} · ${online} ${t("online")}`;
  box.replaceChildren(...devs.map((dev) => {
    const card = el("article", { class: `card ${dev.status}` });
    card.append(el("h3", { text: dev.name || dev.id }),
      el("div", { class: "meta" }, el("span", { class: `badge ${dev.status}`, text: t(dev.status) }),
        // Why it is offline: its own reason, or its gateway's (gateway_offline, gateway_restarted), translated.
        dev.status === "offline" && dev.status_reason
          ? el("span", { class: "reason", text: `${t(dev.status_reason)}${dev.status_reason.startsWith("gateway_") && dev.gateway ? ` (${dev.gateway})` : ""} ` })
          : null,
        el("span", { class: "badge", text: t(dev.kind || "unknown") }),
        el("span", { text: ` ${dev.site}/${dev.id} · ${t("last_seen")} ${fmtTime(dev.last_seen)}` })));
    const active = [...S.alarms.values()].filter((a) => a.device_id === dev.id);
    const kinds = new Set(active.map((a) => a.kind));
    for (const a of dev.alarms || []) if (!kinds.has(a)) active.push({ kind: a });
    for (const a of active) {
      const lbl = a.label ? [a.label.vi, a.label.en] : ALARM_LABELS[a.kind];  // the API names every kind
      const row = el("div", { class: "alarm-row" }, el("span", { class: "badge alarm", text: lbl ? lbl[S.lang === "vi" ? 0 : 1] : a.kind }));
      if (a.acked_by) row.append(el("span", { class: "meta", text: ` ✓ ${t("acked_by")} ${a.acked_by}` }));
      else if (a.id && can("alarms:ack")) row.append(el("button", { text: t("ack"), onclick: () => ackAlarm(a) }));
      card.append(row);
    }
    if (dev.kind === "signal_controller") card.append(signalBody(dev));
    else if (dev.kind === "lighting_cabinet") card.append(cabinetBody(dev));
    const res = results.get(dev.id);
    card.append(el("div", { class: "result", role: "status", text: res ? `${t(res.status)}${res.error ? " · " + res.error : ""}${res.message ? " · " + res.message : ""}` : "" }));
    return card;
  }));
}

async function start() {
  const who = JSON.parse(sessionStorage.getItem("sl.user") || "null");
  if (!token() || !who) { showLogin(); return; }
  S.scopes = who.scopes;
  $("who").textContent = `${who.user} (${who.role})`;
  $("login").hidden = true; $("fleet").hidden = false; $("logout").hidden = false;
  try { const h = await (await fetch("/healthz")).json(); if (h.timezone) S.tz = h.timezone; } catch (e) { /* keep default */ }
  render();
  stream();
}

$("login").addEventListener("submit", onLogin);
$("logout").addEventListener("click", () => {
  const refresh = sessionStorage.getItem("sl.refresh");
  if (refresh) fetch("/api/v1/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify({ refresh_token: refresh }) });
  showLogin();
});
$("lang").addEventListener("click", () => { S.lang = S.lang === "vi" ? "en" : "vi"; localStorage.setItem("sl.lang", S.lang); applyI18n(); });
$("filter").addEventListener("input", scheduleRender);
applyI18n();
start();
