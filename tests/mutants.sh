#!/usr/bin/env bash
# Mutation testing of the pure protocol cores with cargo-mutants: every operator, comparison and
# return value in these files is changed one at a time, and some unit test must then fail.
#
#   tests/mutants.sh                   # all cores (slow: an incremental build per mutant)
#   tests/mutants.sh src/nm/frame.rs   # one or more files
#   MUTANTS_TIMEOUT=300 tests/mutants.sh ...   # test timeout per mutant, seconds (default 180)
#
# Not in CI (too slow for every submission): run it before resolving an issue that touches one of
# these files. Every mutant that survives ("missed") must be killed by a new test or listed, with
# the reason it is equivalent, in tests/mutants-equivalent.md.
#
# Settings for a small shared machine: --in-place (one job, no copy of the tree; do not edit the
# sources while it runs, it restores each file after its mutant), the unit tests only (`--lib`),
# no baseline run (run `cargo test --lib` first). Results per file: target/mutants/<file>/
# mutants.out/{caught,missed,timeout,unviable}.txt, and a summary line per file at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
    cargo install --locked cargo-mutants
fi

# Extra cargo-mutants options, e.g. MUTANTS_ARGS="--re check_page_url" for a subset.
read -r -a extra <<<"${MUTANTS_ARGS:-}"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(
        src/clarion/wire.rs
        src/vault/format.rs
        src/anotherpass/envelope.rs
        src/anotherpass/keys.rs
        src/nm/frame.rs
        src/anotherpass/wire.rs
    )
    # The Passman (SJCL) and PassWeaver crypto, once they exist.
    for f in src/passman/*crypto*.rs src/passman/sjcl.rs src/passweaver/*crypto*.rs; do
        [ -e "$f" ] && files+=("$f")
    done
fi

# A mutant makes property tests fail: keep proptest from saving those cases as regressions (and
# from spending time shrinking them).
export PROPTEST_MAX_SHRINK_ITERS=0
saved=$(mktemp -d)
cp -a proptest-regressions "$saved/"
trap 'rm -rf proptest-regressions && cp -a "$saved/proptest-regressions" . && rm -rf "$saved"' EXIT

summary=()
for f in "${files[@]}"; do
    [ -e "$f" ] || { echo "no such file: $f" >&2; exit 2; }
    out="target/mutants/$(echo "${f#src/}" | tr / _)"
    mkdir -p "$out"
    echo "== $f -> $out" >&2
    rc=0
    cargo mutants --in-place --no-shuffle --baseline skip \
        --timeout "${MUTANTS_TIMEOUT:-180}" --build-timeout 1200 \
        --cargo-arg=--lib --file "$f" --output "$out" "${extra[@]}" || rc=$?
    # 2: some mutants survived, 3: some timed out. Both are results to report, not failures.
    case $rc in 0 | 2 | 3) ;; *) exit "$rc" ;; esac
    count() { grep -cs . "$out/mutants.out/$1.txt" || true; }
    summary+=("$f: caught $(count caught), missed $(count missed), timeout $(count timeout), unviable $(count unviable)")
    if [ "$(count missed)" != 0 ]; then
        sed 's/^/  missed: /' "$out/mutants.out/missed.txt"
    fi
done
printf '%s\n' "${summary[@]}"
