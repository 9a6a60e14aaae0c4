#!/usr/bin/env bash
# Refresh the third-party browser files in static/vendor/ from the npm registry (pinned versions).
# The files are committed, so running the tool needs no npm; run this only to upgrade them.
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX=2.0.11
KATEX=0.16.47
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "katex@$KATEX" >/dev/null)
tar -xzf "$work/htmx.org-$HTMX.tgz" -C "$work" && mkdir -p static/vendor/htmx
cp "$work/package/dist/htmx.min.js" "$work/package/LICENSE" static/vendor/htmx/
rm -rf "$work/package"
tar -xzf "$work/katex-$KATEX.tgz" -C "$work"
rm -rf static/vendor/katex && mkdir -p static/vendor/katex/contrib
cp "$work/package/dist/katex.min.js" "$work/package/dist/katex.min.css" "$work/package/LICENSE" static/vendor/katex/
cp "$work/package/dist/contrib/auto-render.min.js" static/vendor/katex/contrib/
cp -r "$work/package/dist/fonts" static/vendor/katex/
printf 'htmx.org %s\nkatex %s\n' "$HTMX" "$KATEX" > static/vendor/VERSIONS
echo "vendored htmx $HTMX and katex $KATEX into static/vendor/"
