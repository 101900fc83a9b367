#!/usr/bin/env bash
# keys.yaml at scale: for generated files of N consumers (default 1000 10000 100000), measures
# `keyward validate` (time, peak memory) and, against the local Worker, `plan` and `sync`
# (wall time, HTTP requests, KV writes): first a sync that creates everything, then a no-op
# plan and sync, then a sync after changing one consumer. Prints markdown for BENCHMARKS.md.
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

# run NAME CMD...: prints "seconds requests writes" of one command (writes from sync's stderr)
run() {
  local before after start end writes
  before=$(requests)
  start=$(date +%s.%N)
  "$@" >"$work/out" 2>"$work/err" || { [ $? -eq 2 ] || { cat "$work/err" >&2; exit 1; }; }
  end=$(date +%s.%N)
  sleep 0.5   # let wrangler flush its request log
  after=$(requests)
  writes=$(awk '/^sync: [0-9]+ KV writes/ {print $2}' "$work/err")
  printf '%s %d %s\n' "$(python3 -c "print(f'{$end - $start:.2f}')")" "$((after - before))" "${writes:--}"
}

echo "| consumers | step | wall time (s) | HTTP requests | KV writes |"
echo "| ---: | --- | ---: | ---: | ---: |"
for n in "${sizes[@]}"; do
  file="$work/keys-$n.yaml"
  python3 bench/gen_keys.py "$n" "bench-$n" > "$file"
  read -r secs mem < <(/usr/bin/time -f '%e %M' "$kw" validate "$file" 2>&1 >/dev/null | tail -n 1)
  echo "| $n | validate (peak memory $((mem / 1024)) MiB) | $secs | 0 | - |"
  read -r t r w < <(run "$kw" plan "$file"); echo "| $n | plan, empty Worker | $t | $r | - |"
  read -r t r w < <(run "$kw" sync "$file"); echo "| $n | sync, creating all | $t | $r | $w |"
  read -r t r w < <(run "$kw" plan --exit-code "$file"); echo "| $n | plan, no changes | $t | $r | - |"
  read -r t r w < <(run "$kw" sync "$file"); echo "| $n | sync, no changes | $t | $r | $w |"
  sed -i '0,/plan: gold/s//plan: platinum/' "$file"
  read -r t r w < <(run "$kw" sync "$file"); echo "| $n | sync, one consumer changed | $t | $r | $w |"
done
rm -rf "$work"
