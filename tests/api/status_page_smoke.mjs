// Runs the status page's app.js under Node against a real API (URL in argv[2]), with a minimal DOM stand-in:
// log in through the form, wait for the live fleet from the SSE stream, check the rendering, press "flash" on a
// signal, switch the language. Prints one JSON line with what it saw; exits non-zero on any failure.
import { readFileSync } from "node:fs";
import vm from "node:vm";

const [base, user, password, appPath] = process.argv.slice(2);

class El {
  constructor(tag) {
    Object.assign(this, { tagName: tag, children: [], listeners: {}, attrs: {}, dataset: {}, hidden: false,
                          textContent: "", className: "", value: "", placeholder: "" });
  }
  append(...items) {
    for (const c of items) this.children.push(typeof c === "string" ? Object.assign(new El("#text"), { textContent: c }) : c);
  }
  replaceChildren(...items) { this.children = []; this.append(...items); }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  setAttribute(k, v) { this.attrs[k] = v; }
  reset() {}
  fire(type) { for (const fn of this.listeners[type] || []) fn({ preventDefault() {}, target: this }); }
  text() { return [this.textContent, ...this.children.map((c) => c.text())].join(" "); }
  all(pred, out = []) { if (pred(this)) out.push(this); for (const c of this.children) c.all(pred, out); return out; }
}

const ids = ["conn", "lang", "logout", "login", "login-error", "who", "fleet", "filter", "summary", "notice", "devices"];
const nodes = Object.fromEntries(ids.map((id) => [id, new El(id)]));
nodes.login._fields = [["username", user], ["password", password]];
const store = () => { const m = new Map(); return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)),
                                                     clear: () => m.clear() }; };
const calls = [];
const realFetch = globalThis.fetch;
Object.assign(globalThis, {
  document: { getElementById: (id) => nodes[id], createElement: (tag) => new El(tag), documentElement: {},
              querySelectorAll: () => [] },
  sessionStorage: store(), localStorage: store(), window: { confirm: () => true },
  requestAnimationFrame: (fn) => setTimeout(fn, 0),
  FormData: class { constructor(form) { this.pairs = form._fields; } [Symbol.iterator]() { return this.pairs[Symbol.iterator](); } },
  fetch: (url, opts = {}) => { calls.push([opts.method || "GET", String(url)]); return realFetch(new URL(url, base), opts); },
});

async function until(what, check, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) { const v = check(); if (v) return v; await new Promise((r) => setTimeout(r, 20)); }
  throw new Error(`timed out waiting for ${what}`);
}

try {
  vm.runInThisContext(readFileSync(appPath, "utf8"), { filename: "app.js" });
  if (nodes.login.hidden) throw new Error("login form not shown before login");
  nodes.login.fire("submit");
  await until("the fleet", () => !nodes.fleet.hidden && nodes.devices.children.length >= 2);
  await until("states", () => nodes.devices.all((e) => e.className === "dot green").length > 0);
  const cards = nodes.devices.children;
  const signal = cards.find((c) => c.text().includes("tsc-000"));
  const flash = signal.all((e) => e.tagName === "button" && e.textContent === "Nhấp nháy 30 phút")[0];
  if (!flash) throw new Error("no flash button on the signal card");
  flash.fire("click");
  await until("the command to be accepted", () => nodes.devices.text().includes("Đang chờ"));
  const cabinet = nodes.devices.children.find((c) => c.text().includes("lc-000"));
  const circuits = cabinet.all((e) => e.className.startsWith("lamp")).length;
  nodes.lang.fire("click");
  await until("English labels", () => nodes.devices.text().includes("Signal controller"));
  console.log(JSON.stringify({
    devices: nodes.devices.children.length, conn: nodes.conn.className, who: nodes.who.textContent, circuits,
    summary: nodes.summary.textContent, posted: calls.filter(([m]) => m === "POST").map(([, u]) => u),
    reasons: nodes.devices.all((e) => e.className === "reason").map((e) => e.textContent.trim()),
  }));
  process.exit(0);
} catch (err) {
  console.error(String(err && err.stack || err));
  process.exit(1);
}
