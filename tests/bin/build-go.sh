#!/usr/bin/env bash
# Builds one Go component of the local environment from the Go module proxy, once per version.
#   tests/bin/build-go.sh kubernetes|etcd|kwok|opentofu|ec2-metadata-mock|containerd|runc|registry|helm|nodeadm-check|toxiproxy
# Prints the directory holding the binaries. The wrapper modules live in tests/env/go/<component>;
# their go.mod pins the version and go.sum the checksums, so a build is reproducible offline of git.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KARPENTER_RS_CACHE:-$HOME/.cache/karpenter-rs}
component=${1:?usage: build-go.sh COMPONENT}
src="$root/tests/env/go/$component"
[ -f "$src/go.mod" ] || { echo "build-go: unknown component '$component' (no $src/go.mod)" >&2; exit 2; }

# The version a component is cached under is the one its wrapper pins.
version_of() {
  awk -v m="$1" '$1 == "require" { $1 = ""; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' "$src/go.mod"
}

cgo=0
tags=""
stamp=""
case "$component" in
  kubernetes)
    version=$(version_of k8s.io/kubernetes)
    minor=$(echo "$version" | cut -d. -f2)
    pkgs="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy"
    # component-base/version is what /version and `kubectl version` report; without these the
    # server says v0.0.0-master and clients warn about skew.
    v=k8s.io/component-base/version
    ldflags="-s -w -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
    ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    ;;
  etcd)
    version=$(version_of go.etcd.io/etcd/server/v3)
    pkgs="go.etcd.io/etcd/server/v3"
    ldflags="-s -w"
    ;;
  kwok)
    version=$(version_of sigs.k8s.io/kwok)
    pkgs="sigs.k8s.io/kwok/cmd/kwok"
    ldflags="-s -w"
    ;;
  opentofu)
    version=$(version_of github.com/opentofu/opentofu)
    pkgs="github.com/opentofu/opentofu/cmd/tofu"
    ldflags="-s -w -X github.com/opentofu/opentofu/version.dev=no"
    ;;
  ec2-metadata-mock)
    version=$(version_of github.com/aws/amazon-ec2-metadata-mock)
    pkgs="github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock"
    ldflags="-s -w"
    ;;
  containerd)
    version=$(version_of github.com/containerd/containerd/v2)
    pkgs="github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
    ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$version"
    ;;
  runc)
    version=$(version_of github.com/opencontainers/runc)
    pkgs="github.com/opencontainers/runc"
    ldflags="-s -w -X main.version=${version#v}"
    # runc's nsenter is C; seccomp needs libseccomp (Debian's libseccomp-dev).
    cgo=1
    tags=seccomp
    ;;
  registry)
    version=$(version_of github.com/distribution/distribution/v3)
    pkgs="github.com/distribution/distribution/v3/cmd/registry"
    ldflags="-s -w"
    ;;
  helm)
    version=$(version_of helm.sh/helm/v3)
    pkgs="helm.sh/helm/v3/cmd/helm"
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
    ;;
  toxiproxy)
    version=$(version_of github.com/Shopify/toxiproxy/v2)
    pkgs="github.com/Shopify/toxiproxy/v2/cmd/server"
    ldflags="-s -w -X github.com/Shopify/toxiproxy/v2.Version=$version"
    ;;
  nodeadm-check)
    # Built inside a copy of nodeadm's module: the checker calls packages internal to it.
    version=$(version_of github.com/awslabs/amazon-eks-ami/nodeadm)
    pkgs="./cmd/krs-nodeadm-check"
    ldflags="-s -w"
    # Its source is ours, not the pinned module's: a changed main.go is a new build.
    stamp=" $(sha256sum "$src/main.go" | cut -c1-16)"
    ;;
  *) echo "build-go: no recipe for '$component'" >&2; exit 2 ;;
esac

[ -n "$version" ] || { echo "build-go: cannot read the pinned version of $component from $src/go.mod" >&2; exit 2; }
out="$cache/bin/$component-$version"
# The marker holds the package list (and the stamp of our own source, where there is one), so a
# recipe that gains a command, or a checker that changed, is built again.
built() { [ -f "$out/.complete" ] && [ "$(cat "$out/.complete")" = "$pkgs$stamp" ]; }
if built; then echo "$out"; exit 0; fi
# Two callers (a test run and env-up, say) must not build into the same directory at once.
mkdir -p "$cache/bin"
exec 9>"$out.lock"
flock 9
if built; then echo "$out"; exit 0; fi
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
echo "build-go: building $component $version (first time only; cached in $out)" >&2
start=$(date +%s)
(
  cd "$src"
  export CGO_ENABLED=$cgo GOFLAGS=-mod=mod
  if [ "$component" = nodeadm-check ]; then
    module=$(go mod download -json github.com/awslabs/amazon-eks-ami/nodeadm@"$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    cp -r "$module" "$out.tmp/src"
    chmod -R u+w "$out.tmp/src"
    rm -rf "$out.tmp/src/vendor"
    mkdir -p "$out.tmp/src/cmd/krs-nodeadm-check"
    cp "$src/main.go" "$out.tmp/src/cmd/krs-nodeadm-check/"
    cd "$out.tmp/src"
  fi
  go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.tmp/" $pkgs
)
rm -rf "$out.tmp/src"
# etcd's main package is the module root: name the binary as people know it.
[ "$component" = etcd ] && [ -f "$out.tmp/server" ] && mv "$out.tmp/server" "$out.tmp/etcd"
[ "$component" = toxiproxy ] && [ -f "$out.tmp/server" ] && mv "$out.tmp/server" "$out.tmp/toxiproxy-server"
rm -rf "$out"
mv "$out.tmp" "$out"
printf '%s' "$pkgs$stamp" > "$out/.complete"
echo "build-go: $component $version built in $(( $(date +%s) - start ))s" >&2
echo "$out"
