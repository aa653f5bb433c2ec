#!/usr/bin/env bash
# Opens a report.html (written by 'sparseswitch train', 'experiment' or 'report') in headless
# Chromium (Debian: apt-get install -y chromium), checks it and saves a screenshot of the whole
# page beside it (report.png), or at OUT.png.
#
#   tools/report_screenshot.sh runs/ast-20250101-120000/report.html [OUT.png] [WIDTH]
#
# Fails (exit 1) when the page logs anything to the browser console — a script error, or a request
# the page tried to make: the report's Content-Security-Policy refuses every fetch and Chromium logs
# each refusal — or when the browser does not lay out every chart (<svg>) of the file with a size.
# Set CHROMIUM to use another browser binary.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 3 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
[[ -f "$1" ]] || { echo "error: $1: no such file" >&2; exit 2; }
html=$(realpath "$1")
out=${2:-$(dirname "$html")/report.png}
width=${3:-1400}
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[[ -n "$browser" ]] || { echo "error: no Chromium found; install it (apt-get install -y chromium) or set CHROMIUM" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url="file://${html// /%20}"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --no-default-browser-check --user-data-dir="$tmp/profile")

# 1. Lay the page out at the screenshot's width inside a frame of a wrapper page, which writes into
#    its own title the page's height and how many charts the browser laid out with a size.
cat > "$tmp/measure.html" <<HTML
<!DOCTYPE html><html><head><title>none</title></head><body style="margin:0">
<iframe src="$url" style="width:${width}px;height:200px;border:0" onload="
  const d = this.contentDocument, svgs = [...d.querySelectorAll('svg')];
  document.title = 'height=' + d.documentElement.scrollHeight + ' svgs=' + svgs.length +
    ' drawn=' + svgs.filter(s => { const r = s.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length;
"></iframe></body></html>
HTML
title=$("$browser" "${flags[@]}" --allow-file-access-from-files --virtual-time-budget=10000 --dump-dom "file://$tmp/measure.html" 2>/dev/null \
    | grep -o '<title>height=[0-9]* svgs=[0-9]* drawn=[0-9]*</title>' || true)
[[ -n "$title" ]] || { echo "error: Chromium did not lay out $html" >&2; exit 1; }
read -r height svgs drawn <<< "$(sed -E 's/<title>height=([0-9]+) svgs=([0-9]+) drawn=([0-9]+)<\/title>/\1 \2 \3/' <<< "$title")"
in_file=$({ grep -o '<svg' "$html" || true; } | wc -l)
if [[ "$svgs" -ne "$in_file" || "$drawn" -ne "$in_file" ]]; then
    echo "error: the file holds $in_file charts; Chromium found $svgs and drew $drawn with a size" >&2
    exit 1
fi
if (( height > 16384 )); then height=16384; fi

# 2. The screenshot, with the console logged to standard error.
rm -f "$out"
if ! "$browser" "${flags[@]}" --enable-logging=stderr --v=0 --window-size="$width,$height" --screenshot="$out" "$url" 2> "$tmp/log"; then
    cat "$tmp/log" >&2
    echo "error: Chromium failed on $html" >&2
    exit 1
fi
console=$(grep -E 'CONSOLE[(:]' "$tmp/log" || true)
if [[ -n "$console" ]]; then
    echo "$console" >&2
    echo "error: $html logged $(wc -l <<< "$console") console message(s)" >&2
    exit 1
fi
[[ -s "$out" ]] || { echo "error: Chromium wrote no screenshot to $out" >&2; exit 1; }
echo "$out: ${width}×${height} screenshot of $html; $in_file charts drawn, no console messages"
