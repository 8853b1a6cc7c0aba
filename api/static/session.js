// Sign-in and every call to the API. Tokens live in sessionStorage (gone with the tab). A 401 refreshes once
// (single flight: the server rotates refresh tokens and treats a second use as theft); if that fails the session
// is over: the shell says so and shows the sign-in form, and nothing claims to be live.
import { state, changed } from "./store.js";

const ACCESS = "sl.access", REFRESH = "sl.refresh", WHO = "sl.user";

export function restore() {
  const who = JSON.parse(sessionStorage.getItem(WHO) || "null");
  state.session = sessionStorage.getItem(ACCESS) && who ? who : null;
  if (!state.session) state.conn = "signed_out";
  return state.session;
}

function keep(body) {
  sessionStorage.setItem(ACCESS, body.access_token);
  sessionStorage.setItem(REFRESH, body.refresh_token);
  const who = { user: body.user, role: body.role, scopes: body.scopes };
  sessionStorage.setItem(WHO, JSON.stringify(who));
  state.session = who;
}

export const accessToken = () => sessionStorage.getItem(ACCESS);

/** Sign in: null on success, else the i18n key of the reason. */
export async function signIn(username, password) {
  let r;
  try {
    r = await fetch("/api/v1/auth/token", { method: "POST", body: new URLSearchParams({ username, password }) });
  } catch {
    return "network_error";
  }
  if (!r.ok) return r.status === 429 || r.status === 423 ? "locked" : r.status === 401 || r.status === 400 ? "bad_login" : "network_error";
  keep(await r.json());
  state.notice = null;
  changed();
  return null;
}

let refreshing = null;
export function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const token = sessionStorage.getItem(REFRESH);
      if (!token) return false;
      try {
        const r = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" },
                                                        body: JSON.stringify({ refresh_token: token }) });
        if (!r.ok) return false;
        keep(await r.json());
        return true;
      } catch {
        return null;  // the network, not the session: keep the tokens and try again later
      }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** The session is over (refused refresh): forget it and say so. */
export function sessionLost(noticeKey = "session_lost") {
  sessionStorage.removeItem(ACCESS); sessionStorage.removeItem(REFRESH); sessionStorage.removeItem(WHO);
  state.session = null;
  state.conn = "signed_out";
  state.notice = noticeKey;
  changed();
}

export function signOut() {
  const token = sessionStorage.getItem(REFRESH);
  if (token) {
    fetch("/api/v1/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" },
                                   body: JSON.stringify({ refresh_token: token }) }).catch(() => {});
  }
  sessionLost(null);
}

/**
 * Call the API. Never throws: `{ok, status, body, problem}`; status 0 when the network failed. JSON bodies are
 * sent with `json`; problem+json answers come back in `problem` (detail, errors, warnings). `timeoutMs` bounds the
 * wait (a stalled mobile link).
 */
export async function api(path, { method = "GET", json, body, headers = {}, raw = false, timeoutMs = 0 } = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const h = { ...headers, Authorization: `Bearer ${accessToken()}` };
    let payload = body;
    if (json !== undefined) { h["Content-Type"] = "application/json"; payload = JSON.stringify(json); }
    let r;
    try {
      // timeoutMs: give up on a stalled link (the answer then counts as a network failure, status 0)
      r = await fetch(path, { method, headers: h, body: payload, ...(timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {}) });
    } catch {
      return { ok: false, status: 0, body: null, problem: { detail: null, network: true } };
    }
    if (r.status === 401 && attempt === 0) {
      const ok = await refresh();
      if (ok) continue;
      if (ok === false) sessionLost();
      return { ok: false, status: 401, body: null, problem: { detail: null } };
    }
    if (raw) return { ok: r.ok, status: r.status, body: r.ok ? await r.blob() : null, problem: r.ok ? null : await r.json().catch(() => ({})) };
    const data = await r.json().catch(() => null);
    return { ok: r.ok, status: r.status, body: r.ok ? data : null, problem: r.ok ? null : (data || {}) };
  }
  return { ok: false, status: 401, body: null, problem: {} };
}
