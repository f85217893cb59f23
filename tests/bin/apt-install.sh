#!/usr/bin/env bash
# Installs Debian packages the local environment needs, once: packages already installed are
# skipped, so a warm machine runs no apt-get at all.
#   tests/bin/apt-install.sh PACKAGE...
#
# Non-interactive, without recommended packages, and without starting any service the package
# ships: where no policy-rc.d already forbids service starts (a Docker image's does), one is put
# in place for the install and removed afterwards. All output goes to stderr.
set -euo pipefail

say() { echo "apt-install.sh: $*" >&2; }

missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

fail() {
    say "$*"
    say "install by hand: apt-get install ${missing[*]}"
    exit 1
}
command -v apt-get >/dev/null 2>&1 || fail "this machine has no apt-get"

run_root=()
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
        || fail "installing Debian packages needs root (no password-less sudo)"
    run_root=(sudo -n)
fi

policy=/usr/sbin/policy-rc.d
made_policy=""
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# put here by tests/bin/apt-install.sh for the length of one install\nexit 101\n' \
        | "${run_root[@]}" tee "$policy" >/dev/null
    "${run_root[@]}" chmod 0755 "$policy"
    made_policy="$policy"
fi
cleanup() { [[ -n "$made_policy" ]] && "${run_root[@]}" rm -f "$made_policy"; true; }
trap cleanup EXIT

install() {
    "${run_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2
}

say "installing ${missing[*]}"
if ! install; then
    say "install failed; refreshing the package lists once and trying again"
    "${run_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -o DPkg::Lock::Timeout=300 >&2 \
        || fail "apt-get update failed"
    install || fail "apt-get install failed"
fi
