#!/usr/bin/env bash
# Builds the controller's OCI image with buildah from controller/image/Dockerfile, without a Docker
# daemon, and pushes it when a registry is known.
#
#   controller/image/build.sh [--profile release|dev] [--registry HOST:PORT]
#
# - The binary comes from `cargo build` (release by default; the tests use dev, which is already
#   built), stripped of its symbols.
# - Reproducible: every file of the root filesystem has a fixed mode, owner and timestamp
#   (buildah --timestamp 0), so two builds of one commit give one digest.
# - The registry is --registry, else $KARPENTER_RS_REGISTRY (exported by `make env-up`), else the
#   registry of a running local environment (tests/.work/env/registry/address). With one, the image is
#   pushed as REGISTRY/karpenter-controller:<version> and the last line of stdout is the pushed
#   reference by digest, ready for the `image` attribute of karpenter_controller. Without one, it
#   is written as an OCI layout to target/image/oci and the last line is its digest.
# - linux/amd64 only: the machine's Rust toolchain has no other target installed, and none can
#   be fetched offline.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KARPENTER_RS_CACHE:-$HOME/.cache/karpenter-rs}
profile=release
registry=${KARPENTER_RS_REGISTRY:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=${2:?--profile needs release or dev}; shift 2 ;;
    --registry) registry=${2:?--registry needs HOST:PORT}; shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
# The same cargo invocations as `make build` (dev) and `make bench` (release): another package
# selection would unify features differently and rebuild every dependency.
case "$profile" in
  release) cargo_args=(--release -p terraform-provider-karpenter -p karpenter-controller); out_dir=release ;;
  dev) cargo_args=(--workspace); out_dir=debug ;;
  *) echo "build.sh: --profile must be release or dev, not $profile" >&2; exit 2 ;;
esac
if [ -z "$registry" ] && [ -f "$root/tests/.work/env/registry/address" ]; then
  registry=$(cat "$root/tests/.work/env/registry/address")
fi

say() { echo "image: $*" >&2; }
start=$(date +%s.%N)
"$root/tests/bin/apt-install.sh" buildah

target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build "${cargo_args[@]}" >&2)
binary="$target/$out_dir/karpenter-controller"
version=$("$binary" --version | awk '{print $2}')
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- 2>/dev/null || revision="$revision-dirty"

# The root filesystem: the binary, the libraries ldd says it loads (at the paths the dynamic
# loader looks for them), CA certificates, and passwd/group entries for user 65532.
stage="$target/image/$profile"
rm -rf "$stage"
mkdir -p "$stage/rootfs/usr/local/bin" "$stage/rootfs/etc/ssl/certs"
strip --strip-all -o "$stage/rootfs/usr/local/bin/karpenter-controller" "$binary"
for lib in $(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
  mkdir -p "$stage/rootfs$(dirname "$lib")"
  cp -L "$lib" "$stage/rootfs$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$stage/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$stage/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$stage/rootfs/etc/group"
printf 'hosts: files dns\n' >"$stage/rootfs/etc/nsswitch.conf"
find "$stage/rootfs" -type d -exec chmod 0755 {} +
find "$stage/rootfs" -type f -exec chmod 0644 {} +
chmod 0755 "$stage/rootfs/usr/local/bin/karpenter-controller" "$stage"/rootfs/lib*/ld-linux-* 2>/dev/null || true
cp "$root/controller/image/Dockerfile" "$stage/Dockerfile"

# buildah keeps its storage in the cache, apart from any the machine has (vfs works everywhere).
buildah=(buildah --root "$cache/buildah/storage" --runroot "$cache/buildah/run" --storage-driver vfs)
name="localhost/karpenter-controller:$version-$profile"
"${buildah[@]}" bud --quiet --format oci --timestamp 0 --isolation chroot \
  --build-arg "REVISION=$revision" --build-arg "VERSION=$version" \
  -t "$name" -f "$stage/Dockerfile" "$stage" >&2
digestfile="$stage/digest"
if [ -n "$registry" ]; then
  ref="$registry/karpenter-controller"
  "${buildah[@]}" push --quiet --tls-verify=false --digestfile "$digestfile" "$name" "docker://$ref:$version" >&2
  pushed="$ref@$(cat "$digestfile")"
else
  rm -rf "$target/image/oci"
  "${buildah[@]}" push --quiet --digestfile "$digestfile" "$name" "oci:$target/image/oci:karpenter-controller:$version" >&2
  pushed="$(cat "$digestfile")"
  say "no registry (start one with 'make env-up', or pass --registry): written as an OCI layout to $target/image/oci"
fi
size=$(du -sb "$stage/rootfs" | cut -f1)
say "$name revision=$revision rootfs_bytes=$size build_s=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')"
echo "$pushed"
