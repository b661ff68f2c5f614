#!/usr/bin/env bash
# Renders a report in headless Chromium and saves a screenshot to look at.
#   tests/browser_check.sh <report-dir-or-index.html> [screenshot.png]
# Needs Debian's chromium (apt-get install -y chromium). Makes no network requests: the
# page and its charts are local files. The window is 1366 px wide (a laptop) and
# AEROCAST_SHOT_HEIGHT px tall (default 2400), for pages longer than one screen.
set -euo pipefail
target=${1:?usage: $0 <report dir or index.html> [out.png]}
[ -d "$target" ] && target="$target/index.html"
out=${2:-/tmp/report.png}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
  --hide-scrollbars --window-size=1366,${AEROCAST_SHOT_HEIGHT:-2400} --screenshot="$out" \
  "file://$(realpath "$target")" 2>/dev/null
file "$out"
echo "screenshot: $out"
