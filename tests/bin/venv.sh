#!/usr/bin/env bash
# Creates (once per requirements hash) the Python environment of the test harness and links it as .venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KARPENTER_RS_CACHE:-$HOME/.cache/karpenter-rs}
hash=$(sha256sum "$root/tests/requirements.txt" | cut -c1-12)
venv="$cache/venv-$hash"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "venv: installing tests/requirements.txt into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/requirements.txt"
  touch "$venv/.complete"
fi
ln -sfn "$venv" "$root/.venv"
