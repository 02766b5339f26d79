#!/bin/sh
# Builds passbridge, installs the binary, registers it with your browsers and shows it working.
#
#   installer/install.sh [--browser NAME]... [--chrome-extension-id ID]... [--firefox-extension-id ID]...
#   installer/install.sh --scope system ...        (all users; asks for sudo when needed)
#   installer/install.sh --uninstall [--scope system]
#
# Run it as yourself, not with sudo: cargo lives in your home. See docs/install.md.
set -eu

NL='
'
scope=${PASSBRIDGE_SCOPE:-user}
bindir=${PASSBRIDGE_BINDIR:-}
prebuilt=""
uninstall=0
install_args=""

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<'EOF'
Usage: installer/install.sh [options]

Builds passbridge (cargo build --release), installs it to ~/.local/bin (user scope) or
/usr/local/bin (system scope), runs `passbridge install`, `passbridge doctor`, and a hello
round trip through the installed binary. The passbridge extension's own ids (Chrome
dimjidijnppmaoabgdkmickadcepdapp, Firefox extension@passbridge.org) are always registered.

Options:
  --chrome-extension-id ID    another Chrome-family extension id, 32 letters a-p (repeatable)
  --firefox-extension-id ID   another Firefox add-on id, name@example.org or {uuid} (repeatable)
  --browser NAME              firefox, librewolf, waterfox, chrome, chromium, brave, edge,
                              vivaldi, chrome-for-testing (repeatable; default: the browsers
                              you have used)
  --scope user|system         this user (default) or every user of the machine
  --bindir DIR                where to put the binary (default ~/.local/bin or /usr/local/bin)
  --prebuilt FILE             install this binary instead of building one
  --uninstall                 remove the registrations and the binary
  -h, --help                  this help

Environment (same meaning, space- or comma-separated lists):
  PASSBRIDGE_CHROME_EXTENSION_ID, PASSBRIDGE_FIREFOX_EXTENSION_ID, PASSBRIDGE_BROWSERS,
  PASSBRIDGE_SCOPE, PASSBRIDGE_BINDIR
EOF
}

# Arguments for `passbridge install`, one per line (ids and names never contain newlines).
add_arg() {
    case $2 in
        *"$NL"*|"") die "$1 needs a value without newlines" ;;
    esac
    install_args="$install_args$1$NL$2$NL"
}

add_list() {
    set -f
    for item in $(printf '%s' "$2" | tr ',' ' '); do
        add_arg "$1" "$item"
    done
    set +f
}

need_value() {
    [ $# -ge 2 ] || die "$1 needs a value (see --help)"
}

add_list --chrome-extension-id "${PASSBRIDGE_CHROME_EXTENSION_ID:-}"
add_list --firefox-extension-id "${PASSBRIDGE_FIREFOX_EXTENSION_ID:-}"
add_list --browser "${PASSBRIDGE_BROWSERS:-}"

while [ $# -gt 0 ]; do
    case $1 in
        --chrome-extension-id|--firefox-extension-id|--browser)
            need_value "$@"; add_arg "$1" "$2"; shift 2 ;;
        --chrome-extension-id=*|--firefox-extension-id=*|--browser=*)
            add_arg "${1%%=*}" "${1#*=}"; shift ;;
        --scope) need_value "$@"; scope=$2; shift 2 ;;
        --scope=*) scope=${1#*=}; shift ;;
        --bindir) need_value "$@"; bindir=$2; shift 2 ;;
        --bindir=*) bindir=${1#*=}; shift ;;
        --prebuilt) need_value "$@"; prebuilt=$2; shift 2 ;;
        --prebuilt=*) prebuilt=${1#*=}; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

case $scope in
    user) bindir=${bindir:-${HOME:?HOME is not set}/.local/bin} ;;
    system) bindir=${bindir:-/usr/local/bin} ;;
    *) die "--scope must be user or system, not '$scope'" ;;
esac

# System scope writes to /etc, /usr/lib and $bindir: elevate just those steps.
as_admin=""
if [ "$scope" = system ] && [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "--scope system needs root: run this as root or install sudo"
    as_admin=sudo
fi

bin="$bindir/passbridge"

if [ "$uninstall" -eq 1 ]; then
    if [ -x "$bin" ]; then
        $as_admin "$bin" uninstall --scope "$scope"
        $as_admin rm -f "$bin"
        say "Removed $bin."
    else
        die "$bin not found: nothing to uninstall (use --bindir if you installed elsewhere)"
    fi
    exit 0
fi

# 1. Build (or take the given binary).
if [ -n "$prebuilt" ]; then
    [ -f "$prebuilt" ] && [ -x "$prebuilt" ] || die "--prebuilt $prebuilt is not an executable file"
    src=$prebuilt
else
    command -v cargo >/dev/null 2>&1 || die "cargo not found. Install Rust with rustup (https://rustup.rs), then open a new shell or run: . \"\$HOME/.cargo/env\""
    command -v cc >/dev/null 2>&1 || die "no C compiler (cc) found; the crypto library needs one. On Debian/Ubuntu: sudo apt-get install build-essential"
    rust_minor=$(cargo --version | sed -n 's/^cargo 1\.\([0-9][0-9]*\).*/\1/p')
    if [ -n "$rust_minor" ] && [ "$rust_minor" -lt 89 ]; then
        die "passbridge needs Rust 1.89 or newer (found $(cargo --version)). Run: rustup update stable"
    fi
    root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
    [ -f "$root/Cargo.toml" ] || die "cannot find the passbridge sources next to this script"
    say "==> Building passbridge (cargo build --release --locked); the first build takes a few minutes"
    (cd "$root" && cargo build --release --locked)
    src="$root/target/release/passbridge"
fi

# 2. Install the binary: copy beside the target and rename, so a running host keeps its file.
say "==> Installing $bin"
$as_admin mkdir -p "$bindir"
tmp="$bindir/.passbridge.new.$$"
$as_admin install -m 0755 "$src" "$tmp"
$as_admin mv -f "$tmp" "$bin"

# 3. Register it with the browsers.
say "==> Registering with your browsers ($scope scope)"
old_ifs=$IFS
IFS=$NL
set -f
# shellcheck disable=SC2086 # split on newlines on purpose
set -- $install_args
set +f
IFS=$old_ifs
$as_admin "$bin" install --scope "$scope" "$@"

# 4. Check every registration the way a browser uses it.
say "==> Checking (passbridge doctor)"
if ! "$bin" doctor; then
    die "passbridge doctor found problems (see FAIL above)"
fi

# 5. A hello round trip through the installed binary, framed like a browser does it.
# The banner shows exactly the command that runs, so it can be pasted to try again.
hello='{"id":1,"action":"hello"}'
say "==> Hello round trip: echo '$hello' | \"$bin\" frame | \"$bin\" | \"$bin\" unframe"
reply=$(echo "$hello" | "$bin" frame | "$bin" | "$bin" unframe)
say "$reply"
case $reply in
    *'"ok":true'*'"name":"passbridge"'*|*'"name":"passbridge"'*'"ok":true'*) ;;
    *) die "the hello round trip did not return a passbridge reply" ;;
esac

case ":$PATH:" in
    *":$bindir:"*) ;;
    *) say "Note: $bindir is not on your PATH. Add it, e.g.: echo 'export PATH=\"$bindir:\$PATH\"' >> ~/.profile (then log in again)." ;;
esac
say "passbridge is installed and registered."
