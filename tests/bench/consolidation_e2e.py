"""`make bench` figure for consolidation end to end, on the local environment:

  bench consolidation pods_peak=... pods_after=... cost_before_per_hour=... cost_after_per_hour=...
        lower_bound_per_hour=... seconds_to_stable=... decisions=...

A fixed scale-up/scale-down: the e2e suite's five pod sizes, 510 pods over three zones, on an
on-demand Provisioner with consolidation on and a budget of 20%; once every pod runs, each
Deployment is scaled to a third. Costs are the sum of the launch prices (annotation
`karpenter.k8s.aws/price-per-hour`) of the live nodes. lower_bound is what the remaining requests
cost at the cheapest $/vCPU and the cheapest $/GiB among the types launched at the peak (the larger
of the two): no packing onto those types can cost less. seconds_to_stable runs from the scale-down to
the last change of the node set, which then stays unchanged for 90 s (longer than a candidate's
stabilisation and validation), or `unsettled` when that does not happen within 15 minutes; decisions
is the controller's karpenter_disruption_decisions_total.

usage: python bench/consolidation_e2e.py PATH/TO/karpenter-controller
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.local_env import environment, kubectl_apply  # noqa: E402
from e2e.test_provisioning import SIZES, deployment, provisioner  # noqa: E402
from harness import procs  # noqa: E402

PODS = 510
APP = "consolidation"
QUIET_S = 90
# Past this the figure is printed with seconds_to_stable=unsettled rather than failing the bench.
SETTLE_LIMIT_S = 900


def quantity(text: str) -> float:
    """cpu in cores or memory in GiB from a Kubernetes quantity."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * units.get(m.group(2), 1)


def live_nodes(cluster) -> list[dict]:
    return [n for n in cluster.instance_nodes() if not n["metadata"].get("deletionTimestamp")]


def cost(nodes: list[dict]) -> float:
    return sum(float(n["metadata"].get("annotations", {}).get("karpenter.k8s.aws/price-per-hour", 0)) for n in nodes)


def running(cluster) -> list[dict]:
    pods = cluster.get_json("pods", "-n", APP)["items"]
    return [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def requests_of(pods: list[dict]) -> tuple[float, float]:
    cpu = gib = 0.0
    for p in pods:
        for c in p["spec"]["containers"]:
            r = c.get("resources", {}).get("requests", {})
            cpu += quantity(r.get("cpu", "0"))
            gib += quantity(r.get("memory", "0")) / 2**30
    return cpu, gib


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = Path(sys.argv[1]).resolve()
    with environment("bench-consolidation", binary, APP) as env:
        cluster = env.cluster
        p = provisioner("default", ["on-demand"])
        p["spec"]["consolidation"] = {"enabled": True}
        p["spec"]["disruption"] = {"budgets": [{"nodes": "20%"}]}
        kubectl_apply(cluster, p)
        _, port = env.start_controller(binary)
        objects = deployment(APP, APP, PODS, SIZES)
        for obj in objects:
            kubectl_apply(cluster, obj)
        procs.wait_for(f"{PODS} pods running", lambda: len(running(cluster)) == PODS or None, 600, interval=1)
        peak = live_nodes(cluster)
        cost_before = cost(peak)
        per_cpu = min(float(n["metadata"]["annotations"]["karpenter.k8s.aws/price-per-hour"])
                      / quantity(n["status"]["capacity"]["cpu"]) for n in peak)
        per_gib = min(float(n["metadata"]["annotations"]["karpenter.k8s.aws/price-per-hour"])
                      / (quantity(n["status"]["capacity"]["memory"]) / 2**30) for n in peak)

        for obj in objects:
            replicas = max(1, obj["spec"]["replicas"] // 3)
            cluster.kubectl("scale", "deployment", obj["metadata"]["name"], "-n", APP, f"--replicas={replicas}")
        scaled = sum(max(1, o["spec"]["replicas"] // 3) for o in objects)
        start = time.time()
        last_change, seen = start, {n["metadata"]["name"] for n in live_nodes(cluster)}

        def quiet():
            nonlocal last_change, seen
            now = {n["metadata"]["name"] for n in live_nodes(cluster)}
            if now != seen:
                seen, last_change = now, time.time()
            settled = time.time() - last_change >= QUIET_S and len(running(cluster)) == scaled
            return settled or None
        deadline = time.time() + SETTLE_LIMIT_S
        settled = False
        while time.time() < deadline and not settled:
            settled = bool(quiet())
            time.sleep(2)
        after = live_nodes(cluster)
        cpu, gib = requests_of(running(cluster))
        bound = max(cpu * per_cpu, gib * per_gib)
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        decisions = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                        if line.startswith("karpenter_disruption_decisions_total{"))
        print(f"bench consolidation pods_peak={PODS} pods_after={scaled} nodes_peak={len(peak)} "
              f"nodes_after={len(after)} cost_before_per_hour={cost_before:.4f} "
              f"cost_after_per_hour={cost(after):.4f} lower_bound_per_hour={bound:.4f} "
              f"seconds_to_stable={f'{last_change - start:.0f}' if settled else 'unsettled'} "
              f"decisions={decisions:.0f} "
              f"build={binary.parent.name}", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
