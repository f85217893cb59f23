"""The controller's Helm chart (controller/chart, generated from the objects karpenter_controller
installs; the Rust test controller_chart::tests compares `helm template` with them) through the
real helm v3: lint, and install on the local environment, where the controller's pods start on the
real node from the image built here, then uninstall, which leaves only the CRD (helm keeps CRDs)."""

from __future__ import annotations

import json
import subprocess

from harness import paths, procs

CHART = paths.REPO / "controller" / "chart"
NAMESPACE = "karpenter-helm"


def helm(cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    binary = paths.go_component("helm") / "helm"
    return subprocess.run([str(binary), "--kubeconfig", str(cluster.kubeconfig), *args],
                          capture_output=True, text=True, check=check)


def test_lint_is_clean_and_a_missing_image_is_refused_by_name(cluster):
    lint = helm(cluster, "lint", str(CHART), "--strict", "--set", "image=x", "--set", "clusterName=c",
                "--set", "region=ap-southeast-1")
    assert lint.returncode == 0 and "0 chart(s) failed" in lint.stdout, lint.stdout + lint.stderr
    missing = helm(cluster, "template", "x", str(CHART), "--set", "clusterName=c", "--set", "region=r", check=False)
    assert missing.returncode != 0 and "image: build and push one with `make image`" in missing.stderr


def test_helm_install_runs_the_controller_on_the_real_node_and_uninstall_removes_it(
        cluster, aws_emulator, real_node, controller_image):
    env = {"AWS_ENDPOINT_URL": aws_emulator.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    try:
        helm(cluster, "install", "karpenter", str(CHART), "--namespace", NAMESPACE, "--create-namespace",
             "--set", f"image={controller_image}", "--set", "clusterName=helm", "--set", "region=ap-southeast-1",
             "--set", "replicas=1", "--set-json", f"env={json.dumps(env)}", "--wait", "--timeout", "3m")
        # helm's --wait counts a Deployment ready at replicas - maxUnavailable, here 0: wait for the pod.
        def ready_pods() -> list[dict]:
            pods = cluster.get_json("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=karpenter")["items"]
            return [p for p in pods if all(c["ready"] for c in p["status"].get("containerStatuses") or [{"ready": False}])]

        pods = procs.wait_for("the controller pod Ready", ready_pods, 120)
        assert [p["spec"]["nodeName"] for p in pods] == [real_node.name]
        settings = cluster.get_json("configmap", "karpenter-settings", "-n", NAMESPACE)["data"]
        assert settings == {"clusterName": "helm"}
        lease = procs.wait_for("the leader Lease", lambda: cluster.get_json(
            "lease", "karpenter-leader-election", "-n", NAMESPACE)["spec"].get("holderIdentity"), 60)
        assert lease == pods[0]["metadata"]["name"]
    finally:
        helm(cluster, "uninstall", "karpenter", "--namespace", NAMESPACE, "--wait", "--timeout", "2m", check=False)

        def remaining() -> list[str]:
            return cluster.kubectl("get", "all,configmap,serviceaccount,role,rolebinding,pdb", "-n", NAMESPACE,
                                   "-l", "app.kubernetes.io/name=karpenter", "-o", "name").stdout.split()

        # The pods go with their ReplicaSet, in the background, after their grace period.
        try:
            procs.wait_for("the release's objects gone", lambda: not remaining(), 90)
            left = []
        except procs.Timeout:
            left = remaining()
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        # helm keeps CRDs on uninstall; the provider tests install their own.
        cluster.kubectl("delete", "crd", "provisioners.karpenter.sh", "--wait=true", check=False)
    assert left == [], left
    for kind, name in [("clusterrole", "karpenter"), ("clusterrolebinding", "karpenter")]:
        assert cluster.kubectl("get", kind, name, check=False).returncode != 0, f"{kind} {name} left"
