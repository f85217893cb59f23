#!/usr/bin/env bash
# Prints the path of a promtool binary (Prometheus's rule checker and rule unit-test runner).
#
# promtool on PATH (or at /usr/bin/promtool) is used as it is. Otherwise Debian's `prometheus`
# package, which ships promtool, is installed with apt-get, non-interactively and without its
# recommended packages. Its service is not started: where no policy-rc.d already forbids service
# starts (a Docker image's does), one is put in place for the install and removed afterwards.
#
# stdout carries only the path; apt-get's output and every message go to stderr. Exit status 1
# with a message saying what to do when no promtool can be had.
set -euo pipefail

say() { echo "promtool.sh: $*" >&2; }

found() {
    local p
    p="$(command -v promtool 2>/dev/null || true)"
    [[ -z "$p" && -x /usr/bin/promtool ]] && p=/usr/bin/promtool
    [[ -n "$p" ]] && echo "$p"
}

if path="$(found)"; then
    echo "$path"
    exit 0
fi

fail() {
    say "$*"
    say "install promtool by hand (Debian/Ubuntu: apt-get install prometheus; or a Prometheus release's promtool on PATH) and run again"
    exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "promtool is not on PATH and this machine has no apt-get to install it with"

run_root=()
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
        || fail "promtool is not on PATH and installing Debian's prometheus package needs root (no password-less sudo)"
    run_root=(sudo -n)
fi

policy=/usr/sbin/policy-rc.d
made_policy=""
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# put here by tests/bin/promtool.sh for the length of one install\nexit 101\n' \
        | "${run_root[@]}" tee "$policy" >/dev/null
    "${run_root[@]}" chmod 0755 "$policy"
    made_policy="$policy"
fi
cleanup() { [[ -n "$made_policy" ]] && "${run_root[@]}" rm -f "$made_policy"; true; }
trap cleanup EXIT

install() {
    "${run_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 prometheus >&2
}

say "promtool not found; installing Debian's prometheus package (it ships promtool)"
if ! install; then
    say "install failed; refreshing the package lists once and trying again"
    "${run_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -o DPkg::Lock::Timeout=300 >&2 \
        || fail "apt-get update failed"
    install || fail "apt-get install prometheus failed"
fi

path="$(found)" || fail "Debian's prometheus package is installed but no promtool binary was found"
echo "$path"
