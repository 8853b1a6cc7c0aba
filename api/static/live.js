// The live stream: fetch-streaming of /api/v1/stream (SSE framing) with the Authorization header, resumed with
// Last-Event-ID after a drop. Staleness is judged by the stream's heartbeat, not by the connection object: the
// server sends a keepalive every HEARTBEAT_S seconds (we ask for it), so two heartbeats without a byte means the
// data on screen is frozen, whatever the socket says. The header then says "Stale" (or "Offline" when the
// browser knows it has no network), and the stalled connection is dropped and opened again.
import { state, changed } from "./store.js";
import { accessToken, refresh, sessionLost, api } from "./session.js";

// Seconds between the server's heartbeats; a test may lower it (localStorage) to watch a stall quickly.
export const HEARTBEAT_S = Math.max(0.2, Number(localStorage.getItem("sl.heartbeat_s")) || 5);
const STALE_AFTER_MS = 2 * HEARTBEAT_S * 1000;

let lastEventId = null;
let lastByteAt = 0;
let attemptAt = 0;     // when the current connection was opened: a new one gets its own two heartbeats
let controller = null;
let running = false;
let watchdog = null;

function setConn(conn) {
  if (state.conn !== conn) { state.conn = conn; changed(); }
}

function notLive() {
  if (!state.session) return setConn("signed_out");
  if (!navigator.onLine) return setConn("offline");
  setConn(state.lastDataAt ? "stale" : "connecting");
}

function apply(type, msg) {
  if (type === "snapshot") {
    state.devices = new Map(msg.devices.map((d) => [d.id, d]));
    loadAlarms();
    return;
  }
  const id = msg.device;
  const dev = state.devices.get(id) || { id, site: msg.site, status: "unknown", alarms: [] };
  const data = msg.data;
  if (type === "device") Object.assign(dev, data, { alarms: dev.alarms });
  else if (type === "status") {
    dev.status = data.status; dev.status_reason = data.reason;
    if ("gateway" in data) dev.gateway = data.gateway;
  } else if (type === "state") { dev.state = data; dev.kind = data.kind || dev.kind; dev.last_seen = data.ts; }
  else if (type === "alarm") {
    if (data.active) state.alarms.set(data.id, data); else state.alarms.delete(data.id);
    const kinds = new Set(dev.alarms || []);
    if (data.active) kinds.add(data.kind); else kinds.delete(data.kind);
    dev.alarms = [...kinds].sort();
  } else if (type === "command") state.commands.set(data.id, data);
  else if (type === "deployment") state.deployments.set(data.id, data);
  else if (type === "work_order") { state.workOrders.set(String(data.id), data); return; }
  else if (type === "preview") { state.previews.set(data.id, data); return; }  // a job, not a device
  state.devices.set(id, dev);
}

export async function loadAlarms() {
  const r = await api("/api/v1/alarms?active=true&limit=1000");
  if (r.ok) { state.alarms = new Map(r.body.map((a) => [a.id, a])); changed(); }
}

function parseFrames(buf, onFrame) {
  let cut;
  while ((cut = buf.indexOf("\n\n")) >= 0) {
    const frame = buf.slice(0, cut); buf = buf.slice(cut + 2);
    let id = null, type = "message", data = "";
    for (const line of frame.split("\n")) {
      if (line.startsWith("id: ")) id = line.slice(4);
      else if (line.startsWith("event: ")) type = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (data) onFrame(id, type, data);
  }
  return buf;
}

async function connectOnce() {
  controller = new AbortController();
  attemptAt = Date.now();
  const headers = { Authorization: `Bearer ${accessToken()}` };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const r = await fetch(`/api/v1/stream?keepalive=${HEARTBEAT_S}`, { headers, signal: controller.signal });
  if (r.status === 401) {
    const ok = await refresh();
    if (ok === false) { sessionLost(); return "lost"; }
    return "retry";
  }
  if (!r.ok) throw new Error(`stream ${r.status}`);
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return "ended";
    lastByteAt = Date.now();
    state.lastDataAt = new Date(lastByteAt);
    setConn("live");
    buf = parseFrames(buf + value, (id, type, data) => {
      if (id) lastEventId = id;
      apply(type, JSON.parse(data));
    });
    changed();
  }
}

/** Run the stream until sign-out; reconnects forever with backoff and jitter. */
export async function startLive() {
  if (running) return;
  running = true;
  lastByteAt = Date.now();
  if (!navigator.onLine) setConn("offline");  // opened offline (from the service worker): say so at once
  watchdog = setInterval(() => {
    if (!running) return;
    const now = Date.now();
    if (now - lastByteAt > STALE_AFTER_MS) {
      notLive();
      // a stalled connection: drop it, the loop opens a new one
      if (controller && now - attemptAt > STALE_AFTER_MS) controller.abort();
    }
  }, 100);  // a cheap check, often: stale no later than 2 heartbeats + 0,1 s after the last byte
  let delay = 500;
  while (running && state.session) {
    let outcome;
    try {
      outcome = await connectOnce();
      delay = 500;
    } catch {
      outcome = "error";
    }
    if (outcome === "lost" || !state.session) break;
    if (outcome !== "retry") notLive();
    await new Promise((res) => setTimeout(res, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 2, 15000);
  }
  stopLive();
}

export function stopLive() {
  running = false;
  clearInterval(watchdog);
  if (controller) controller.abort();
  if (!state.session) setConn("signed_out");
}

window.addEventListener("offline", () => { if (running) { setConn("offline"); if (controller) controller.abort(); } });
window.addEventListener("online", () => { if (running) notLive(); });
