#!/usr/bin/env bash
# Edge load test: drives the local Worker (workerd via wrangler dev, local KV) with wrk and
# compares, in one run, the health route (no KV, no crypto) with a request carrying a valid
# key (checksum + HMAC + in-isolate cache hit) and one carrying an invalid key (checksum
# rejection, no KV). Prints a markdown table for BENCHMARKS.md.
#
# Usage: bench/edge.sh [seconds per route, default 10] [connections, default 8]
# Needs the bundle (make worker) and wrk (installed here from Debian if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${2:-8}
export WRANGLER_SEND_METRICS=false

if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
. bench/worker.sh
base=$BASE
api="$API/key-buckets"
auth=$AUTH
curl -s -X POST "$api" -H "$auth" -d '{"name":"default"}' >/dev/null
key=$(curl -s -X POST "$api/default/consumers?with-api-key=true" -H "$auth" \
  -d '{"name":"bench","metadata":{"plan":"gold"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKeys"][0]["key"])')
bad="${key%?}$( [ "${key: -1}" = A ] && echo B || echo A )"

# Sanity: the routes answer as expected before measuring.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/x" -H "Authorization: Bearer $key")" = 200 ]
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/x" -H "Authorization: Bearer $bad")" = 401 ]

run() { # name, then wrk arguments; prints "name rps p50 p99"
  local name=$1; shift
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "$name $rps $p50 $p99"
}

health=$(run health "$base/_keyward/health")
valid=$(run valid-key -H "Authorization: Bearer $key" "$base/orders")
invalid=$(run invalid-key -H "Authorization: Bearer $bad" "$base/orders")

base_rps=$(awk '{print $2}' <<<"$health")
echo "| route | requests/s | p50 | p99 | rps vs health |"
echo "| --- | ---: | ---: | ---: | ---: |"
for line in "$health" "$valid" "$invalid"; do
  read -r name rps p50 p99 <<<"$line"
  ratio=$(python3 -c "print(f'{$rps/$base_rps:.2f}')")
  echo "| $name | $rps | $p50 | $p99 | $ratio |"
done
echo
echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s per route; $(nproc) cores; $(date -u +%Y-%m-%d)"
