# Sourced by the bench scripts: starts the built Worker (worker/build) under wrangler dev on a
# free 127.0.0.1 port with a fresh local KV and Durable Object storage (the bucket objects),
# waits for it, and stops it on exit.
# Sets: BASE (http://127.0.0.1:PORT), API (…/_keyward/v1/accounts/local), AUTH (header line).
# The Worker's PORTAL_JWT_SECRET is bench-portal-secret-of-at-least-32-bytes (for /v1/me).
# Needs `make worker` first.
# BENCH_BUNDLE: the bundle to run (default worker/build/index.js; bench/edge.sh sets another
# revision's to compare).
# BENCH_VARS: more Worker variables, one NAME=value a line (bench/edge.sh's IMPORTED=1 sets
# IMPORTED_KEY_PATTERN).
BENCH_BUNDLE=${BENCH_BUNDLE:-$PWD/worker/build/index.js}
[ -f "$BENCH_BUNDLE" ] || { echo "bench: $BENCH_BUNDLE is missing; run make worker first" >&2; exit 1; }
export WRANGLER_SEND_METRICS=false
bench_dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bench_port=$(free_port)
cat > "$bench_dir/wrangler.toml" <<TOML
name = "keyward-bench"
main = "$BENCH_BUNDLE"
compatibility_date = "2026-04-01"
[[kv_namespaces]]
binding = "KEYWARD_KV"
id = "keyward-bench"

[[durable_objects.bindings]]
name = "KEYWARD_BUCKETS"
class_name = "BucketObject"

[[durable_objects.bindings]]
name = "KEYWARD_LIMITS"
class_name = "LimiterObject"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["BucketObject"]

[[migrations]]
tag = "v2"
new_sqlite_classes = ["LimiterObject"]

[vars]
TOML
# Each value as a TOML basic string (JSON's string escapes are TOML's).
[ -z "${BENCH_VARS:-}" ] || python3 -c '
import json, sys
for line in sys.stdin.read().splitlines():
    name, _, value = line.partition("=")
    print(f"{name} = {json.dumps(value)}")' <<<"$BENCH_VARS" >> "$bench_dir/wrangler.toml"
printf 'KEY_HASH_SECRET=bench-secret\nMANAGEMENT_TOKEN=bench-token\nPORTAL_JWT_SECRET=bench-portal-secret-of-at-least-32-bytes\n' > "$bench_dir/.dev.vars"
(cd "$bench_dir" && exec setsid "$OLDPWD/node_modules/.bin/wrangler" dev --config wrangler.toml --ip 127.0.0.1 \
  --port "$bench_port" --inspector-port "$(free_port)" --persist-to "$bench_dir/state" --log-level "${BENCH_LOG_LEVEL:-error}" >"$bench_dir/log" 2>&1) &
bench_pid=$!
trap 'kill -TERM -- -$bench_pid 2>/dev/null; sleep 1; rm -rf "$bench_dir"' EXIT
BASE="http://127.0.0.1:$bench_port"
API="$BASE/_keyward/v1/accounts/local"
AUTH='Authorization: Bearer bench-token'
for _ in $(seq 1 240); do curl -s -o /dev/null "$BASE/_keyward/health" && break; sleep 0.25; done
curl -s -o /dev/null "$BASE/_keyward/health" || { echo "bench: the Worker did not start:" >&2; cat "$bench_dir/log" >&2; exit 1; }
