#!/usr/bin/env bash
# Per-consumer limits (issue 14) against the local Worker (workerd via wrangler dev, its
# limits objects in local Durable Object storage). Two measurements, one Worker:
#
# 1. Limits on vs off: wrk alternates, for ROUNDS rounds (default 6, the order flipped every
#    round), a consumer without limits and one with a limit it stays far below
#    (10,000,000 requests a minute: every request goes through the leases); the table gives
#    each round's requests/s and the ratio of the totals.
# 2. Calls to the limits objects per 1,000 verified requests, for consumers limited to 60,
#    600 and 6,000 requests a minute: once at the consumer's own pace for PACED seconds
#    (default 60; bench/paced.py, one keep-alive connection), once flooded by wrk for the
#    same time (mostly 429s, which a refused isolate answers without a call). Calls are the
#    objects' own count (`limiterCalls` of GET …/usage).
#
# Usage: [ROUNDS=n] [PACED=s] bench/limits.sh [seconds per wrk run, default 10] [connections, default 8]
# Needs the bundle (make worker) and wrk (installed here from Debian if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${2:-8}
ROUNDS=${ROUNDS:-6}
PACED=${PACED:-60}

if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

. bench/worker.sh

# Consumer $1 with metadata $2; prints its key.
consumer() {
  curl -s -X POST "$API/key-buckets/default/consumers?with-api-key=true" -H "$AUTH" \
    -d "{\"name\":\"$1\",\"metadata\":$2}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKeys"][0]["key"])'
}

# wrk against key $1 for $2 seconds; prints "requests/s p99 requests non-2xx".
load() {
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${2}s" --latency -H "Authorization: Bearer $1" "$BASE/orders")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out") $(awk '/requests in/ {print $1}' <<<"$out") $(awk '/Non-2xx/ {print $NF} END {}' <<<"$out" | head -1)"
}

# The limits object's calls so far for consumer $1.
calls() {
  curl -s "$API/key-buckets/default/consumers/$1/usage" -H "$AUTH" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["limiterCalls"])'
}

curl -s -X POST "$API/key-buckets" -H "$AUTH" -d '{"name":"default"}' >/dev/null
off=$(consumer unlimited '{"plan":"gold"}')
on=$(consumer far-below '{"rateLimit":{"requestsPerMinute":10000000}}')
for k in "$off" "$on"; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/orders" -H "Authorization: Bearer $k")" = 200 ]
done

echo "### Limits on vs off"
echo
echo "| round | off requests/s | on requests/s | on vs off | off p99 | on p99 |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
total_off=0; total_on=0
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    read -r off_rps off_p99 _ <<<"$(load "$off" "$DURATION")"
    read -r on_rps on_p99 _ <<<"$(load "$on" "$DURATION")"
  else
    read -r on_rps on_p99 _ <<<"$(load "$on" "$DURATION")"
    read -r off_rps off_p99 _ <<<"$(load "$off" "$DURATION")"
  fi
  total_off=$(python3 -c "print(round($total_off + $off_rps, 2))")
  total_on=$(python3 -c "print(round($total_on + $on_rps, 2))")
  echo "| $round | $off_rps | $on_rps | $(python3 -c "print(f'{$on_rps/$off_rps:.3f}')") | $off_p99 | $on_p99 |"
done
echo "| all | $total_off | $total_on | $(python3 -c "print(f'{$total_on/$total_off:.3f}')") | | |"
echo
echo "Calls of the far-below consumer's object: $(calls far-below) for all its rounds."
echo
echo "### Calls to the limits object per 1,000 verified requests"
echo
echo "| limit / min | paced: sent | admitted | calls | per 1,000 | flooded: sent | admitted | calls | per 1,000 |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for limit in 60 600 6000; do
  paced_key=$(consumer "paced-$limit" "{\"rateLimit\":{\"requestsPerMinute\":$limit}}")
  read -r p_sent p_ok _ <<<"$(python3 bench/paced.py "$BASE" "$paced_key" "$limit" "$PACED")"
  p_calls=$(calls "paced-$limit")
  flood_key=$(consumer "flood-$limit" "{\"rateLimit\":{\"requestsPerMinute\":$limit}}")
  read -r _ _ f_sent f_refused <<<"$(load "$flood_key" "$PACED")"
  f_calls=$(calls "flood-$limit")
  f_ok=$((f_sent - ${f_refused:-0}))
  echo "| $limit | $p_sent | $p_ok | $p_calls | $(python3 -c "print(f'{$p_calls*1000/$p_sent:.1f}')") | $f_sent | $f_ok | $f_calls | $(python3 -c "print(f'{$f_calls*1000/$f_sent:.2f}')") |"
done
echo
echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s per consumer and round; paced and flooded runs ${PACED}s each; $(nproc) cores; $(date -u +%Y-%m-%d)"
