#!/usr/bin/env bash
# Developer-API benchmark: bulk vs one-by-one creation and tag-filtered listing of N
# consumers (default 10,000) against the local Worker, in one run. See bench/api.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/worker.sh
python3 bench/api.py "$BASE" bench-token "${1:-10000}"
