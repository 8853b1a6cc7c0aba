// Paths into a plan as the validator names them: `phases[1].yellow_s`, `patterns[0].splits_s.4`, `week.mon`.
export function tokens(path) {
  const out = [];
  for (const part of path.split(".")) {
    const m = part.match(/^([^[\]]*)((?:\[\d+\])*)$/);
    if (!m) { out.push(part); continue; }
    if (m[1]) out.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

export function getAt(obj, path) {
  let cur = obj;
  for (const k of tokens(path)) { if (cur === null || cur === undefined) return undefined; cur = cur[k]; }
  return cur;
}

/** A copy of `obj` with `value` at `path` (undefined removes the key); the parts on the way are copied. */
export function setAt(obj, path, value) {
  const keys = tokens(path);
  const root = Array.isArray(obj) ? [...obj] : { ...obj };
  let cur = root;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) {
      if (value === undefined && !Array.isArray(cur)) delete cur[k]; else cur[k] = value;
      return;
    }
    const next = cur[k];
    cur[k] = Array.isArray(next) ? [...next] : next && typeof next === "object" ? { ...next } : (typeof keys[i + 1] === "number" ? [] : {});
    cur = cur[k];
  });
  return root;
}

/** The path one level up: `patterns[0].splits_s.4` → `patterns[0].splits_s` → `patterns[0]` → `patterns` → "". */
export function parentPath(path) {
  if (!path) return null;
  const m = path.match(/^(.*)(\[\d+\]|\.[^.[\]]+)$/);
  return m ? m[1] : "";
}

/** Group issues by the nearest path shown on screen (`shown`), so each lands at its field or its block. */
export function placeIssues(issues, shown) {
  const at = new Map();
  for (const issue of issues) {
    let p = issue.path || "";
    while (p !== null && !shown.has(p)) p = parentPath(p);
    const key = p === null ? "" : p;
    if (!at.has(key)) at.set(key, []);
    at.get(key).push(issue);
  }
  return at;
}
