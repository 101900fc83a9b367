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
# With IMPORTED=1 (issue 13: keys imported from Zuplo), the Worker runs with
# IMPORTED_KEY_PATTERN set to Zuplo's key format, and the consumer holds an imported `zpka_`
# key (given as `apiKeys: [{"key": …}]` in its create body) beside its native keyward key.
# The two keys then run alternately against that one Worker for ROUNDS rounds (default 6; the
# order flips every round, so the machine's drift weighs on both alike), and the table gives
# each round's requests/s, imported vs native, and the ratio of the totals.
#
# Usage: [BASELINE_REV=rev | IMPORTED=1 [ROUNDS=n]] bench/edge.sh [seconds per route, default 10] [connections, default 8]
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

# One wrk run: name, then wrk's arguments; prints "name rps p50 p99".
run() {
  local name=$1; shift
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")
  echo "$name $(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out")"
}

# Creates bucket `default` and consumer `bench` with a native key (and the keys in JSON list
# $1, as `apiKeys`); prints the native key. Needs bench/worker.sh sourced.
consumer_with_key() {
  curl -s -X POST "$API/key-buckets" -H "$AUTH" -d '{"name":"default"}' >/dev/null
  curl -s -X POST "$API/key-buckets/default/consumers?with-api-key=true" -H "$AUTH" \
    -d "{\"name\":\"bench\",\"metadata\":{\"plan\":\"gold\"}${1:+,\"apiKeys\":$1}}" |
    python3 -c 'import json,sys; print([k["key"] for k in json.load(sys.stdin)["apiKeys"] if k["key"].startswith("kw_")][0])'
}

# The gateway's status for key $1.
status_for() {
  curl -s -o /dev/null -w '%{http_code}' "$BASE/x" -H "Authorization: Bearer $1"
}

# Runs the three routes against bundle $1; prints "route rps p50 p99" lines.
measure() (
  BENCH_BUNDLE=$1
  . bench/worker.sh
  key=$(consumer_with_key)
  bad="${key%?}$( [ "${key: -1}" = A ] && echo B || echo A )"
  # Sanity: the routes answer as expected before measuring.
  [ "$(status_for "$key")" = 200 ]
  [ "$(status_for "$bad")" = 401 ]
  run health "$BASE/_keyward/health"
  run valid-key -H "Authorization: Bearer $key" "$BASE/orders"
  run invalid-key -H "Authorization: Bearer $bad" "$BASE/orders"
)

# IMPORTED=1: a native and an imported key on one Worker, alternating for $ROUNDS rounds;
# prints "round route rps p50 p99" lines.
imported_vs_native() (
  BENCH_VARS='IMPORTED_KEY_PATTERN=^zpka_[0-9a-f]{32}_[0-9a-f]{8}$'
  . bench/worker.sh
  # A key in Zuplo's format: 32 random hex digits and the CRC-32 of them in 8.
  zpka=$(python3 -c 'import secrets, zlib; b = secrets.token_hex(16); print(f"zpka_{b}_{zlib.crc32(b.encode()):08x}")')
  key=$(consumer_with_key "[{\"key\":\"$zpka\"}]")
  [ "$(status_for "$key")" = 200 ]
  [ "$(status_for "$zpka")" = 200 ]
  [ "$(status_for "zpka_ffffffffffffffffffffffffffffffff_00000000")" = 401 ]
  for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="native imported"; else order="imported native"; fi
    for route in $order; do
      if [ "$route" = native ]; then k=$key; else k=$zpka; fi
      echo "$round $(run "$route" -H "Authorization: Bearer $k" "$BASE/orders")"
    done
  done
)

current="$PWD/worker/build/index.js"
if [ -n "${IMPORTED:-}" ]; then
  ROUNDS=${ROUNDS:-6}
  results=$(imported_vs_native)
  echo "| round | native key requests/s | imported key requests/s | imported vs native | native p99 | imported p99 |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
  for round in $(seq 1 "$ROUNDS"); do
    read -r _ _ n_rps _ n_p99 <<<"$(grep "^$round native " <<<"$results")"
    read -r _ _ i_rps _ i_p99 <<<"$(grep "^$round imported " <<<"$results")"
    echo "| $round | $n_rps | $i_rps | $(python3 -c "print(f'{$i_rps/$n_rps:.3f}')") | $n_p99 | $i_p99 |"
  done
  awk '$2=="native" {n+=$3} $2=="imported" {i+=$3} END {printf "| all | %.2f | %.2f | %.3f | | |\n", n, i, i/n}' <<<"$results"
  echo
  echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s per key and round, the order flipped every round; $(nproc) cores; $(date -u +%Y-%m-%d)"
  exit 0
fi
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
