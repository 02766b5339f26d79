#!/usr/bin/env bash
# Mutation testing of the pure protocol cores with cargo-mutants: every operator, comparison and
# return value in these files is changed one at a time, and some unit test must then fail.
#
#   tests/mutants.sh                   # all cores (slow: an incremental build per mutant)
#   tests/mutants.sh src/nm/frame.rs   # one or more files
#   MUTANTS_TIMEOUT=300 tests/mutants.sh ...   # test timeout per mutant, seconds (default 20)
#   MUTANTS_TESTS=all tests/mutants.sh ...     # every unit test, not only the file's module's
#
# Not in CI (too slow for every submission): run it before resolving an issue that touches one of
# these files. Every mutant that survives ("missed") must be killed by a new test or listed, with
# the reason it is equivalent, in tests/mutants-equivalent.md.
#
# Settings for a small shared machine: --in-place (one job, no copy of the tree; do not edit the
# sources while it runs, it restores each file after its mutant), the unit tests only (`--lib`),
# no baseline run (run `cargo test --lib` first), and only the unit tests of the file's top module
# (`-- vault::` for src/vault/format.rs). That filter is sound for these cores: their functions
# are called only inside their own module tree (checked with grep; the one exception is
# nm::frame's public constants, also read by config.rs and install/probe.rs, whose tests compare
# with the constant itself and so cannot catch a changed one: frame.rs's own tests pin them as
# literals). A survivor under the filter is still checked by hand, and MUTANTS_TESTS=all runs
# every unit test. The filter cuts the test phase from ~9 s (317 tests) to ~2 s. The linker is
# already rust-lld (rustc's default on x86_64 Linux since 1.90), so mold would gain little,
# and a different linker or RUSTFLAGS makes cargo rebuild every dependency (aws-lc-sys
# included): measured, it marks every crate dirty. Incremental compilation stays on
# (cargo-mutants keeps `-C incremental`), so a mutant costs one incremental rebuild of the lib's
# test binary: 14 s on an idle machine, 20-50 s with six other builds running. Unviable mutants
# stop at type checking.
# Results per file: target/mutants/<file>/
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
        src/vault/packed.rs
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
    # The tests that can reach the file: its top module's (src/vault/format.rs -> vault::).
    filter=()
    if [ "${MUTANTS_TESTS:-module}" != all ]; then
        top=${f#src/}
        top=${top%%/*}
        filter=(-- "${top%.rs}::")
    fi
    echo "== $f -> $out (tests: ${filter[*]:-all})" >&2
    rc=0
    cargo mutants --in-place --no-shuffle --baseline skip \
        --timeout "${MUTANTS_TIMEOUT:-20}" --build-timeout 600 \
        --cargo-arg=--lib --file "$f" --output "$out" "${extra[@]}" "${filter[@]}" || rc=$?
    # 2: some mutants survived, 3: some timed out. Both are results to report, not failures.
    case $rc in 0 | 2 | 3) ;; *) exit "$rc" ;; esac
    count() { grep -cs . "$out/mutants.out/$1.txt" || true; }
    summary+=("$f: caught $(count caught), missed $(count missed), timeout $(count timeout), unviable $(count unviable)")
    if [ "$(count missed)" != 0 ]; then
        sed 's/^/  missed: /' "$out/mutants.out/missed.txt"
    fi
done
printf '%s\n' "${summary[@]}"
