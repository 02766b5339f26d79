#!/usr/bin/env bash
# The project's test command: checks what the tests need, then formatting, lints and every test.
#   tests/run.sh        check dependencies, then fmt, clippy, doc tests and all test targets
#   tests/run.sh deps   only check (and, as root on Debian, install) the dependencies
# Exits non-zero on the first failure. Uses cargo-nextest when installed, else cargo test.
# Benchmarks are compiled by clippy but not run here: `cargo bench` runs them (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages of the real-browser tests (tests/browser.rs): command -> package.
browser_deps=("chromium:chromium" "firefox-esr:firefox-esr")
# The extension's tests (extension/, `npm ci` there fetches puppeteer-core and tldts).
browser_deps+=("node:nodejs" "npm:npm")
# A real Secret Service for the keyring tests (tests/keyring.rs starts a private session bus and
# an unlocked GNOME Keyring itself, so the test runner needs no session of its own).
browser_deps+=("dbus-daemon:dbus-daemon" "dbus-send:dbus-bin" "gnome-keyring-daemon:gnome-keyring"
  "secret-tool:libsecret-tools")

deps() {
  local missing=()
  for dep in "${browser_deps[@]}"; do
    command -v "${dep%%:*}" >/dev/null 2>&1 || missing+=("${dep#*:}")
  done
  if ((${#missing[@]} > 0)); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "tests/run.sh: installing ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      # A fresh machine may have no package lists yet.
      apt-get install -y -q "${missing[@]}" </dev/null ||
        { apt-get update -q </dev/null && apt-get install -y -q "${missing[@]}" </dev/null; }
    else
      echo "tests/run.sh: ${missing[*]} missing; the real-browser or keyring tests will skip (and fail under CI)." >&2
      echo "  Install with: sudo apt-get install -y ${missing[*]}" >&2
    fi
  fi
  extension_deps
  # The real sjcl library for the Passman crypto cross-check (tests/passman_node.rs).
  if command -v npm >/dev/null 2>&1; then
    npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
  elif [ -n "${CI:-}" ]; then
    echo "tests/run.sh: node and npm are required in CI (the sjcl cross-check)" >&2
    exit 1
  else
    echo "tests/run.sh: npm missing; the sjcl cross-check will skip (and fail under CI)." >&2
  fi
  for tool in rustfmt clippy; do
    if ! cargo "${tool/rustfmt/fmt}" --version >/dev/null 2>&1; then
      if command -v rustup >/dev/null 2>&1; then
        rustup component add "$tool"
      else
        echo "tests/run.sh: cargo ${tool/rustfmt/fmt} is missing; install the $tool component" >&2
        exit 1
      fi
    fi
  done
}

# extension/node_modules from package-lock.json. Without node/npm the extension tests skip, except
# under CI, where that is a failure.
extension_deps() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    (cd extension && npm ci --no-audit --no-fund --loglevel=error)
  elif [ -n "${CI:-}" ]; then
    echo "tests/run.sh: CI is set but node/npm are missing (apt-get install -y nodejs npm)" >&2
    exit 1
  else
    echo "tests/run.sh: node/npm missing; the extension's tests will skip. Install: sudo apt-get install -y nodejs npm" >&2
  fi
}

# The extension's unit tests (Node) and its real-browser tests (Chromium, Firefox ESR) against the
# built host and the ANOTHERpass simulator.
extension_tests() {
  if ! command -v node >/dev/null 2>&1 || [ ! -d extension/node_modules ]; then
    echo "--- extension tests skipped: node or extension/node_modules missing (tests/run.sh deps)"
    return 0
  fi
  step cargo build --locked --bin passbridge --example anotherpass-sim --example clarion-fake
  (cd extension && step npm test && step sh pack.sh && step npm run test:browser)
}

# Runs one step and passes its exit status on, also inside `a && b` chains (where set -e is off).
step() {
  local t0=$SECONDS rc=0
  echo "--- $*"
  "$@" || rc=$?
  echo "--- $* ($((SECONDS - t0)) s)"
  return "$rc"
}

deps
[ "${1:-}" = deps ] && exit 0

step cargo fmt --check
# Before the Rust suite: CI reads the closing lines of the last runner, which must be nextest's.
extension_tests
step cargo clippy --locked --all-targets -- -D warnings
# Build every test target once; the doc tests then reuse those dependencies (run on their own
# first, they compiled the whole dependency tree for two doc tests).
if cargo nextest --version >/dev/null 2>&1; then
  step cargo nextest run --locked --no-run
else
  step cargo test --locked --no-run
fi
# Doc tests before the suite: CI reads the closing lines of the last runner, the full suite.
step cargo test --locked --doc
if cargo nextest --version >/dev/null 2>&1; then
  step cargo nextest run --locked --no-fail-fast
else
  step cargo test --locked --no-fail-fast
fi
