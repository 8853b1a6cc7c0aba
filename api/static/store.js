// The shell's state, one object, and a change signal: views re-render from it and Preact patches only what
// changed. Changes are coalesced to one render per animation frame, whatever the event rate of the stream.
export const state = {
  lang: localStorage.getItem("sl.lang") === "en" ? "en" : "vi",
  tz: "Asia/Ho_Chi_Minh",
  session: null,          // {user, role, scopes} while signed in
  notice: null,           // a key of i18n shown once on the sign-in screen (e.g. session_lost)
  conn: "connecting",     // connecting | live | stale | offline | signed_out
  lastDataAt: null,       // Date of the last byte from the stream (events or heartbeats)
  devices: new Map(),     // id -> device as the API returns it, patched by stream events
  alarms: new Map(),      // id -> active alarm
  commands: new Map(),    // id -> command as last seen (stream `command` events)
  deployments: new Map(), // id -> deployment as last seen (stream `deployment` events)
  workOrders: new Map(),  // id -> {state, updated_at, ...} as last seen (stream `work_order` events)
  previews: new Map(),    // twin preview job id -> {id, state, progress} as last seen (stream `preview` events)
};

const listeners = new Set();
let queued = false;

export function subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); }

export function changed() {
  if (queued) return;
  queued = true;
  const run = () => { queued = false; for (const fn of listeners) fn(); };
  if (document.visibilityState === "visible") requestAnimationFrame(run); else setTimeout(run, 0);
}

export const can = (scope) => !!state.session && state.session.scopes.includes(scope);
