// The service worker of the phone app: it keeps the app shell (the page, its modules, styles and icons) so the app
// opens without network; the API is never cached here (the app keeps its own last known state, and live data and
// commands must never come from a cache). The API serves this file at /sw.js with SHELL (every file of the shell)
// and VERSION (a digest of them) set above this line, so a new release installs a new worker and a fresh cache.
/* global SHELL, VERSION */
const CACHE = `signalight-shell-${VERSION}`;
const NETWORK_WAIT_MS = 3000;  // a stalled link: the cached shell after this long

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(["/", ...SHELL])).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n.startsWith("signalight-shell-") && n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

function isShell(url) {
  return url.origin === self.location.origin && (url.pathname === "/" || url.pathname.startsWith("/static/")
    || url.pathname === "/manifest.webmanifest");
}

// Network first (a new release shows at once), the cache when the network fails or stalls.
async function shell(request) {
  const cache = await caches.open(CACHE);
  const key = new URL(request.url).pathname === "/" ? "/" : request;
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error("stalled")), NETWORK_WAIT_MS)),
    ]);
    if (response.ok) cache.put(key, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(key, { ignoreSearch: true });
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || !isShell(url)) return;  // the API and everything else: the network
  event.respondWith(shell(event.request));
});
