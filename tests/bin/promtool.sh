#!/usr/bin/env bash
# Prints the path of a promtool binary (Prometheus's rule checker and rule unit-test runner).
#
# promtool on PATH (or at /usr/bin/promtool) is used as it is. Otherwise Debian's `prometheus`
# package, which ships promtool, is installed by apt-install.sh (its service is not started).
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

say "promtool not found; installing Debian's prometheus package (it ships promtool)"
"$(dirname "$0")/apt-install.sh" prometheus || fail "apt-get install prometheus failed"
path="$(found)" || fail "Debian's prometheus package is installed but no promtool binary was found"
echo "$path"
