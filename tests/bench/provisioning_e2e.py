"""`make bench` figure for provisioning end to end, on the local environment:

  bench provisioning_e2e pods=30 pending_to_fleet_p99_ms=... pending_to_running_p99_s=... controller_rss_mib=...

The scenario is the e2e suite's (tests/e2e/test_provisioning.py): the spot-fleet Provisioner and 30
pods of five sizes spread over three zones, with the controller already running and its instance
catalog loaded. Clock zero is the moment the Deployments are applied. For each pod,
pending_to_fleet is the controller's log timestamp of the CreateFleet that launched its node
("launched node", microseconds), and pending_to_running the pod's Ready transition (whole seconds,
as the API server records it). controller_rss_mib is the controller's peak RSS (VmHWM).

usage: python bench/provisioning_e2e.py PATH/TO/karpenter-controller
"""

from __future__ import annotations

import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.local_env import environment, kubectl_apply  # noqa: E402
from e2e.test_provisioning import SIZES, deployment, provisioner  # noqa: E402
from harness import procs  # noqa: E402

PODS = 30
APP = "bench"


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = Path(sys.argv[1]).resolve()
    with environment("bench-provisioning", binary, APP) as env:
        cluster = env.cluster
        kubectl_apply(cluster, provisioner("spot-fleet", ["spot"]))
        proc, _ = env.start_controller(binary)

        def catalog_loaded() -> bool:
            if not proc.alive():
                raise RuntimeError(f"controller exited:\n{proc.tail()}")
            return "instance catalog loaded" in proc.log.read_text(errors="replace")

        procs.wait_for("the instance catalog", catalog_loaded, 120, interval=0.2)

        start = time.time()
        for obj in deployment(APP, APP, PODS, SIZES):
            kubectl_apply(cluster, obj)

        def all_ready() -> list[dict] | None:
            pods = cluster.get_json("pods", "-n", APP)["items"]
            ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in p["status"].get("conditions", []))]
            return ready if len(ready) == PODS else None

        pods = procs.wait_for(f"{PODS} pods Ready", all_ready, 300, interval=0.5)
        launched = {}
        for raw in proc.log.read_text(errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if line.get("message") == "launched node":
                launched[line["node"]] = parse_time(line["timestamp"])
        fleet_ms, running_s = [], []
        for pod in pods:
            node = pod["spec"]["nodeName"]
            if node not in launched:
                raise RuntimeError(f"pod {pod['metadata']['name']} runs on {node}, which no log line launched")
            fleet_ms.append((launched[node] - start) * 1000)
            ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
            running_s.append(max(0.0, parse_time(ready["lastTransitionTime"]) - start))
        rss = peak_rss_mib(proc.pid)
        print(f"bench provisioning_e2e pods={PODS} pending_to_fleet_p99_ms={p99(fleet_ms):.0f} "
              f"pending_to_running_p99_s={p99(running_s):.1f} controller_rss_mib={rss:.1f} "
              f"nodes={len(launched)} build={binary.parent.name}", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
