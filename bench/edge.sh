#!/usr/bin/env bash
# Edge load test: drives the local Worker (workerd via wrangler dev, local KV) with wrk and
# compares, in one run, the health route (no KV, no crypto) with a request carrying a valid
# key (checksum + HMAC + in-isolate cache hit) and one carrying an invalid key (checksum
# rejection, no KV). Prints a markdown table for BENCHMARKS.md.
#
# With BASELINE_REV set (a git revision), the same routes also run against that revision's
# bundle (built once into target/bench-baseline/REV), alternating baseline and current
# twice, and the table adds each route's requests/s as a ratio to the baseline's.
#
# Usage: [BASELINE_REV=rev] bench/edge.sh [seconds per route, default 10] [connections, default 8]
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

# Builds revision $1's bundle once; prints the path of its index.js.
baseline_bundle() {
  local rev out tree
  rev=$(git rev-parse --short "$1")
  out="$PWD/target/bench-baseline/$rev"
  if [ ! -f "$out/index.js" ]; then
    tree=$(mktemp -d)
    git worktree add -q --detach "$tree" "$rev" >&2
    # The main target directory: the dependencies are compiled already.
    (cd "$tree/worker" && CARGO_TARGET_DIR="$OLDPWD/target" worker-build --release >&2)
    mkdir -p "$out" && cp -r "$tree/worker/build/." "$out/"
    git worktree remove --force "$tree" >&2
  fi
  echo "$out/index.js"
}

# Runs the three routes against bundle $1; prints "route rps p50 p99" lines.
measure() (
  BENCH_BUNDLE=$1
  . bench/worker.sh
  api="$API/key-buckets"
  curl -s -X POST "$api" -H "$AUTH" -d '{"name":"default"}' >/dev/null
  key=$(curl -s -X POST "$api/default/consumers?with-api-key=true" -H "$AUTH" \
    -d '{"name":"bench","metadata":{"plan":"gold"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKeys"][0]["key"])')
  bad="${key%?}$( [ "${key: -1}" = A ] && echo B || echo A )"
  # Sanity: the routes answer as expected before measuring.
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/x" -H "Authorization: Bearer $key")" = 200 ]
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/x" -H "Authorization: Bearer $bad")" = 401 ]
  run() { # name, then wrk arguments
    local name=$1; shift
    local out
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")
    echo "$name $(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out")"
  }
  run health "$BASE/_keyward/health"
  run valid-key -H "Authorization: Bearer $key" "$BASE/orders"
  run invalid-key -H "Authorization: Bearer $bad" "$BASE/orders"
)

current="$PWD/worker/build/index.js"
if [ -z "${BASELINE_REV:-}" ]; then
  results=$(measure "$current")
  base_rps=$(awk '$1=="health" {print $2}' <<<"$results")
  echo "| route | requests/s | p50 | p99 | rps vs health |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  while read -r name rps p50 p99; do
    echo "| $name | $rps | $p50 | $p99 | $(python3 -c "print(f'{$rps/$base_rps:.2f}')") |"
  done <<<"$results"
  echo
  echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s per route; $(nproc) cores; $(date -u +%Y-%m-%d)"
  exit 0
fi

baseline=$(baseline_bundle "$BASELINE_REV")
rev=$(git rev-parse --short "$BASELINE_REV")
all=""
for round in 1 2; do
  all+=$(measure "$baseline" | sed "s/^/baseline $round /")$'\n'
  all+=$(measure "$current" | sed "s/^/current $round /")$'\n'
done
echo "| round | route | baseline ($rev) requests/s | current requests/s | current vs baseline | baseline p99 | current p99 |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
for round in 1 2; do
  for route in health valid-key invalid-key; do
    read -r _ _ _ b_rps _ b_p99 <<<"$(grep "^baseline $round $route " <<<"$all")"
    read -r _ _ _ c_rps _ c_p99 <<<"$(grep "^current $round $route " <<<"$all")"
    echo "| $round | $route | $b_rps | $c_rps | $(python3 -c "print(f'{$c_rps/$b_rps:.2f}')") | $b_p99 | $c_p99 |"
  done
done
echo
echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s per route and bundle, baseline and current alternating; $(nproc) cores; $(date -u +%Y-%m-%d)"
