#!/usr/bin/env bash
# Refresh the third-party browser files in static/vendor/ from the npm registry (pinned versions).
# The files are committed, so running the tool needs no npm; run this only to upgrade them.
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX=2.0.11
KATEX=0.16.47
CHARTJS=4.6.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "katex@$KATEX" "chart.js@$CHARTJS" >/dev/null)
tar -xzf "$work/htmx.org-$HTMX.tgz" -C "$work" && mkdir -p static/vendor/htmx
cp "$work/package/dist/htmx.min.js" "$work/package/LICENSE" static/vendor/htmx/
rm -rf "$work/package"
tar -xzf "$work/katex-$KATEX.tgz" -C "$work"
rm -rf static/vendor/katex && mkdir -p static/vendor/katex/contrib
cp "$work/package/dist/katex.min.js" "$work/package/dist/katex.min.css" "$work/package/LICENSE" static/vendor/katex/
cp "$work/package/dist/contrib/auto-render.min.js" static/vendor/katex/contrib/
cp -r "$work/package/dist/fonts" static/vendor/katex/
rm -rf "$work/package"
tar -xzf "$work/chart.js-$CHARTJS.tgz" -C "$work"
rm -rf static/vendor/chartjs && mkdir -p static/vendor/chartjs
cp "$work/package/dist/chart.umd.min.js" "$work/package/LICENSE.md" static/vendor/chartjs/
printf 'htmx.org %s\nkatex %s\nchart.js %s\n' "$HTMX" "$KATEX" "$CHARTJS" > static/vendor/VERSIONS
echo "vendored htmx $HTMX, katex $KATEX and chart.js $CHARTJS into static/vendor/"
