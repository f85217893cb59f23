#!/usr/bin/env bash
# Builds terraform-provider-karpenter and installs it into the local filesystem mirror that
# terraform and tofu search without any configuration (~/.terraform.d/plugins), for both
# registry hostnames, so `terraform init` / `tofu init` work offline.
#   PROFILE=release|dev (default release)  PLUGINS_DIR=... (default ~/.terraform.d/plugins)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
profile=${PROFILE:-release}
plugins=${PLUGINS_DIR:-$HOME/.terraform.d/plugins}
version=$(awk -F'"' '/^version *=/ { print $2; exit }' "$root/Cargo.toml")
cd "$root"
cargo build --profile "$profile" -p terraform-provider-karpenter
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
binary="${CARGO_TARGET_DIR:-$root/target}/$dir/terraform-provider-karpenter"
os=$(uname -s | tr '[:upper:]' '[:lower:]')
arch=$(uname -m); case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
for host in registry.terraform.io registry.opentofu.org; do
  dest="$plugins/$host/karpenter-rs/karpenter/$version/${os}_$arch"
  mkdir -p "$dest"
  install -m 0755 "$binary" "$dest/terraform-provider-karpenter_v$version"
  echo "installed $dest/terraform-provider-karpenter_v$version"
done
