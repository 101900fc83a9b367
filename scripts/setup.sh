#!/usr/bin/env bash
# Installs what building and testing keyward needs, idempotently: a warm machine reinstalls
# nothing. Called by `make setup` (and so by `make dev` and `make test`).
#
# - the wasm32-unknown-unknown Rust target
# - worker-build, pinned (WORKER_BUILD_VERSION)
# - wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock
#   (without --locked: one of its locked dependencies is missing from the registry mirror)
# - npm packages from package-lock.json (wrangler 4.86.0, esbuild, binaryen's wasm-opt;
#   playwright-core, oidc-provider and axe-core for the portal page's browser test)
# - schemathesis (PyPI, pinned) in .tools/venv, for the developer-API fuzz test
# - openssl (Debian), which the self-serve tests use to make key pairs
# - chromium (Debian), the browser of the portal page's test (driven by playwright-core)
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7

say() { printf 'setup: %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (about 8 minutes on 2 cores)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$bindgen_version" ]; then
  echo "setup: error: no wasm-bindgen in Cargo.lock; run cargo generate-lockfile" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
  say "installing wasm-bindgen-cli $bindgen_version (matches Cargo.lock)"
  cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

# npm ci only when package-lock.json changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.keyward-lock-stamp; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.keyward-lock-stamp
fi

SCHEMATHESIS_VERSION=4.32.5
if [ "$(.tools/venv/bin/schemathesis --version 2>/dev/null | awk '{print $3}')" != "$SCHEMATHESIS_VERSION" ]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into .tools/venv"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if ! command -v openssl >/dev/null; then
  say "installing openssl (Debian package)"
  apt-get update -qq && apt-get install -y -qq openssl >/dev/null
fi

if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium (Debian package, for the portal page's browser test)"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
