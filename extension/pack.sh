#!/bin/sh
# Builds both browsers' extensions from the one codebase:
#   dist/chromium/  unpacked (chrome://extensions → Load unpacked)   dist/passbridge-chrome.zip
#   dist/firefox/   unpacked (about:debugging → Load Temporary Add-on) dist/passbridge-firefox.xpi (unsigned)
# They differ only in manifest.json (manifests/chromium.json, manifests/firefox.json) and in
# Chrome's offscreen document (Firefox's background page has a DOM of its own).
# Needs node (to vendor tldts after `npm ci`) and zip.
set -eu
cd "$(dirname "$0")"

[ -d node_modules/tldts ] || { echo "pack.sh: run \`npm ci\` in extension/ first" >&2; exit 1; }
node scripts/vendor.js >/dev/null
rm -rf dist
for browser in chromium firefox; do
    out=dist/$browser
    mkdir -p "$out"
    cp -R src icons "$out/"
    cp "manifests/$browser.json" "$out/manifest.json"
    [ "$browser" = firefox ] && rm -rf "$out/src/offscreen"
    # Deterministic archives: fixed times, sorted entries, no extra attributes.
    find "$out" -exec touch -t 202001010000 {} +
done
(cd dist/chromium && find . -type f | sed 's|^\./||' | LC_ALL=C sort | zip -q -X -D ../passbridge-chrome.zip -@)
(cd dist/firefox && find . -type f | sed 's|^\./||' | LC_ALL=C sort | zip -q -X -D ../passbridge-firefox.xpi -@)
echo "dist/passbridge-chrome.zip ($(wc -c < dist/passbridge-chrome.zip) bytes), dist/passbridge-firefox.xpi ($(wc -c < dist/passbridge-firefox.xpi) bytes)"
echo "unpacked: dist/chromium/ and dist/firefox/"
