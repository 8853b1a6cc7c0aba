#!/bin/sh
# Refresh the Swagger UI assets that /docs serves from the package (no CDN: the page runs under the UI's CSP).
# Usage: scripts/refresh-swagger-ui.sh [version]   (default: the pinned version below)
# npm checks the tarball against the registry's integrity hash; the LICENSE and the version travel with the files.
set -eu
VERSION="${1:-5.35.0}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$HERE/api/static/vendor/swagger-ui"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null)
tar -xzf "$WORK/swagger-ui-dist-$VERSION.tgz" -C "$WORK"
rm -rf "$DEST"
mkdir -p "$DEST"
for f in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE; do
    cp "$WORK/package/$f" "$DEST/$f"
done
INTEGRITY="$(cd "$WORK" && npm view "swagger-ui-dist@$VERSION" dist.integrity)"
printf 'swagger-ui-dist %s\nnpm integrity %s\nrefreshed by scripts/refresh-swagger-ui.sh\n' "$VERSION" "$INTEGRITY" \
    > "$DEST/VERSION"
echo "swagger-ui-dist $VERSION -> $DEST"
