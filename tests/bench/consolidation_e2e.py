"""`make bench` figure for consolidation end to end, on the local environment:

  bench consolidation pods_peak=... pods_after=... cost_before_per_hour=... cost_after_per_hour=...
        lower_bound_per_hour=... seconds_to_stable=... decisions=...

A fixed scale-up/scale-down: the e2e suite's five pod sizes, 510 pods over three zones, on an
on-demand Provisioner with consolidation on and a budget of 20%; once every pod runs, each
Deployment is scaled to a third. Costs are the sum of the launch prices (annotation
`karpenter.k8s.aws/price-per-hour`) of the live nodes. lower_bound is what the remaining requests
cost in the linear relaxation of buying the Provisioner's instance types (their allocatable, their
cheapest on-demand price): no plan can cost less. fresh_solve_per_hour is what our scheduler buys for
the remaining pods from nothing (`scheduling-bench fresh`, next to the controller binary): the
yardstick for what consolidation left in place. seconds_to_stable runs from the scale-down to
the last change of the node set, which then stays unchanged for 90 s (longer than a candidate's
stabilisation and validation), or `unsettled` when that does not happen within 15 minutes; decisions
is the controller's karpenter_disruption_decisions_total.

usage: python bench/consolidation_e2e.py PATH/TO/karpenter-controller
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.local_env import environment, kubectl_apply  # noqa: E402
from awsemu import catalog, prices  # noqa: E402
from e2e.test_provisioning import SIZES, TYPES, ZONES, deployment, provisioner  # noqa: E402
from harness import procs  # noqa: E402

PODS = 510
APP = "consolidation"
QUIET_S = 90
# Past this the figure is printed with seconds_to_stable=unsettled rather than failing the bench.
SETTLE_LIMIT_S = 900


def live_nodes(cluster) -> list[dict]:
    return [n for n in cluster.instance_nodes() if not n["metadata"].get("deletionTimestamp")]


def cost(nodes: list[dict]) -> float:
    return sum(float(n["metadata"].get("annotations", {}).get("karpenter.k8s.aws/price-per-hour", 0)) for n in nodes)


def running(cluster) -> list[dict]:
    pods = cluster.get_json("pods", "-n", APP)["items"]
    return [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def instance_type(name: str) -> dict:
    """A Provisioner type in the scheduler's input format, from the emulator's own catalog and prices."""
    info = catalog.info(name)
    arch = catalog.architectures(name)[0]
    shape = catalog.shape(name)
    net = info["NetworkInfo"]
    family, size = name.split(".", 1)
    parts = prices.family_parts(name)
    price = prices.on_demand_price(shape)
    return {
        "name": name, "arch": {"x86_64": "amd64"}.get(arch, arch), "vcpus": shape.vcpus,
        "memoryMib": shape.memory_mib,
        # The ENI limit, as the controller derives it (controller/src/cloud/catalog.rs eni_max_pods).
        "maxPods": net["MaximumNetworkInterfaces"] * (net["Ipv4AddressesPerInterface"] - 1) + 2,
        "family": family, "category": parts[0], "generation": parts[1], "size": size,
        "offerings": [{"zone": z, "capacityType": "on-demand", "price": price} for z in ZONES],
    }


def fresh_solve(binary: Path, prov: dict, pods: list[dict]) -> dict[str, str]:
    """`scheduling-bench fresh` on the running pods, unbound, and the Provisioner's types."""
    unbound = [{"metadata": p["metadata"], "spec": {k: v for k, v in p["spec"].items() if k != "nodeName"}}
               for p in pods]
    doc = {"provisioners": [prov], "instanceTypes": [instance_type(t) for t in TYPES], "pods": unbound}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(doc, f)
        f.flush()
        out = subprocess.run([str(binary.parent / "scheduling-bench"), "fresh", "--input", f.name],
                             check=True, capture_output=True, text=True).stdout
    return dict(kv.split("=", 1) for kv in out.split()[1:])


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
        fresh = fresh_solve(binary, p, running(cluster))
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        decisions = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                        if line.startswith("karpenter_disruption_decisions_total{"))
        print(f"bench consolidation pods_peak={PODS} pods_after={scaled} nodes_peak={len(peak)} "
              f"nodes_after={len(after)} cost_before_per_hour={cost_before:.4f} "
              f"cost_after_per_hour={cost(after):.4f} lower_bound_per_hour={fresh['lower_bound_per_hour']} "
              f"fresh_solve_per_hour={fresh['cost_per_hour']} fresh_solve_nodes={fresh['nodes']} "
              f"seconds_to_stable={f'{last_change - start:.0f}' if settled else 'unsettled'} "
              f"decisions={decisions:.0f} "
              f"build={binary.parent.name}", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
