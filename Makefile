# karpenter-rs — the two commands people need are `make demo` and `make test`.
# Everything a target needs is installed or built on first use and cached by version under
# ~/.cache/karpenter-rs (Go components, the Python venv) and target/ (Rust).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PY := .venv/bin/python
PYTEST := .venv/bin/pytest
GO_COMPONENTS := kubernetes etcd kwok opentofu ec2-metadata-mock containerd runc registry helm nodeadm-check toxiproxy
# The real node's CNI plugins, kube-proxy's iptables and conntrack, libseccomp for runc, and
# buildah, which builds the controller image.
DEBIAN_PACKAGES := libseccomp-dev containernetworking-plugins iptables conntrack buildah
export CARGO_TERM_COLOR ?= never

.PHONY: test demo bench image env-up env-down install deps venv go-components debian-packages promtool build lint fmt clean-env

## test: every test — Rust unit/property/integration tests, then the end-to-end suite on the local environment
test: deps build
	cargo test --workspace --all-targets
	cd tests && ../$(PYTEST) -q

## demo: the main job end to end on the local environment
demo: deps build
	cd tests && ../$(PY) -m harness.demo

## bench: benchmark figures, one `bench <name> key=value ...` line each
bench: deps build
	tests/bin/bench.sh

## image: the controller image (release), built with buildah from controller/image/Dockerfile; pushed to
## the local environment's registry when one is up (the last line of stdout is its reference)
image: debian-packages
	@controller/image/build.sh

## env-up / env-down: the local environment for working by hand — eval "$$(make -s env-up)"
env-up: deps
	@cd tests && ../$(PY) -m harness up

env-down:
	@cd tests && ../$(PY) -m harness down

## install: build the provider and install it into the local filesystem mirror (offline terraform init)
install:
	tests/bin/install-provider.sh

# Debian packages first: runc's build needs libseccomp-dev.
deps: venv debian-packages go-components promtool

venv:
	@tests/bin/venv.sh

debian-packages:
	@tests/bin/apt-install.sh $(DEBIAN_PACKAGES)

promtool:
	@tests/bin/promtool.sh >/dev/null

go-components: debian-packages
	@for c in $(GO_COMPONENTS); do tests/bin/build-go.sh $$c >/dev/null; done

build:
	cargo build --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all
