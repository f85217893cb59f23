"""The control plane is real: kube-scheduler binds, KWOK plays the kubelet, the API server
enforces PodDisruptionBudgets on evictions."""

from __future__ import annotations

import json

from harness.procs import wait_for

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1
        resources: {requests: {cpu: 250m, memory: 256Mi}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 3
  selector: {matchLabels: {app: web}}
"""


NODE = "ip-10-0-1-23.local"


def node_manifest(name: str) -> str:
    """A Node as the controller creates it for a launched instance."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "m5.large",
                    "topology.kubernetes.io/zone": "ap-southeast-1a",
                    "karpenter.sh/capacity-type": "spot",
                },
            },
            "spec": {"providerID": "aws:///ap-southeast-1a/i-0123456789abcdef0"},
            "status": {
                "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"},
                "allocatable": {"cpu": "1930m", "memory": "7Gi", "pods": "29"},
            },
        }
    )


def pods(cluster, selector: str) -> list[dict]:
    return cluster.get_json("pods", "-n", "default", "-l", selector)["items"]


def test_pods_wait_for_a_node_then_run_on_it_and_evictions_honour_the_pdb(cluster):
    # The cluster is shared with the e2e suite: a Deployment whose PDB allows no eviction, left
    # behind, would land on the controller's nodes there and block every drain.
    try:
        check_scheduling_and_eviction(cluster)
    finally:
        cluster.kubectl("delete", "-f", "-", "--wait=true", "--timeout=60s", input=DEPLOYMENT, check=False)
        cluster.kubectl("delete", "node", NODE, "--wait=true", "--timeout=60s", check=False)


def check_scheduling_and_eviction(cluster):
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)

    def all_unschedulable():
        items = pods(cluster, "app=web")
        conditions = [
            c for p in items for c in p["status"].get("conditions", []) if c["type"] == "PodScheduled"
        ]
        return len(items) == 3 and len(conditions) == 3 and all(
            c["status"] == "False" and c["reason"] == "Unschedulable" for c in conditions
        )

    wait_for("3 pods marked Unschedulable by kube-scheduler", all_unschedulable, 60)

    cluster.kubectl("create", "-f", "-", input=node_manifest(NODE))

    def node_ready():
        node = cluster.get_json("node", NODE)
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))

    wait_for("the node to become Ready through KWOK", node_ready, 60)

    def all_running_on_node():
        items = pods(cluster, "app=web")
        return len(items) == 3 and all(
            p["spec"].get("nodeName") == NODE and p["status"].get("phase") == "Running"
            for p in items
        )

    wait_for("3 pods bound to the node and Running", all_running_on_node, 90)

    def pdb_settled():
        status = cluster.get_json("pdb", "web", "-n", "default")["status"]
        return status.get("currentHealthy") == 3 and status.get("disruptionsAllowed") == 0

    wait_for("the PDB to count 3 healthy pods", pdb_settled, 60)

    victim = pods(cluster, "app=web")[0]["metadata"]["name"]
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": victim, "namespace": "default"},
    }
    response = cluster.api().post(
        f"{cluster.server}/api/v1/namespaces/default/pods/{victim}/eviction", json=eviction, timeout=10
    )
    assert response.status_code == 429, response.text
    assert "disruption budget" in response.json()["message"]
    # The pod is still there: a refused eviction deletes nothing.
    assert cluster.kubectl("get", "pod", victim, "-n", "default", check=False).returncode == 0


def test_the_server_reports_kubernetes_1_35(cluster):
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.35.")
    assert version["clientVersion"]["gitVersion"].startswith("v1.35.")
