"""Interruption handling end to end: events PutEvents'd onto a real (emulated) EventBridge bus are
routed to SQS, the controller long-polls the queue, and acts on the real control plane with KWOK
as the kubelet. Nothing is mocked: the Eviction API, PodDisruptionBudgets, the kube-scheduler and
the garbage collector are the real ones.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import boto3

from harness import procs, replay

from test_provisioning import REGION, apply, env, nodes, pods, provisioner, running_instances  # noqa: F401

RULES = {
    "spot": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
}
DEADLINE_S = 180


def make_queue() -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    url = sqs.create_queue(QueueName="e2e-interruption")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for name, pattern in RULES.items():
        events.put_rule(Name=f"e2e-{name}", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"e2e-{name}", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def put_event(detail_type: str, detail: dict, instance_id: str) -> None:
    events = boto3.client("events", region_name=REGION)
    result = events.put_events(Entries=[{
        "Source": "aws.ec2", "DetailType": detail_type, "Detail": json.dumps(detail),
        "Resources": [f"arn:aws:ec2:{REGION}:123456789012:instance/{instance_id}"],
    }])
    assert result["FailedEntryCount"] == 0, result


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one series, 0 when absent."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}(\{{([^}}]*)\}})? (\S+)$")
    for line in text.splitlines():
        m = pattern.match(line)
        if m and (m.group(2) or "") == want:
            return float(m.group(3))
    return 0.0


def instance_of(node: dict) -> str:
    return node["spec"]["providerID"].rsplit("/", 1)[-1]


def instance_state(instance_id: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]:
        for i in r["Instances"]:
            return i["State"]["Name"]
    return "missing"


def is_ready(obj: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


def app(name: str, namespace: str, replicas: int, cpu: str = "200m", memory: str = "256Mi") -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                         "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
            },
        },
    }


def pdb(name: str, namespace: str, max_unavailable: int) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": {"app": name}}}}


def app_pods(cluster, ns: str, name: str) -> list[dict]:
    return [p for p in pods(cluster, ns) if p["metadata"].get("labels", {}).get("app") == name]


def available(cluster, ns: str, name: str) -> int:
    return sum(1 for p in app_pods(cluster, ns, name)
               if p["status"].get("phase") == "Running" and is_ready(p) and not p["metadata"].get("deletionTimestamp"))


def wait_running(cluster, ns: str, name: str, count: int) -> list[dict]:
    def check():
        ps = app_pods(cluster, ns, name)
        running = [p for p in ps if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
        return running if len(running) == count and len(ps) == count else None
    return procs.wait_for(f"{count} {name} pods running", check, DEADLINE_S)


class MinAvailable:
    """Samples the number of available pods in the background; keeps the minimum seen."""

    def __init__(self, cluster, ns: str, name: str):
        self.minimum: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(cluster, ns, name), daemon=True)
        self._thread.start()

    def _run(self, cluster, ns, name):
        while not self._stop.is_set():
            try:
                n = available(cluster, ns, name)
            except Exception:  # a failed sample is not a measurement
                continue
            self.minimum = n if self.minimum is None else min(self.minimum, n)

    def stop(self) -> int | None:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.minimum


def start_with_queue(cluster, env, **settings) -> tuple:  # noqa: F811
    url = make_queue()
    apply(cluster, provisioner("default", ["spot"]))
    controller = env["start"](interruption_queue=url, **settings)
    return controller, url


def test_a_spot_interruption_launches_the_replacement_then_drains_within_the_pdb_and_terminates(cluster, aws, env):
    ns = env["namespace"]
    controller, _ = start_with_queue(cluster, env)
    apply(cluster, app("web", ns, 6))
    apply(cluster, pdb("web", ns, 1))
    running = wait_running(cluster, ns, "web", 6)
    victim_name = max({p["spec"]["nodeName"] for p in running},
                      key=lambda n: sum(1 for p in running if p["spec"]["nodeName"] == n))
    victim = next(n for n in nodes(cluster) if n["metadata"]["name"] == victim_name)
    instance = instance_of(victim)
    moved = [p["metadata"]["uid"] for p in running if p["spec"]["nodeName"] == victim_name]
    before = {n["metadata"]["name"] for n in nodes(cluster)}

    sampler = MinAvailable(cluster, ns, "web")
    put_event("EC2 Spot Instance Interruption Warning", {"instance-id": instance, "instance-action": "terminate"}, instance)

    procs.wait_for("the interrupted node gone", lambda: victim_name not in {n["metadata"]["name"] for n in nodes(cluster)}, DEADLINE_S)
    final = wait_running(cluster, ns, "web", 6)
    minimum = sampler.stop()
    assert all(p["spec"]["nodeName"] != victim_name for p in final)
    assert not {p["metadata"]["uid"] for p in final} & set(moved), "the victim's pods were not moved"
    new_nodes = [n for n in nodes(cluster) if n["metadata"]["name"] not in before]
    assert new_nodes and all(is_ready(n) for n in new_nodes), "no Ready replacement node"
    assert minimum is not None and minimum >= 5, f"PDB allows 1 unavailable of 6, saw only {minimum} available"
    assert procs.wait_for("instance terminated", lambda: instance_state(instance) in ("shutting-down", "terminated"), 60)
    text = controller.metrics()
    assert metric(text, "karpenter_interruption_received_messages_total", message_type="spot_interruption") == 1
    assert metric(text, "karpenter_interruption_actions_performed_total", action="replace-and-drain") == 1
    assert metric(text, "karpenter_interruption_deleted_messages_total") == 1
    assert metric(text, "karpenter_nodes_terminated_total", provisioner="default", reason="spot_interruption") == 1
    assert metric(text, "karpenter_interruption_message_latency_time_seconds_count") == 1


def test_a_rebalance_recommendation_by_default_launches_a_replacement_and_cordons_without_evicting(cluster, aws, env):
    ns = env["namespace"]
    controller, _ = start_with_queue(cluster, env)
    apply(cluster, app("api", ns, 3))
    running = wait_running(cluster, ns, "api", 3)
    victim_name = running[0]["spec"]["nodeName"]
    victim = next(n for n in nodes(cluster) if n["metadata"]["name"] == victim_name)
    instance = instance_of(victim)
    on_victim = {p["metadata"]["uid"] for p in running if p["spec"]["nodeName"] == victim_name}
    before = {n["metadata"]["name"] for n in nodes(cluster)}

    put_event("EC2 Instance Rebalance Recommendation", {"instance-id": instance}, instance)
    procs.wait_for("rebalance handled", lambda: metric(controller.metrics(), "karpenter_interruption_actions_performed_total",
                                                       action="replace-and-cordon") == 1, DEADLINE_S)
    current = {n["metadata"]["name"]: n for n in nodes(cluster)}
    old = current[victim_name]
    assert old["spec"].get("unschedulable") is True
    assert any(t["key"] == "karpenter.sh/disruption" and t["effect"] == "NoSchedule" for t in old["spec"].get("taints", []))
    assert old["metadata"].get("deletionTimestamp") is None
    replacements = [n for name, n in current.items() if name not in before]
    assert replacements, "no replacement node was launched"
    procs.wait_for("replacement Ready", lambda: all(is_ready(n) for n in nodes(cluster) if n["metadata"]["name"] not in before), 60)
    still = {p["metadata"]["uid"] for p in app_pods(cluster, ns, "api")
             if p["spec"].get("nodeName") == victim_name and not p["metadata"].get("deletionTimestamp")}
    assert still == on_victim, "a rebalance recommendation must not evict"
    assert instance_state(instance) == "running"
    assert metric(controller.metrics(), "karpenter_nodes_evictions_total", outcome="evicted") == 0


def test_a_thousand_messages_a_fifth_malformed_or_foreign_are_all_deleted_and_counted(cluster, aws, env):
    """The replay `make bench` runs with 10,000 (tests/harness/replay.py), in short: the fuzz corpus
    and well-formed events through the real queue, none of them for an instance of ours."""
    controller, url = start_with_queue(cluster, env)
    sqs = boto3.client("sqs", region_name=REGION)
    sent = 1000
    bodies, bad = replay.mix(sent, [f"i-0e{n:015x}" for n in range(50)])
    replay.send(sqs, url, bodies)
    procs.wait_for(f"{sent} messages deleted",
                   lambda: metric(controller.metrics(), "karpenter_interruption_deleted_messages_total") >= sent, 300)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                   "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    text = controller.metrics()
    assert metric(text, "karpenter_interruption_deleted_messages_total") == sent
    received = {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^karpenter_interruption_received_messages_total\{message_type="([^"]+)"\} (\S+)$', text, re.M)}
    assert sum(received.values()) == sent, received
    assert 0 < received.get("unparseable", 0) < bad, received
    # Every message that parsed into an interruption names an instance that is not ours.
    actionable = sum(v for kind, v in received.items() if kind not in ("unparseable", "ignored"))
    assert actionable >= sent - bad
    assert metric(text, "karpenter_interruption_actions_performed_total", action="not_ours") == actionable
    assert controller.proc.alive()
    import requests
    assert requests.get(f"http://127.0.0.1:{controller.port}/healthz", timeout=5).ok
