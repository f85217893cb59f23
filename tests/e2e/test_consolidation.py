"""Consolidation and the disruption controls end to end, on the real control plane with KWOK and
the extended moto: a workload scaled down is consolidated onto fewer nodes with PDBs honoured;
do-not-disrupt keeps a node; a budget of 1 disrupts one node at a time; a drifted Provisioner
rolls its nodes, and so does a newer image its amiSelector matches."""

from __future__ import annotations

import threading
import time

import boto3
from harness import procs

from test_disruption import node_events
from test_interruption import MinAvailable, app, app_pods, metric, pdb, wait_running
from test_provisioning import REGION, apply, env, nodes, provisioner  # noqa: F401

DEADLINE_S = 240


def ours(cluster, provisioner_name: str) -> list[dict]:
    return [n for n in nodes(cluster)
            if n["metadata"].get("labels", {}).get("karpenter.sh/provisioner-name") == provisioner_name]


def live(cluster, provisioner_name: str) -> set[str]:
    return {n["metadata"]["name"] for n in ours(cluster, provisioner_name) if not n["metadata"].get("deletionTimestamp")}


def hourly_cost(cluster, provisioner_name: str) -> float:
    return sum(float(n["metadata"].get("annotations", {}).get("karpenter.k8s.aws/price-per-hour", 0))
               for n in ours(cluster, provisioner_name) if not n["metadata"].get("deletionTimestamp"))


class MaxDeleting:
    """Samples how many of a provisioner's nodes are being deleted at once; keeps the maximum."""

    def __init__(self, cluster, provisioner_name: str):
        self.maximum = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(cluster, provisioner_name), daemon=True)
        self._thread.start()

    def _run(self, cluster, name):
        while not self._stop.wait(0.3):
            try:
                n = sum(1 for x in ours(cluster, name) if x["metadata"].get("deletionTimestamp"))
            except Exception:  # a failed sample is not a measurement
                continue
            self.maximum = max(self.maximum, n)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.maximum


def stable(cluster, name: str, seconds: float):
    """The provisioner's live nodes once they have not changed for `seconds`."""
    seen = {"nodes": None, "since": time.monotonic()}

    def check():
        now = live(cluster, name)
        if now != seen["nodes"]:
            seen.update(nodes=now, since=time.monotonic())
            return None
        return now if time.monotonic() - seen["since"] >= seconds else None
    return check


def test_a_workload_scaled_down_is_consolidated_onto_fewer_cheaper_nodes_with_the_pdb_honoured(cluster, aws, env):
    ns = env["namespace"]
    p = provisioner("default", ["on-demand"])
    p["spec"]["consolidation"] = {"enabled": True}
    p["spec"]["disruption"] = {"budgets": [{"nodes": "50%"}]}
    apply(cluster, p)
    controller = env["start"]()
    apply(cluster, app("web", ns, 9, cpu="600m"))
    apply(cluster, pdb("web", ns, 1))
    wait_running(cluster, ns, "web", 9)
    peak_nodes = live(cluster, "default")
    peak_cost = hourly_cost(cluster, "default")

    cluster.kubectl("scale", "deployment", "web", "-n", ns, "--replicas=3")
    watch = MinAvailable(cluster, ns, "web")
    # Longer than a candidate's stabilisation (30 s) plus the validation (10 s) and two passes.
    after = procs.wait_for("consolidated and stable", stable(cluster, "default", 75), DEADLINE_S * 3)
    minimum = watch.stop()
    running = wait_running(cluster, ns, "web", 3)
    assert hourly_cost(cluster, "default") < peak_cost, (peak_nodes, after)
    assert len(after) <= len(peak_nodes)
    assert minimum is not None and minimum >= 2, f"the PDB (maxUnavailable 1) was broken: {minimum} of 3 available"
    assert {p["spec"]["nodeName"] for p in running} <= after
    text = controller.metrics()
    consolidated = sum(metric(text, "karpenter_disruption_actions_performed_total", decision=d, reason=r)
                       for d, r in [("delete", "empty"), ("delete", "underutilized"), ("replace", "underutilized")])
    assert consolidated >= 1, text
    assert any(line.get("message", "").startswith("consolidation:") for line in controller.log_lines())
    gone = peak_nodes - after
    assert gone and any(node_events(cluster, n, "Disrupting") for n in gone), "no Disrupting event on a consolidated node"


def test_do_not_disrupt_keeps_an_expired_node_and_says_why(cluster, aws, env):
    ns = env["namespace"]
    p = provisioner("default", ["spot"])
    p["spec"]["ttlSecondsUntilExpired"] = 15
    apply(cluster, p)
    controller = env["start"]()
    keep = app("keep", ns, 1)
    keep["spec"]["template"]["metadata"]["annotations"] = {"karpenter.sh/do-not-disrupt": "true"}
    apply(cluster, keep)
    running = wait_running(cluster, ns, "keep", 1)
    node = running[0]["spec"]["nodeName"]
    # Waited for on this controller's metric: node names come back in later tests, and an event
    # about an earlier node of the same name would end the wait too soon.
    procs.wait_for("expiry blocked", lambda: metric(controller.metrics(), "karpenter_disruption_blocked_total",
                                                    blocker="do-not-disrupt", reason="expired") >= 1 or None, DEADLINE_S)
    assert node_events(cluster, node, "DisruptionBlocked")
    time.sleep(10)
    assert node in live(cluster, "default"), "the node was disrupted despite do-not-disrupt"
    node_obj = next(n for n in nodes(cluster) if n["metadata"]["name"] == node)
    assert not node_obj["spec"].get("unschedulable"), "the node was cordoned"
    # Without the annotation the node expires as usual.
    cluster.kubectl("delete", "deployment", "keep", "-n", ns)
    procs.wait_for("expired node terminated", lambda: node not in {n["metadata"]["name"] for n in nodes(cluster)}, DEADLINE_S)


def test_a_budget_of_one_disrupts_one_node_at_a_time(cluster, aws, env):
    ns = env["namespace"]
    p = provisioner("default", ["spot"])
    p["spec"]["ttlSecondsUntilExpired"] = 30
    p["spec"]["disruption"] = {"budgets": [{"nodes": "1"}]}
    apply(cluster, p)
    controller = env["start"]()
    wide = app("wide", ns, 3)
    wide["spec"]["template"]["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "wide"}}}]}}
    apply(cluster, wide)
    running = wait_running(cluster, ns, "wide", 3)
    first = {p["spec"]["nodeName"] for p in running}
    assert len(first) == 3, first
    watch = MaxDeleting(cluster, "default")
    procs.wait_for("every first node expired", lambda: not (first & {n["metadata"]["name"] for n in nodes(cluster)}),
                   DEADLINE_S * 2)
    assert watch.stop() <= 1, "more than one node was being deleted at once"
    # The same from the controller's own log: from "terminating node" to "node terminated", the
    # disruptions of the first nodes never overlap.
    started, ended = {}, {}
    for line in controller.log_lines():
        if line.get("message") == "terminating node" and line.get("node") in first:
            started.setdefault(line["node"], line["timestamp"])
        if line.get("message") == "node terminated" and line.get("node") in first:
            ended.setdefault(line["node"], line["timestamp"])
    assert set(started) == first and set(ended) == first, (started, ended)
    spans = sorted((started[n], ended[n]) for n in first)
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1)), f"overlapping disruptions: {spans}"
    wait_running(cluster, ns, "wide", 3)


def moved_off(cluster, ns: str, app_name: str, count: int, old: set[str], nodes_ok):
    """A check: every pod of the app Running, none on `old`, and `nodes_ok(nodes they are on)`."""
    def check():
        pods = [x for x in app_pods(cluster, ns, app_name)
                if x["status"].get("phase") == "Running" and not x["metadata"].get("deletionTimestamp")]
        placed = {x["spec"]["nodeName"] for x in pods}
        if len(pods) != count or placed & old:
            return None
        on = [n for n in nodes(cluster) if n["metadata"]["name"] in placed]
        return on if nodes_ok(on) else None
    return check


def test_a_drifted_provisioner_rolls_its_nodes(cluster, aws, env):
    ns = env["namespace"]
    p = provisioner("default", ["spot"])
    p["spec"]["labels"] = {"team": "a"}
    apply(cluster, p)
    controller = env["start"]()
    apply(cluster, app("svc", ns, 2))
    running = wait_running(cluster, ns, "svc", 2)
    old = {p["spec"]["nodeName"] for p in running}
    p["spec"]["labels"] = {"team": "b"}
    apply(cluster, p)

    rolled = moved_off(cluster, ns, "svc", 2, old, lambda on: all(n["metadata"]["labels"].get("team") == "b" for n in on))
    procs.wait_for("pods on nodes of the new launch settings", rolled, DEADLINE_S * 2)
    text = controller.metrics()
    assert metric(text, "karpenter_disruption_actions_performed_total", decision="delete", reason="drifted") >= 1
    assert any(node_events(cluster, n, "Drifted") for n in old)


def golden_image(ec2, base: str, name: str) -> str:
    builder = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1, InstanceType="m5.large")["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=builder, Name=name)["ImageId"]
    ec2.create_tags(Resources=[image], Tags=[{"Key": "team", "Value": "ml"}])
    ec2.terminate_instances(InstanceIds=[builder])
    return image


def test_nodes_on_an_image_the_ami_selector_no_longer_picks_are_replaced(cluster, aws, env):
    ns = env["namespace"]
    ec2 = boto3.client("ec2", region_name=REGION)
    base = boto3.client("ssm", region_name=REGION).get_parameter(
        Name="/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id")["Parameter"]["Value"]
    first = golden_image(ec2, base, "golden-1")
    p = provisioner("golden", ["spot"])
    p["spec"]["provider"]["amiFamily"] = "Custom"
    p["spec"]["provider"]["amiSelector"] = {"team": "ml", "aws::name": "golden-*"}
    p["spec"]["provider"]["userData"] = "#!/bin/bash\n/opt/golden/join-cluster\n"
    p["spec"]["requirements"].append({"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]})
    apply(cluster, p)
    controller = env["start"]()
    apply(cluster, app("svc", ns, 2))
    old = {x["spec"]["nodeName"] for x in wait_running(cluster, ns, "svc", 2)}
    image = {n["metadata"]["name"]: n["metadata"]["annotations"].get("karpenter.k8s.aws/image-id") for n in nodes(cluster)}
    assert all(image[n] == first for n in old), image
    # Image creation dates have a resolution of a second: the new one must be newer.
    time.sleep(1.1)
    second = golden_image(ec2, base, "golden-2")

    rolled = moved_off(cluster, ns, "svc", 2, old, lambda on: {
        n["metadata"]["annotations"].get("karpenter.k8s.aws/image-id") for n in on} == {second})
    procs.wait_for("pods on nodes booted from the newer image", rolled, DEADLINE_S * 2)
    drifted = [e for n in old for e in node_events(cluster, n, "Drifted")]
    assert any(first in e.get("message", e.get("note", "")) and second in e.get("message", e.get("note", ""))
               for e in drifted), drifted
    text = controller.metrics()
    assert metric(text, "karpenter_disruption_actions_performed_total", decision="delete", reason="drifted") >= 1
