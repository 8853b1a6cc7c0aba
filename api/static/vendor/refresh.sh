#!/usr/bin/env bash
# Refresh the vendored browser libraries from the npm registry, at the pinned versions below.
# The web UI has no build step and loads nothing from a CDN: these files are served by the API as they are.
# To upgrade, change a version here, run this script, read the diff and run the browser tests (tests/browser).
set -euo pipefail

PREACT=10.29.8
HTM=3.1.1
AXE=4.14.1   # for the browser tests only (accessibility check), never served
UPLOT=1.6.32   # time-series charts (api/static/charts.js)
LEAFLET=1.9.4  # maps (api/static/map.js)

here="$(cd "$(dirname "$0")" && pwd)"
tests_vendor="$here/../../../tests/browser/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "preact@$PREACT" "htm@$HTM" "axe-core@$AXE" "uplot@$UPLOT" "leaflet@$LEAFLET" >/dev/null
for pkg in "preact-$PREACT" "htm-$HTM" "axe-core-$AXE" "uplot-$UPLOT" "leaflet-$LEAFLET"; do
    mkdir -p "$pkg" && tar xzf "$pkg.tgz" -C "$pkg"
done

mkdir -p "$here/preact" "$here/htm" "$here/uplot" "$here/leaflet/images" "$tests_vendor"
cp "preact-$PREACT/package/dist/preact.module.js" "$here/preact/preact.module.js"
# Browsers resolve no bare specifiers without an import map (and the page's CSP forbids inline scripts): point
# the hooks module at its sibling file instead of "preact".
sed 's/from"preact"/from"\.\/preact.module.js"/g' "preact-$PREACT/package/hooks/dist/hooks.module.js" \
    > "$here/preact/hooks.module.js"
cp "preact-$PREACT/package/LICENSE" "$here/preact/LICENSE"
cp "htm-$HTM/package/dist/htm.module.js" "$here/htm/htm.module.js"
cp "htm-$HTM/package/LICENSE" "$here/htm/LICENSE"
cp "uplot-$UPLOT/package/dist/uPlot.esm.js" "$here/uplot/uPlot.esm.js"
cp "uplot-$UPLOT/package/dist/uPlot.min.css" "$here/uplot/uPlot.min.css"
cp "uplot-$UPLOT/package/LICENSE" "$here/uplot/LICENSE"
# Leaflet's ES module build (no globals needed), its stylesheet and the images the stylesheet names.
cp "leaflet-$LEAFLET/package/dist/leaflet-src.esm.js" "$here/leaflet/leaflet-src.esm.js"
cp "leaflet-$LEAFLET/package/dist/leaflet.css" "$here/leaflet/leaflet.css"
cp "leaflet-$LEAFLET/package/dist/images/"*.png "$here/leaflet/images/"
cp "leaflet-$LEAFLET/package/LICENSE" "$here/leaflet/LICENSE"
cp "axe-core-$AXE/package/axe.min.js" "$tests_vendor/axe.min.js"
cp "axe-core-$AXE/package/LICENSE" "$tests_vendor/axe-core.LICENSE"

cat > "$here/VERSIONS" <<VERSIONS
preact $PREACT MIT
htm $HTM Apache-2.0
uplot $UPLOT MIT
leaflet $LEAFLET BSD-2-Clause
axe-core $AXE MPL-2.0 (tests/browser/vendor)
VERSIONS
grep -q 'from"preact"' "$here/preact/hooks.module.js" && { echo "refresh: bare import left in hooks" >&2; exit 1; }
grep -q '^import ' "$here/uplot/uPlot.esm.js" "$here/leaflet/leaflet-src.esm.js" && { echo "refresh: bare import in uplot/leaflet" >&2; exit 1; }
echo "vendored: preact $PREACT, htm $HTM, uplot $UPLOT, leaflet $LEAFLET, axe-core $AXE"
