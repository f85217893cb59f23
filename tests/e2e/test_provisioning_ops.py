"""The controller's operational surface against the real API server: the CRD from
`karpenter-controller manifests` (the seed's YAML applies unchanged, bad Provisioners are rejected by
the API server), /healthz, /readyz, /metrics, and leader election over a Lease with two replicas."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness import paths, procs, rbac

from test_provisioning import NAMESPACE, controller_binary, start_controller

# The seed's Provisioner, verbatim (its ${CLUSTER_NAME} filled in).
SEED_YAML = (paths.REPO / "tests" / "data" / "seed-spot-fleet.yaml").read_text().replace("${CLUSTER_NAME}", "demo")


@pytest.fixture
def crd(cluster):
    manifests = subprocess.run([str(controller_binary()), "manifests"], check=True, capture_output=True, text=True).stdout
    cluster.kubectl("apply", "-f", "-", input=manifests)
    cluster.kubectl("wait", "--for=condition=Established", "crd/provisioners.karpenter.sh", "--timeout=60s")
    yield
    cluster.kubectl("delete", "provisioners", "--all", "--wait=true", check=False)


def bad(name: str, **spec) -> str:
    base = {
        "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}],
        "provider": {"subnetSelector": {"karpenter.sh/discovery": "demo"}},
    }
    base.update(spec)
    return json.dumps({"apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner",
                       "metadata": {"name": name}, "spec": base})


def test_the_seed_provisioner_applies_unchanged_and_reads_back_with_its_fields(cluster, crd):
    cluster.kubectl("apply", "-f", "-", input=SEED_YAML)
    got = cluster.get_json("provisioner", "spot-fleet")
    assert got["spec"]["ttlSecondsUntilExpired"] == 2592000
    assert got["spec"]["provider"] == {"subnetSelector": {"karpenter.sh/discovery": "demo"}}
    assert [r["key"] for r in got["spec"]["requirements"]] == [
        "node.kubernetes.io/instance-type", "topology.kubernetes.io/zone", "karpenter.sh/capacity-type"]
    table = cluster.kubectl("get", "provisioners", "-o", "wide").stdout
    header = table.splitlines()[0]
    for column in ("NODES", "CPU", "MEMORY", "WEIGHT", "AGE"):
        assert column in header, header


@pytest.mark.parametrize("name,spec,needle", [
    ("bad-operator", {"requirements": [{"key": "kubernetes.io/arch", "operator": "Maybe", "values": ["amd64"]}]}, "Maybe"),
    ("bad-capacity", {"requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["preemptible"]}]}, "spot"),
    ("negative-ttl", {"ttlSecondsAfterEmpty": -5}, "ttlSecondsAfterEmpty"),
    ("bad-quantity", {"limits": {"resources": {"cpu": "lots"}}}, "limits.resources.cpu"),
    ("negative-quantity", {"limits": {"resources": {"memory": "-1Gi"}}}, "limits.resources.memory"),
    ("in-without-values", {"requirements": [{"key": "kubernetes.io/arch", "operator": "In"}]}, "at least one value"),
    ("restricted-key", {"requirements": [{"key": "kubernetes.io/hostname", "operator": "Exists"}]}, "set by the controller"),
    ("bad-taint-effect", {"taints": [{"key": "k", "effect": "Sometimes"}]}, "effect"),
])
def test_the_api_server_rejects_a_provisioner_the_controller_cannot_honour(cluster, crd, name, spec, needle):
    result = cluster.kubectl("apply", "-f", "-", input=bad(name, **spec), check=False)
    assert result.returncode != 0, f"{name} was accepted"
    assert needle in result.stderr, result.stderr
    assert cluster.kubectl("get", "provisioner", name, check=False).returncode != 0


def test_health_readiness_and_metrics_are_served(cluster, aws, run_dir):
    import requests

    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    rbac.grant(cluster, NAMESPACE)
    c = start_controller(cluster, run_dir / "ops-http", name="ops-http")
    try:
        base = f"http://127.0.0.1:{c.port}"
        assert requests.get(f"{base}/healthz", timeout=5).text == "ok"
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        metrics = requests.get(f"{base}/metrics", timeout=5)
        assert metrics.headers["content-type"].startswith("application/openmetrics-text")
        for name in ("karpenter_nodes_created", "karpenter_nodes_terminated",
                     "karpenter_pods_scheduling_decision_duration_seconds",
                     "karpenter_cloudprovider_instance_launch_failures", "karpenter_cost_per_hour"):
            assert f"# TYPE {name} " in metrics.text, name
    finally:
        c.stop()


def lease_holder(cluster) -> str | None:
    result = cluster.kubectl("get", "lease", "-n", NAMESPACE, "karpenter-leader-election", "-o", "json", check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout).get("spec", {}).get("holderIdentity")


def is_leader(controller) -> bool:
    return "karpenter_leader_election_leader 1" in controller.metrics()


def test_two_replicas_elect_one_leader_which_hands_over_on_shutdown(cluster, aws, run_dir):
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    cluster.kubectl("delete", "lease", "-n", NAMESPACE, "karpenter-leader-election", check=False)
    a = start_controller(cluster, run_dir / "leader", name="replica-a")
    b = start_controller(cluster, run_dir / "leader", name="replica-b")
    try:
        holder = procs.wait_for("a lease holder", lambda: lease_holder(cluster), 30)
        leader, standby = (a, b) if holder == "replica-a" else (b, a)
        procs.wait_for("the holder reports leadership", lambda: is_leader(leader), 30)
        assert not is_leader(standby)
        leader.stop()
        # Released on shutdown: the standby takes over well before the 15 s lease would expire.
        procs.wait_for("the standby takes over", lambda: lease_holder(cluster) == standby.proc.name, 12)
        procs.wait_for("the standby reports leadership", lambda: is_leader(standby), 10)
        assert any("released the leader Lease" in line for line in leader.proc.log.read_text().splitlines())
    finally:
        a.stop()
        b.stop()
