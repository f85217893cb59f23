#!/usr/bin/env bash
# `make bench`: every benchmark figure, one `bench <name> key=value ...` line each, on stdout.
# Progress and build output go to stderr so stdout stays machine-readable.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

# Scheduling: pure solve() over the documented fixed-seed input (docs/benchmarks/scheduling-input.md).
cargo run -q --release -p karpenter-core --bin scheduling-bench -- run
