// The last known picture of the fleet kept on the phone (devices and active alarms, at most every few seconds), so
// the app opened without network (the service worker serves the shell) shows what was last seen, marked stale by
// the header, instead of an empty page.
import { state, subscribe, changed } from "./store.js";

const KEY = "sl.last_known";
const EVERY_MS = 5000;
let savedAt = 0, timer = null;

function save() {
  timer = null;
  savedAt = Date.now();
  if (!state.session || !state.devices.size) return;
  try {
    localStorage.setItem(KEY, JSON.stringify({ at: state.lastDataAt, devices: [...state.devices.values()],
                                               alarms: [...state.alarms.values()] }));
  } catch { /* storage full or private mode: nothing kept */ }
}

/** Load what was kept (when nothing came from the stream yet), then keep it up to date. */
export function keepLastKnown() {
  if (!state.devices.size && state.session) {
    try {
      const kept = JSON.parse(localStorage.getItem(KEY) || "null");
      if (kept && Array.isArray(kept.devices)) {
        state.devices = new Map(kept.devices.map((d) => [d.id, d]));
        state.alarms = new Map((kept.alarms || []).map((a) => [a.id, a]));
        if (kept.at) state.lastDataAt = new Date(kept.at);
        changed();
      }
    } catch { /* a damaged copy: start empty */ }
  }
  subscribe(() => {
    if (!state.session) { try { localStorage.removeItem(KEY); } catch { /* nothing kept */ } return; }
    if (timer === null && state.conn === "live") timer = setTimeout(save, Math.max(0, EVERY_MS - (Date.now() - savedAt)));
  });
}
