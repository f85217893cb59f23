"""Emptiness and expiry end to end with short TTLs, on the real control plane with KWOK and the
extended moto: the node is terminated through the finalizer (drained, instance terminated), with
an event, a metric and a log line."""

from __future__ import annotations


from harness import procs

from test_provisioning import REGION, apply, env, nodes, provisioner  # noqa: F401
from test_interruption import app, app_pods, instance_of, instance_state, metric, wait_running

DEADLINE_S = 180


def node_events(cluster, node: str, reason: str) -> list[dict]:
    items = cluster.get_json("events", "-A")["items"]
    return [e for e in items if e.get("reason") == reason
            and (e.get("regarding") or e.get("involvedObject") or {}).get("name") == node]


def test_a_node_empty_for_its_ttl_is_terminated_and_daemonset_pods_do_not_count(cluster, aws, env):
    ns = env["namespace"]
    p = provisioner("default", ["spot"])
    p["spec"]["ttlSecondsAfterEmpty"] = 5
    apply(cluster, p)
    controller = env["start"]()
    apply(cluster, app("batch", ns, 1))
    running = wait_running(cluster, ns, "batch", 1)
    node = running[0]["spec"]["nodeName"]
    instance = instance_of(next(n for n in nodes(cluster) if n["metadata"]["name"] == node))
    apply(cluster, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": ns},
                    "spec": {"selector": {"matchLabels": {"ds": "agent"}},
                             "template": {"metadata": {"labels": {"ds": "agent"}},
                                          "spec": {"tolerations": [{"operator": "Exists"}],
                                                   "containers": [{"name": "a", "image": "registry.k8s.io/pause:3.10"}]}}}})
    cluster.kubectl("delete", "deployment", "batch", "-n", ns)
    procs.wait_for("empty node terminated", lambda: node not in {n["metadata"]["name"] for n in nodes(cluster)}, DEADLINE_S)
    assert procs.wait_for("instance terminated", lambda: instance_state(instance) in ("shutting-down", "terminated"), 60)
    text = controller.metrics()
    assert metric(text, "karpenter_deprovisioning_actions_performed_total", action="empty") == 1
    assert metric(text, "karpenter_nodes_terminated_total", provisioner="default", reason="empty") == 1
    assert node_events(cluster, node, "Empty"), "no Empty event on the node"
    assert any(line.get("reason") == "empty" and line.get("node") == node
               for line in controller.log_lines()), "no log line for the emptiness"


def test_an_expired_node_is_replaced_and_its_pod_moves(cluster, aws, env):
    ns = env["namespace"]
    p = provisioner("default", ["spot"])
    p["spec"]["ttlSecondsUntilExpired"] = 20
    apply(cluster, p)
    controller = env["start"]()
    apply(cluster, app("svc", ns, 1))
    running = wait_running(cluster, ns, "svc", 1)
    node = running[0]["spec"]["nodeName"]
    instance = instance_of(next(n for n in nodes(cluster) if n["metadata"]["name"] == node))
    procs.wait_for("expired node terminated", lambda: node not in {n["metadata"]["name"] for n in nodes(cluster)}, DEADLINE_S)

    def moved():
        return [p for p in app_pods(cluster, ns, "svc") if p["status"].get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp") and p["spec"].get("nodeName") != node] or None
    procs.wait_for("pod running elsewhere", moved, DEADLINE_S)
    assert procs.wait_for("instance terminated", lambda: instance_state(instance) in ("shutting-down", "terminated"), 60)
    text = controller.metrics()
    assert metric(text, "karpenter_deprovisioning_actions_performed_total", action="expired") >= 1
    assert node_events(cluster, node, "Expired"), "no Expired event on the node"
