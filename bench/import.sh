#!/usr/bin/env bash
# `keyward import zuplo` at scale: a stub of Zuplo's Developer API (bench/zuplo_stub.py) serves a
# retrievable bucket of N consumers with one `zpka_` key each (default 10000); the import runs
# into the bucket the edge verifies (`default`) of a fresh local Worker (IMPORTED_KEY_PATTERN set
# to Zuplo's format) and a new keys.yaml.
# Measures wall time, peak memory and requests (to the source, to the Worker, and of those the
# `$lookup`, `consumers/$bulk` and `keys/$bulk` ones) of the import, then of the rerun (a
# no-op), then checks the last consumer's key at the gateway. Prints markdown for BENCHMARKS.md.
#
# Usage: bench/import.sh [N]      (needs `make worker`; builds the CLI in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
cargo build --release -q -p keyward
kw=$PWD/target/release/keyward
export BENCH_LOG_LEVEL=info   # wrangler logs one line per request: that is how requests are counted
export BENCH_VARS='IMPORTED_KEY_PATTERN=^zpka_[0-9a-f]{32}_[0-9a-f]{8}$'
. bench/worker.sh
export KEYWARD_URL="$BASE/_keyward" KEYWARD_TOKEN=bench-token KEYWARD_ACCOUNT=local
export ZUPLO_API_KEY=bench-zuplo-key
work=$(mktemp -d)
stub_port=$(free_port)
python3 bench/zuplo_stub.py "$n" "$stub_port" "$ZUPLO_API_KEY" > "$work/stub.log" 2>&1 &
stub_pid=$!
trap 'kill -TERM $stub_pid 2>/dev/null || true; kill -TERM -- -$bench_pid 2>/dev/null || true; sleep 1; rm -rf "$bench_dir" "$work" || true' EXIT
for _ in $(seq 1 40); do curl -s -o /dev/null "http://127.0.0.1:$stub_port/" && break; sleep 0.25; done
count() { grep -c -- "$1" "$bench_dir/log" || true; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# run: one import; prints "seconds peak-MiB source-requests worker-requests lookups consumer-bulks key-bulks"
run() {
  local w0 l0 c0 k0 start end kb
  w0=$(count '_keyward/'); l0=$(count 'keys/\$lookup'); c0=$(count 'consumers/\$bulk'); k0=$(count 'keys/\$bulk')
  start=$(date +%s.%N)
  (cd "$work" && /usr/bin/time -f '%M' -o "$work/mem" "$kw" import zuplo --from-url "http://127.0.0.1:$stub_port" \
      --account bench --bucket bench-zuplo --to-bucket default >"$work/out" 2>"$work/err") \
    || { cat "$work/err" >&2; exit 1; }
  end=$(date +%s.%N)
  sleep 0.5   # let wrangler flush its request log
  kb=$(tail -n 1 "$work/mem")
  src=$(sed -n 's/^import: [0-9]* requests to the Worker, \([0-9]*\) to the source$/\1/p' "$work/err")
  printf '%s %d %s %d %d %d %d\n' "$(secs "$start" "$end")" "$((kb / 1024))" "${src:-?}" \
    "$(($(count '_keyward/') - w0))" "$(($(count 'keys/\$lookup') - l0))" \
    "$(($(count 'consumers/\$bulk') - c0))" "$(($(count 'keys/\$bulk') - k0))"
}

echo "| consumers (one key each) | step | wall time (s) | peak memory (MiB) | requests to the source | requests to the Worker | of which \`\$lookup\` | \`consumers/\$bulk\` | \`keys/\$bulk\` |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
read -r t m s w l c k < <(run); echo "| $n | import into an empty Worker | $t | $m | $s | $w | $l | $c | $k |"
grep -q "^Import: $n consumers in keys.yaml ($n added), $n keys imported, 0 already there.$" "$work/out" \
  || { echo "bench: unexpected summary: $(tail -n 1 "$work/out")" >&2; exit 1; }
read -r t m s w l c k < <(run); echo "| $n | rerun (nothing to do) | $t | $m | $s | $w | $l | $c | $k |"
grep -q '^Nothing to import' "$work/out" || { echo "bench: the rerun did something: $(tail -n 1 "$work/out")" >&2; exit 1; }
last=$(python3 -c "import hashlib,zlib; b=hashlib.sha256(b'bench-$((n - 1))').hexdigest()[:32]; print(f'zpka_{b}_{zlib.crc32(b.encode()):08x}')")
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/orders" -H "Authorization: Bearer $last" || true)
[ "$code" = 200 ] || { echo "bench: the last imported key answered $code at the gateway" >&2; exit 1; }
echo "bench: the last imported key answered 200 at the gateway" >&2
