// A map of devices: Leaflet (vendored, api/static/vendor/leaflet) on the tile server of the `map_tile_url` setting,
// or, without one, the same markers to scale on a plain background (equirectangular projection, x scaled by the
// cosine of the centre latitude, so distances are true around the centre) with a metric scale bar.
//
// API:  <${MapView} markers=${[{id, lat, lon, label, status, title?}]} onSelect=${(id) => ...}
//         here=${{lat, lon, label}} height=${520} label=${"Bản đồ nút giao"} tileUrl=${undefined} />
//   status colours the marker: ok | warn | alarm | flash | offline | unknown (also named in its text, never by
//   colour alone); onSelect(id) on click, Enter or Space (markers are focusable buttons); `here` is an optional
//   "you are here" point; tileUrl overrides the server setting ("" forces the no-tiles fallback). Markers are
//   patched in place when props change; the view fits all points the first time and when the set of ids changes.
import { html, useEffect, useRef, useState } from "./lib.js";
import * as L from "./vendor/leaflet/leaflet-src.esm.js";
import { t } from "./i18n.js";
import { ensureCss } from "./charts.js";
import "./i18n/charts.js";

let configPromise = null;

/** The UI settings of the server (`GET /api/v1/ui-config`), fetched once. */
export function uiConfig() {
  if (!configPromise) {
    configPromise = fetch("/api/v1/ui-config").then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
  }
  return configPromise;
}

/** Equirectangular CRS around latitude `lat0`: 1 unit = 1° of latitude = 1°·cos(lat0) of longitude. */
export function flatCrs(lat0) {
  const k = Math.cos((lat0 * Math.PI) / 180);
  return L.extend({}, L.CRS.Simple, {
    projection: {
      project: (ll) => L.point(ll.lng * k, ll.lat),
      unproject: (p) => L.latLng(p.y, p.x / k),
      bounds: L.bounds([-180 * k, -90], [180 * k, 90]),
    },
    distance: L.CRS.Earth.distance, R: L.CRS.Earth.R,  // metres, for the scale bar
  });
}

const STATUSES = new Set(["ok", "warn", "alarm", "flash", "offline", "unknown"]);

function icon(m) {
  const el = document.createElement("span");
  el.className = "map-pin-inner";
  const dot = document.createElement("span");
  dot.className = "map-dot";
  dot.setAttribute("aria-hidden", "true");
  const label = document.createElement("span");
  label.className = "map-label";
  label.textContent = m.label;
  el.append(dot, label);
  const status = STATUSES.has(m.status) ? m.status : "unknown";
  return L.divIcon({ html: el, className: `map-marker map-${status}`, iconSize: null, iconAnchor: [9, 9] });
}

function decorate(marker, m) {
  const el = marker.getElement();
  if (!el) return;
  el.dataset.id = m.id;
  el.dataset.status = m.status || "unknown";
  el.setAttribute("aria-label", m.title || m.label);
  el.removeAttribute("title");
}

export function MapView({ markers, onSelect, here, height = 520, label, tileUrl }) {
  ensureCss("/static/vendor/leaflet/leaflet.css");
  const box = useRef(null);
  const map = useRef(null);
  const layers = useRef(new Map());
  const hereLayer = useRef(null);
  const fittedIds = useRef("");
  const select = useRef(onSelect);
  select.current = onSelect;
  const [config, setConfig] = useState(tileUrl === undefined ? null : { map_tile_url: tileUrl });
  useEffect(() => {
    if (tileUrl !== undefined) { setConfig({ map_tile_url: tileUrl }); return undefined; }
    let live = true;
    uiConfig().then((c) => { if (live) setConfig(c); });
    return () => { live = false; };
  }, [tileUrl]);
  const url = config ? config.map_tile_url || "" : null;
  const points = markers.filter((m) => Number.isFinite(m.lat) && Number.isFinite(m.lon));
  const lat0 = points.length ? points.reduce((s, m) => s + m.lat, 0) / points.length : (here ? here.lat : 0);

  // the map itself: made again only when the tile mode changes (or the fallback's centre latitude)
  const crsKey = url ? "tiles" : `flat:${lat0.toFixed(2)}`;
  useEffect(() => {
    if (url === null || !box.current) return undefined;
    const m = L.map(box.current, {
      crs: url ? L.CRS.EPSG3857 : flatCrs(lat0), attributionControl: !!url, zoomSnap: 0.25,
      minZoom: url ? 2 : 0, maxZoom: url ? 19 : 24, keyboard: true,
    });
    if (url) {
      m.attributionControl.setPrefix(false);
      L.tileLayer(url, { attribution: config.map_tile_attribution || "", maxZoom: 19 }).addTo(m);
    }
    L.control.scale({ imperial: false }).addTo(m);
    m.setView([lat0, points.length ? points[0].lon : 0], url ? 13 : 14);
    map.current = m;
    fittedIds.current = "";
    const ro = new ResizeObserver(() => m.invalidateSize());
    ro.observe(box.current);
    return () => { ro.disconnect(); m.remove(); map.current = null; layers.current = new Map(); hereLayer.current = null; };
  }, [crsKey, url === null]);

  // markers: patched in place
  useEffect(() => {
    const m = map.current;
    if (!m) return;
    const seen = new Set();
    for (const p of points) {
      seen.add(p.id);
      const key = `${p.label}|${p.status}|${p.title || ""}`;
      let entry = layers.current.get(p.id);
      if (!entry) {
        const mk = L.marker([p.lat, p.lon], { icon: icon(p), keyboard: true, riseOnHover: true }).addTo(m);
        mk.on("click", () => select.current && select.current(mk.options.sid));
        const el = mk.getElement();
        el.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select.current && select.current(mk.options.sid); }
        });
        entry = { mk, key };
        layers.current.set(p.id, entry);
      } else if (entry.key !== key) {
        entry.mk.setIcon(icon(p));
        entry.key = key;
      }
      entry.mk.options.sid = p.id;
      entry.mk.setLatLng([p.lat, p.lon]);
      decorate(entry.mk, p);
    }
    for (const [id, entry] of layers.current) {
      if (!seen.has(id)) { entry.mk.remove(); layers.current.delete(id); }
    }
    if (hereLayer.current) { hereLayer.current.remove(); hereLayer.current = null; }
    if (here && Number.isFinite(here.lat) && Number.isFinite(here.lon)) {
      hereLayer.current = L.circleMarker([here.lat, here.lon], {
        radius: 8, color: "#fff", weight: 3, fillColor: "#1d4ed8", fillOpacity: 1, interactive: false,
        className: "map-here",
      }).addTo(m).bindTooltip(here.label || t("map_here"), { permanent: true, direction: "top" });
    }
    const ids = points.map((p) => p.id).sort().join(",");
    if (ids !== fittedIds.current) {
      fittedIds.current = ids;
      const all = points.map((p) => [p.lat, p.lon]);
      if (here && Number.isFinite(here.lat)) all.push([here.lat, here.lon]);
      if (all.length === 1) m.setView(all[0], url ? 16 : 18);
      else if (all.length > 1) m.fitBounds(L.latLngBounds(all), { padding: [60, 60], maxZoom: url ? 18 : 22 });
    }
  });

  return html`<div class="map-view" data-tiles=${url === null ? "" : url ? "yes" : "no"}>
    ${url === "" && html`<p class="muted small map-note">${t("map_no_tiles")}</p>`}
    <div class="map-box" ref=${box} role="region" aria-label=${label || t("map")} style=${{ height: `${height}px` }}></div>
    ${points.length < markers.length && html`<p class="muted small">${t("map_unplaced", { n: markers.length - points.length })}</p>`}
  </div>`;
}
