#!/usr/bin/env bash
# `keyward scan` against ripgrep on a generated tree (bench/gen_scan_tree.py: 500 MB of
# small source files and a few large logs, 100 planted keys), side by side in one run, with
# 1 and 2 threads: median wall time of 5 warm runs each, throughput in MB/s, peak memory.
# ripgrep (Debian's `ripgrep`) searches the published key pattern with -uu (no ignore files,
# hidden files: the tree has no ignore files, so both read the same bytes) and prints each
# match's line and column, as keyward does; keyward also checks every candidate's checksum
# and prints JSON. gitleaks is left out: no registry here provides it.
#
# Usage: bench/scan.sh [TOTAL_MB]     (default 500; prints markdown for BENCHMARKS.md)
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-500}
command -v rg >/dev/null || { echo "bench/scan.sh: installing ripgrep (Debian)" >&2; apt-get install -y -qq ripgrep >/dev/null; }
cargo build -q --profile dist -p keyward
target=${CARGO_TARGET_DIR:-$PWD/target}
kw=$target/dist/keyward
tree=$target/bench-scan/$mb
if [ ! -f "$tree/planted.txt" ]; then
  echo "generating a ${mb} MB tree in $tree" >&2
  rm -rf "$tree" && python3 bench/gen_scan_tree.py "$tree" "$mb" 100
fi
pattern='[a-z][a-z0-9_]{0,19}_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}'
bytes=$(find "$tree" -type f ! -name planted.txt -printf '%s\n' | awk '{s+=$1} END {print s}')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every planted key is found, nothing else (the look-alikes have bad checksums).
"$kw" scan --format json "$tree/src" "$tree/logs" >"$work/found.json" || true
python3 - "$work/found.json" "$tree/planted.txt" <<'PY'
import json, sys
found = sorted(f["path"] for f in json.load(open(sys.argv[1]))["findings"])
planted = sorted(open(sys.argv[2]).read().split())
assert found == planted, f"found {len(found)} keys, planted {len(planted)}"
PY

# run LABEL CMD...: median seconds and max peak KiB over 5 runs (after one warm-up run).
run() {
  local label=$1; shift
  "$@" >/dev/null 2>&1 || true
  for i in 1 2 3 4 5; do
    /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null 2>&1 || true
    tail -1 "$work/t"
  done | sort -n | awk -v label="$label" -v bytes="$bytes" '
    { t[NR] = $1; if ($2 > m) m = $2 }
    END { med = t[3]; printf "%s %.3f %.1f %.1f\n", label, med, bytes / 1e6 / med, m / 1024 }'
}

echo "| threads | tool | median s | MB/s | peak MiB | keyward / ripgrep (throughput) |"
echo "| ---: | --- | ---: | ---: | ---: | ---: |"
for j in 1 2; do
  k=$(run keyward "$kw" scan -j "$j" --format json "$tree/src" "$tree/logs")
  r=$(run ripgrep rg -j "$j" -uu -o -n --column "$pattern" "$tree/src" "$tree/logs")
  read -r _ kt kmbs kmem <<<"$k"
  read -r _ rt rmbs rmem <<<"$r"
  ratio=$(python3 -c "print(f'{$kmbs / $rmbs:.2f}')")
  echo "| $j | ripgrep $(rg --version | awk 'NR == 1 {print $2}') | $rt | $rmbs | $rmem | 1.00 |"
  echo "| $j | keyward scan | $kt | $kmbs | $kmem | **$ratio** |"
done
echo
echo "Tree: $(find "$tree" -type f | wc -l) files, $bytes bytes, 100 planted keys (all found, nothing else)."
