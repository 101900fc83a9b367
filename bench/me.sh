#!/usr/bin/env bash
# Self-serve benchmark: GET /v1/me/consumers for managers of 1, 10 and 100 consumers against
# the local Worker, in one run (see bench/me.py). Needs `make worker` and `make cli`.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/worker.sh
tokens=()
for n in 1 10 100; do
  tokens+=("$(PORTAL_JWT_SECRET=bench-portal-secret-of-at-least-32-bytes target/debug/keyward portal-token --email "m$n@bench.example" --ttl 1h)")
done
python3 bench/me.py "$BASE" bench-token "${1:-200}" "${tokens[@]}"
