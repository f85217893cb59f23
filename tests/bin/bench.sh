#!/usr/bin/env bash
# `make bench`: every benchmark figure, one `bench <name> key=value ...` line each, on stdout.
# Progress and build output go to stderr so stdout stays machine-readable. Benchmarks use the
# release profile; the first run builds it (about 30 minutes cold on 2 cores, measured with the
# machine otherwise idle for most of it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

# Two invocations: `--bin` would otherwise narrow every selected package to that one binary.
cargo build -q --release -p karpenter-core --bin scheduling-bench >&2
cargo build -q --release -p terraform-provider-karpenter -p karpenter-controller >&2
# The chaos suite runs the e2e suite's (debug) controller.
cargo build -q -p karpenter-controller >&2

# Scheduling: pure solve() over the documented fixed-seed input (docs/benchmarks/scheduling-input.md).
"$target/release/scheduling-bench" run
# Consolidation: the decision alone, on the cluster the scheduler builds for 5,000 pods (1,000
# nodes) and 20,000 pods (4,000 nodes) once two thirds of the pods have left.
"$target/release/scheduling-bench" consolidation --pods 5000
"$target/release/scheduling-bench" consolidation --pods 20000

# Provider: handshake latency and terraform plan wall time (tests/provider/bench.py).
(cd tests && ../.venv/bin/python provider/bench.py "$target/release/terraform-provider-karpenter")

# Provisioning end to end on the local environment (tests/bench/provisioning_e2e.py).
(cd tests && ../.venv/bin/python bench/provisioning_e2e.py "$target/release/karpenter-controller")

# Consolidation end to end: 510 pods scaled down to a third (tests/bench/consolidation_e2e.py).
(cd tests && ../.venv/bin/python bench/consolidation_e2e.py "$target/release/karpenter-controller")

# Interruption queue processor: message-to-taint latency and throughput (tests/bench/interruption_e2e.py).
(cd tests && ../.venv/bin/python bench/interruption_e2e.py "$target/release/karpenter-controller")

# The controller image (size, build time) and the in-cluster installation (apply to Ready, RSS)
# on the real node of the local environment (tests/bench/in_cluster.py).
(cd tests && ../.venv/bin/python bench/in_cluster.py "$target/release")

# Faults on cue (tests/e2e/test_chaos.py, also part of `make test`): each scenario appends what its
# invariant check found; the line sums them (tests/bench/chaos_report.py, docs/testing/chaos.md).
rm -f tests/.work/chaos-report.jsonl
(cd tests && ../.venv/bin/pytest -q -p no:cacheprovider e2e/test_chaos.py provider/test_interrupted_apply.py \
    provider/test_provisioner.py::test_a_controller_killed_mid_destroy_leaves_destroy_to_finish_with_nothing_left >&2) ||
    echo "chaos: a scenario failed (see above)" >&2
(cd tests && ../.venv/bin/python bench/chaos_report.py .work/chaos-report.jsonl)
