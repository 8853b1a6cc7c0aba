// The crew's circuit commands on a bad network. A tap makes an entry with its own Idempotency-Key, persisted in
// localStorage (it survives a reload or a dead battery), and the entry is only sent while the stream is live: a tap
// while offline or stale waits, shown "waiting for network", and is sent when the link is back, if it is still
// wanted (not cancelled, not replaced by a newer tap on the same circuit) and has not waited longer than
// QUEUE_TTL_S. A send whose answer is lost is sent again with the same key, which the API answers without sending
// anything twice. Every entry ends in a final result that stays on screen: succeeded, refused (with the reason),
// expired (with the reason), cancelled or replaced.
import { state, changed, subscribe } from "./store.js";
import { api } from "./session.js";

const KEY = "sl.cmdq";
const KEEP = 40;                      // entries kept (finished ones beyond this are forgotten, oldest first)
const SEND_TIMEOUT_MS = 10000;        // a send not answered by then is retried with the same key
const POLL_MS = 2000;                 // how often a pending command's status is read
/** How long a tap may wait for the network before it is no longer sent (a test may lower it). */
export const QUEUE_TTL_S = Math.max(1, Number(localStorage.getItem("sl.queue_ttl_s")) || 600);

export const FINAL = new Set(["succeeded", "refused", "failed", "expired", "cancelled", "replaced"]);

function load() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || "[]");
    // a send interrupted by a reload may or may not have arrived: send it again (same key, so at most once)
    return Array.isArray(list) ? list.map((e) => (e.status === "sending" ? { ...e, status: "waiting" } : e)) : [];
  } catch {
    return [];
  }
}

state.queue = load();

function save() {
  const finished = state.queue.filter((e) => FINAL.has(e.status));
  if (state.queue.length > KEEP && finished.length) {
    const drop = new Set(finished.slice(0, state.queue.length - KEEP).map((e) => e.key));
    state.queue = state.queue.filter((e) => !drop.has(e.key));
  }
  try { localStorage.setItem(KEY, JSON.stringify(state.queue)); } catch { /* storage full: the queue lives on in memory */ }
  changed();
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

const linkUp = () => navigator.onLine && state.conn === "live";

function finish(e, status, reason = null, extra = {}) {
  Object.assign(e, { status, reason, finished_at: Date.now(), ...extra });
  save();
}

/** Queue a circuit command: {device, circuit, action: "set" | "release", level_pct, duration_min, reason}. */
export function submit(cmd) {
  for (const old of state.queue) {
    if (old.device === cmd.device && old.circuit === cmd.circuit && old.status === "waiting") {
      finish(old, "replaced", "replaced_by_newer");
    }
  }
  const now = Date.now();
  // the entry belongs to who tapped: it is only ever sent with that user's session
  const e = { ...cmd, key: newKey(), user: state.session && state.session.user, created_at: now,
              wait_until: now + QUEUE_TTL_S * 1000, status: "waiting", attempts: 0, reason: null };
  state.queue.push(e);
  save();
  if (linkUp()) send(e);
  return e;
}

/** The user no longer wants a waiting entry. */
export function cancel(key) {
  const e = state.queue.find((x) => x.key === key);
  if (e && e.status === "waiting") finish(e, "cancelled", "cancelled_by_user");
}

/** The newest entry for a device's circuit (what its card shows), or null. */
export function latestFor(device, circuit) {
  for (let i = state.queue.length - 1; i >= 0; i--) {
    const e = state.queue[i];
    if (e.device === device && e.circuit === circuit) return e;
  }
  return null;
}

const mine = (e) => !!state.session && e.user === state.session.user;

async function send(e) {
  if (e.status !== "waiting" || !mine(e)) return;
  if (Date.now() > e.wait_until) { finish(e, "expired", "waited_too_long"); return; }
  e.status = "sending"; e.attempts += 1; e.sent_at = Date.now();
  save();
  const path = `/api/v1/cabinets/${encodeURIComponent(e.device)}/circuits/${e.circuit}/override`;
  const r = await api(path, e.action === "release"
    ? { method: "DELETE", headers: { "Idempotency-Key": e.key }, timeoutMs: SEND_TIMEOUT_MS }
    : { method: "PUT", headers: { "Idempotency-Key": e.key }, timeoutMs: SEND_TIMEOUT_MS,
        json: { level_pct: e.level_pct, duration_min: e.duration_min, reason: e.why } });
  if (e.status !== "sending") return;
  if (r.status === 0 || r.status === 401 || r.status === 503 || r.status === 429) {
    e.status = "waiting";  // no answer: it waits for the link again (the same key makes a resend harmless)
    save();
    return;
  }
  if (!r.ok) {
    const p = r.problem || {};
    finish(e, r.status === 502 ? "failed" : "refused", p.detail || p.title || `HTTP ${r.status}`,
           p.command_id ? { command_id: p.command_id } : {});
    return;
  }
  Object.assign(e, { status: "pending", command_id: r.body.command_id, until: r.body.until || null,
                     set_by: r.body.set_by || null });
  save();
}

function commandOutcome(e, cmd) {
  if (cmd.status === "succeeded") finish(e, "succeeded");
  else if (cmd.status === "expired") finish(e, "expired", "device_silent", { expires_at: cmd.expires_at });
  else if (cmd.status === "failed") finish(e, "refused", cmd.message || cmd.error || "failed");
}

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    for (const e of state.queue.filter((x) => x.status === "pending" && x.command_id && mine(x))) {
      const seen = state.commands.get(e.command_id);  // the stream's `command` event, when it came first
      if (seen && seen.status !== "pending") { commandOutcome(e, seen); continue; }
      const r = await api(`/api/v1/commands/${encodeURIComponent(e.command_id)}`, { timeoutMs: SEND_TIMEOUT_MS });
      if (r.ok && r.body.status !== "pending") commandOutcome(e, r.body);
    }
  } finally {
    polling = false;
  }
}

let flushing = false;
async function flush() {
  if (flushing || !linkUp()) return;
  flushing = true;
  try {
    for (const e of state.queue.filter((x) => x.status === "waiting" && mine(x))) {
      if (!linkUp()) break;
      await send(e);
    }
  } finally {
    flushing = false;
  }
}

/** Start the queue's work: send what waits whenever the link is live, follow what is pending. */
export function startQueue() {
  subscribe(() => { if (linkUp() && state.queue.some((e) => e.status === "waiting" && mine(e))) flush(); });
  setInterval(() => {
    const now = Date.now();
    for (const e of state.queue) {
      if (e.status === "waiting" && now > e.wait_until) finish(e, "expired", "waited_too_long");
    }
    if (state.session) { flush(); poll(); }
  }, POLL_MS);
}
