#!/usr/bin/env bash
# `make dev`: runs the Worker locally in workerd with a local KV (.wrangler/state), syncs
# keys.yaml, creates a demo key and prints a curl line that works as printed. Ctrl-C stops it.
# The build and set-up were done by make (the `build` target) before this runs.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-8787}
export WRANGLER_SEND_METRICS=false

# Local secrets: add any that are missing, never overwrite an existing value.
touch .dev.vars
for name in KEY_HASH_SECRET MANAGEMENT_TOKEN PORTAL_JWT_SECRET; do
  if ! grep -q "^${name}=" .dev.vars; then
    printf '%s=%s\n' "$name" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >> .dev.vars
  fi
done
token=$(grep '^MANAGEMENT_TOKEN=' .dev.vars | head -n1 | cut -d= -f2-)

if curl -s -o /dev/null "http://127.0.0.1:${PORT}/_keyward/health"; then
  echo "dev: something already answers on 127.0.0.1:${PORT}; stop it or run PORT=8788 make dev" >&2
  exit 1
fi

log=.wrangler/dev.log
mkdir -p .wrangler
echo "dev: starting wrangler dev on 127.0.0.1:${PORT} (it builds the Worker first; log: $log)"
# Its own process group, so that stopping it also stops workerd.
setsid node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "$PORT" --persist-to .wrangler/state >"$log" 2>&1 &
wrangler_pid=$!
trap 'kill -TERM -- -$wrangler_pid 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 600); do
  if curl -s -o /dev/null "http://127.0.0.1:${PORT}/_keyward/health"; then break; fi
  if ! kill -0 "$wrangler_pid" 2>/dev/null; then
    echo "dev: wrangler dev stopped; its log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  sleep 0.5
done

export KEYWARD_URL="http://127.0.0.1:${PORT}/_keyward" KEYWARD_TOKEN="$token"
keyward=target/debug/keyward
"$keyward" sync keys.yaml
consumer=$(awk '/^    consumers:/ { getline; sub(/^ +/, ""); sub(/:.*/, ""); print; exit }' keys.yaml)
key=$("$keyward" keys create --consumer "$consumer" --description "make dev demo key")
# The first manager in keys.yaml, signed in to the portal page for an hour.
manager=$(awk '/^ +managers:/ { getline; sub(/^ *- */, ""); print; exit }' keys.yaml)
portal_token=$("$keyward" portal-token --email "$manager" --ttl 1h)

cat <<MSG

keyward is running on http://127.0.0.1:${PORT} (local KV in .wrangler/state).

A demo key for consumer '${consumer}' (shown once; it is stored hashed):
  curl -s http://127.0.0.1:${PORT}/hello -H 'Authorization: Bearer ${key}'

Without a key the same request gets 401:
  curl -si http://127.0.0.1:${PORT}/hello

The developer API (token in .dev.vars):
  curl -s http://127.0.0.1:${PORT}/_keyward/v1/accounts/local/key-buckets/default/consumers -H "Authorization: Bearer \$(grep ^MANAGEMENT_TOKEN= .dev.vars | cut -d= -f2-)"

The managers' portal page, signed in as ${manager} for an hour:
  http://127.0.0.1:${PORT}/_keyward/portal/#token=${portal_token}

The self-serve API, as the same manager:
  curl -s http://127.0.0.1:${PORT}/_keyward/v1/me/consumers -H "Authorization: Bearer \$(${keyward} portal-token --email ${manager})"

Ctrl-C stops the Worker.
MSG
wait "$wrangler_pid"
