// Distances for the crew: great-circle distance between two points, in the language's format ("1,2 km",
// "350 m"), and a geo: URI that opens the phone's own navigation app.
import { fmtNum } from "./i18n.js";

const R_M = 6371008.8;  // mean Earth radius (IUGG), metres

/** Great-circle distance in metres between {lat, lon} points (haversine). */
export function distanceM(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** "350 m" below 1 km (to 10 m), else "1,2 km" (Vietnamese decimals) to 0.1 km. */
export function fmtDistance(m) {
  if (m === null || m === undefined || !Number.isFinite(m)) return "";
  if (m < 1000) return `${fmtNum(Math.round(m / 10) * 10)} m`;
  return `${fmtNum(m / 1000, 1)} km`;
}

/** A geo: URI (RFC 5870) with a label, which Android and iOS map apps open for navigation. */
export function geoUri(loc, label) {
  const ll = `${loc.lat.toFixed(6)},${loc.lon.toFixed(6)}`;
  return `geo:${ll}?q=${ll}(${encodeURIComponent(label || "")})`;
}

/** Where a device is: the stream's `location` (birth, else registry), else its birth's. */
export function deviceLocation(dev) {
  const loc = (dev && (dev.location || (dev.birth && dev.birth.location))) || null;
  return loc && Number.isFinite(loc.lat) && Number.isFinite(loc.lon) ? loc : null;
}
