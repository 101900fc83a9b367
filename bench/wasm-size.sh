#!/usr/bin/env bash
# Size of the Worker's wasm as deployed (after wasm-opt), raw and gzipped. Needs `make worker`.
set -euo pipefail
cd "$(dirname "$0")/.."
wasm=worker/build/index_bg.wasm
[ -f "$wasm" ] || { echo "bench: run make worker first" >&2; exit 1; }
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
js=$(stat -c %s worker/build/index.js)
echo "| artefact | bytes | gzip -9 |"
echo "| --- | ---: | ---: |"
echo "| index_bg.wasm | $raw | $gz |"
echo "| index.js | $js | $(gzip -9 -c worker/build/index.js | wc -c) |"
# The managers' portal page, as the Worker serves it (each file gzipped, as a browser gets it).
page=0; page_gz=0
for f in portal/index.html portal/portal.css portal/portal.js; do
  page=$((page + $(stat -c %s "$f"))); page_gz=$((page_gz + $(gzip -9 -c "$f" | wc -c)))
done
echo "| portal page (index.html + portal.css + portal.js) | $page | $page_gz |"
