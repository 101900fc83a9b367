#!/usr/bin/env bash
# keys.yaml at scale: for generated files of N consumers (default 1000 10000 100000), measures
# `keyward validate` and, against the local Worker, `plan`, `sync`, `export` and `check`
# (wall time, peak memory, HTTP requests, KV writes): first a sync that creates everything,
# then a no-op plan and sync, a sync after changing one consumer, an export and the bucket's
# `$check`. Then three list requests, timed with curl (median of five): the first page of all
# consumers (the baseline), the first page of a tag filter, and a manager e-mail lookup.
# Prints markdown for BENCHMARKS.md.
#
# Usage: bench/sync.sh [N ...]      (needs `make worker`; builds the CLI in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
cargo build --release -q -p keyward
kw=$PWD/target/release/keyward
export BENCH_LOG_LEVEL=info   # wrangler logs one line per request: that is how requests are counted
. bench/worker.sh
export KEYWARD_URL="$BASE/_keyward" KEYWARD_TOKEN=bench-token KEYWARD_ACCOUNT=local
work=$(mktemp -d)
requests() { grep -c '_keyward/' "$bench_dir/log" || true; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# run CMD...: prints "seconds peak-MiB requests writes" of one command (peak memory from
# /usr/bin/time, writes from sync's stderr line `sync: N KV writes, M requests`)
run() {
  local before after start end writes kb
  before=$(requests)
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/mem" "$@" >"$work/out" 2>"$work/err" \
    || { [ $? -eq 2 ] || { cat "$work/err" >&2; exit 1; }; }
  end=$(date +%s.%N)
  sleep 0.5   # let wrangler flush its request log
  after=$(requests)
  writes=$(awk '/^sync: [0-9]+ KV writes/ {print $2}' "$work/err")
  kb=$(tail -n 1 "$work/mem")
  printf '%s %d %d %s\n' "$(secs "$start" "$end")" "$((kb / 1024))" "$((after - before))" "${writes:--}"
}

# get PATH: seconds (three decimals) of a GET below the account, the median of five, each
# answer checked
get() {
  local code times=()
  for _ in 1 2 3 4 5; do
    code=$(curl -s -o "$work/body" -w '%{http_code} %{time_total}' -H "$AUTH" "$API$1")
    [ "${code%% *}" = 200 ] || { echo "bench: GET $1: $code $(cat "$work/body")" >&2; exit 1; }
    times+=("${code#* }")
  done
  python3 -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])):.3f}")' "${times[@]}"
}

# count: how many consumers the last answer of get holds
count() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["data"]))' "$work/body"; }

echo "| consumers | step | wall time (s) | peak memory (MiB) | HTTP requests | KV writes |"
echo "| ---: | --- | ---: | ---: | ---: | ---: |"
for n in "${sizes[@]}"; do
  file="$work/keys-$n.yaml"
  bucket="bench-$n"
  python3 bench/gen_keys.py "$n" "$bucket" > "$file"
  read -r t m r w < <(run "$kw" validate "$file"); echo "| $n | validate | $t | $m | $r | - |"
  read -r t m r w < <(run "$kw" plan "$file"); echo "| $n | plan, empty Worker | $t | $m | $r | - |"
  read -r t m r w < <(run "$kw" sync "$file"); echo "| $n | sync, creating all | $t | $m | $r | $w |"
  read -r t m r w < <(run "$kw" plan --exit-code "$file"); echo "| $n | plan, no changes | $t | $m | $r | - |"
  read -r t m r w < <(run "$kw" sync "$file"); echo "| $n | sync, no changes | $t | $m | $r | $w |"
  sed -i '0,/plan: gold/s//plan: platinum/' "$file"
  read -r t m r w < <(run "$kw" sync "$file"); echo "| $n | sync, one consumer changed | $t | $m | $r | $w |"
  read -r t m r w < <(run "$kw" export --bucket "$bucket" -o "$work/export.yaml"); echo "| $n | export | $t | $m | $r | - |"
  read -r t m r w < <(run "$kw" check --bucket "$bucket")
  v=$(grep -o '[0-9]* verification records\? compared' "$work/out" || echo '? compared')
  echo "| $n | \`\$check\` (\`keyward check\`: $v) | $t | $m | $r | - |"
  consumers="/key-buckets/$bucket/consumers"
  t=$(get "$consumers?limit=1000"); c=$(count)
  echo "| $n | list, first page (baseline; $c of $n) | $t | - | 1 | - |"
  t=$(get "$consumers?tag.team=team-3&limit=1000"); c=$(count)
  echo "| $n | list with \`tag.team=team-3\`, first page ($c) | $t | - | 1 | - |"
  i=$((n / 2))
  t=$(get "$consumers?manager-email=owner-$i@customer-$i.example"); c=$(count)
  echo "| $n | list with \`manager-email=owner-$i@…\` ($c) | $t | - | 1 | - |"
done
rm -rf "$work"
