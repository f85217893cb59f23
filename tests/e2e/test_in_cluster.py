"""The controller as users run it: `terraform apply` of examples/spot-fleet installs it from the
image built here (controller/image/build.sh, pushed to the local registry), and its pods run on the
real node (containerd + runc + kubelet): pulled by digest, in-cluster config, the service account
and RBAC the provider granted, the settings ConfigMap, the leader Lease, and AWS credentials from a
web identity token exchanged with the emulator's STS (IRSA). Then the whole job: pending pods ->
spot nodes, a spot interruption -> replacement, drain and termination, destroy -> nothing left.
KWOK plays the kubelet for the nodes the controller launches only."""

from __future__ import annotations

import json
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from harness import aws as aws_harness
from harness import demo, incluster, paths, procs, terraform

CLUSTER = "incluster"
ZONES = demo.ZONES
APP = "inflate"
REPLICAS = 6


@pytest.fixture
def tfr(provider_dir: Path, tmp_path: Path, cluster) -> terraform.Runner:
    return terraform.Runner(terraform.terraform_binary(), terraform.cli_config(tmp_path / "tf", provider_dir),
                            {"KUBECONFIG": str(cluster.kubeconfig)})


def running(cluster, namespace: str) -> list[dict]:
    return [p for p in cluster.get_json("pods", "-n", namespace)["items"] if p["status"].get("phase") == "Running"]


def workload(cluster) -> None:
    for obj in demo.workload():
        obj = json.loads(json.dumps(obj).replace(f'"{demo.APP_NAMESPACE}"', f'"{APP}"'))
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = REPLICAS
        cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))


@contextmanager
def policy_without(role_name: str, action: str):
    """The role's managed policy with `action` taken out of every statement, as a new default
    version (signed by the harness's root keys); the original version is the default again after."""
    iam = boto3.client("iam")
    arn = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"][0]["PolicyArn"]
    original = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=original)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != action] or ["ec2:DescribeTags"]
    reduced = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document),
                                        SetAsDefault=True)["PolicyVersion"]["VersionId"]
    try:
        yield
    finally:
        iam.set_default_policy_version(PolicyArn=arn, VersionId=original)
        iam.delete_policy_version(PolicyArn=arn, VersionId=reduced)


def big_pod(name: str) -> dict:
    """A pod that may not share a node with the workload, so the controller must launch one."""
    away = {"labelSelector": {"matchLabels": {"app": "inflate"}}, "topologyKey": "kubernetes.io/hostname"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": APP},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [away]}},
                     "containers": [{
                "name": "app", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}


def test_terraform_apply_runs_the_controller_on_the_real_node_which_provisions_replaces_and_leaves_nothing(
        cluster, aws, real_node, controller_image, tfr, tmp_path):
    aws_harness.make_network(CLUSTER, ZONES)
    aws_harness.register_eks_cluster(CLUSTER, cluster)
    oidc = incluster.oidc_provider()
    workdir = tmp_path / "spot-fleet"
    shutil.copytree(paths.REPO / "examples" / "spot-fleet", workdir)
    tf_vars = ["-var", f"cluster_name={CLUSTER}", "-var", f"cluster_endpoint={cluster.server}",
               *incluster.terraform_vars(controller_image, aws.endpoint, oidc)]
    try:
        tfr.apply(workdir, *tf_vars)

        # Apply returned after the rollout: every replica runs on the real node, from the pushed digest.
        pods = incluster.pods(cluster)
        assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
        digest = controller_image.rsplit("@", 1)[1]
        for pod in pods:
            assert pod["spec"]["nodeName"] == real_node.name
            status = pod["status"]["containerStatuses"][0]
            assert status["ready"] and status["imageID"].endswith(digest), status
            env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
            # IRSA only: no static keys anywhere, and IMDS does not exist here.
            assert env["AWS_ROLE_ARN"].endswith(f"KarpenterControllerRole-{CLUSTER}")
            assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
        leader = procs.wait_for("a leader", lambda: incluster.leader(cluster), 60)
        assert leader in {p["metadata"]["name"] for p in pods}
        messages = [incluster.message(r) for r in incluster.logs(cluster, leader)]
        assert "settings resolved" in messages, messages
        resolved = next(r for r in incluster.logs(cluster, leader) if incluster.message(r) == "settings resolved")
        assert resolved["cluster"] == CLUSTER  # read from the ConfigMap the provider wrote

        # The job: pending pods -> spot capacity; the controller never binds pods itself.
        workload(cluster)
        try:
            nodes = procs.wait_for(f"{REPLICAS} pods Running", lambda: len(running(cluster, APP)) == REPLICAS
                                   and demo.karpenter_nodes(cluster), 240)
        except procs.Timeout:
            tail = [r for r in incluster.logs(cluster, leader) if r.get("level") in ("WARN", "ERROR")][-10:]
            raise AssertionError(f"the controller's last warnings and errors: {json.dumps(tail, indent=1)}") from None
        for node in nodes:
            labels = node["metadata"]["labels"]
            assert labels["karpenter.sh/provisioner-name"] == "spot-fleet"
            assert labels["karpenter.sh/capacity-type"] == "spot"
        assert all(p["spec"]["nodeName"] != real_node.name for p in running(cluster, APP))
        created = re.search(r'^karpenter_nodes_created_total\{[^}]*\} (\d+)', incluster.metrics(cluster), re.M)
        assert created and int(created.group(1)) >= 1

        # A spot interruption warning through EventBridge -> SQS -> the in-cluster queue processor.
        victim = nodes[0]
        instance = victim["spec"]["providerID"].rsplit("/", 1)[-1]
        before = {n["metadata"]["name"] for n in nodes}
        demo.spot_interruption(instance)

        def replaced() -> bool:
            current = demo.karpenter_nodes(cluster)
            names = {n["metadata"]["name"] for n in current}
            fresh = [n for n in current if n["metadata"]["name"] not in before and demo.is_ready(n)]
            return bool(fresh) and victim["metadata"]["name"] not in names

        procs.wait_for("the replacement Ready and the interrupted node gone", replaced, 240)
        procs.wait_for(f"{REPLICAS} pods Running again", lambda: len(running(cluster, APP)) == REPLICAS, 240)
        procs.wait_for(f"{instance} terminated", lambda: demo.instance_state(instance) in ("shutting-down", "terminated"), 120)
        cordoned = [r for r in incluster.logs(cluster, leader) if incluster.message(r) == "interruption: node cordoned"]
        assert [r["instance"] for r in cordoned] == [instance], cordoned

        # Every call above was authorised by the emulator against the policy the provider installed
        # (the controller signs as its role session). A permission it lacks fails where it is
        # needed, with AWS's refusal in the pod's events and the log, and nothing is launched.
        with policy_without(f"KarpenterControllerRole-{CLUSTER}", "ec2:CreateFleet"):
            cluster.kubectl("apply", "-f", "-", input=json.dumps(big_pod("big")))

            def refused() -> list[dict]:
                return [e for e in cluster.get_json("events", "-n", APP)["items"]
                        if e["involvedObject"]["name"] == "big" and "UnauthorizedOperation" in (e.get("message") or "")]

            events = procs.wait_for("a launch refused for lack of ec2:CreateFleet", refused, 120)
            assert "ec2:CreateFleet" in events[0]["message"], events[0]
            assert any("UnauthorizedOperation" in incluster.message(r) for r in incluster.logs(cluster, leader))
            assert cluster.get_json("pod", "big", "-n", APP)["status"]["phase"] == "Pending"
        # The permission back, the same pod gets its node.
        procs.wait_for("the big pod Running", lambda: cluster.get_json("pod", "big", "-n", APP)["status"].get("phase") == "Running", 240)

        cluster.kubectl("delete", "namespace", APP, "--wait=false")
        procs.wait_for("the workload gone", lambda: not cluster.get_json("pods", "-n", APP)["items"], 120)
        tfr.destroy(workdir, *tf_vars)
        assert demo.leftovers(cluster, CLUSTER) == []
        assert not incluster.pods(cluster)
    finally:
        if tfr.run(workdir, "state", "list", check=False).stdout.split():
            cluster.kubectl("delete", "namespace", APP, "--wait=false", check=False)
            tfr.run(workdir, "destroy", "-auto-approve", "-no-color", *tf_vars, check=False)


BAD_IMAGE = """
terraform {
  required_providers {
    karpenter = { source = "karpenter-rs/karpenter" }
  }
}

provider "karpenter" {
  region       = "ap-southeast-1"
  cluster_name = "%(cluster)s"
}

resource "karpenter_controller" "controller" {
  image    = "%(image)s"
  replicas = 2
  timeouts {
    create = "40s"
    delete = "2m"
  }
}
"""


def test_an_image_that_cannot_be_pulled_fails_apply_naming_it_and_why_and_destroy_removes_the_rest(
        cluster, aws, real_node, registry_server, tfr, tmp_path):
    image = f"{registry_server.address}/karpenter-controller:does-not-exist"
    workdir = tmp_path / "bad-image"
    workdir.mkdir()
    (workdir / "main.tf").write_text(BAD_IMAGE % {"cluster": "badimage", "image": image})
    failed = tfr.run(workdir, "apply", "-auto-approve", "-no-color", check=False)
    assert failed.returncode != 0
    text = re.sub(r"\s+", " ", failed.stdout + failed.stderr)
    assert f"The controller did not start: {image}" in text, text
    assert re.search(r"ErrImagePull|ImagePullBackOff", text), text
    assert "did not roll out within 40s" in text, text
    # The objects are in the state (tainted): destroy removes them all.
    assert "karpenter_controller.controller" in tfr.run(workdir, "state", "list").stdout
    tfr.destroy(workdir)
    assert cluster.kubectl("get", "namespace", "karpenter", check=False).returncode != 0
    assert not tfr.run(workdir, "state", "list").stdout.split()


IMDS_MONITOR = """
terraform {
  required_providers {
    karpenter = { source = "karpenter-rs/karpenter" }
  }
}

provider "karpenter" {
  region       = "ap-southeast-1"
  cluster_name = "imds"
}

resource "karpenter_controller" "controller" {
  image        = "%(image)s"
  imds_monitor = true
  env          = %(env)s
}
"""


def test_the_imds_monitor_daemonset_cordons_and_drains_the_real_node_on_a_spot_notice(
        cluster, aws, real_node, controller_image, tfr, tmp_path, run_dir):
    """The DaemonSet's pod runs on the real node (host network) and reads the metadata service the
    way it would on EC2, here amazon-ec2-metadata-mock on the host address."""
    port = procs.free_port()
    endpoint = f"http://{real_node.ip}:{port}"
    env = {"IMDS_ENDPOINT": endpoint, "IMDS_POLL_INTERVAL": "500ms", "AWS_ENDPOINT_URL": aws.endpoint,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    workdir = tmp_path / "imds"
    workdir.mkdir()
    (workdir / "main.tf").write_text(IMDS_MONITOR % {"image": controller_image, "env": json.dumps(env)})
    state = run_dir / "imds-in-cluster"
    mock = None
    try:
        # The notice is served only once the installation has rolled out, or the monitor would drain
        # the controller's pods before apply sees them Ready.
        tfr.apply(workdir)
        monitor = cluster.get_json("pods", "-n", "karpenter", "-l", "app.kubernetes.io/name=karpenter-imds-monitor")["items"]
        assert [p["spec"]["nodeName"] for p in monitor] == [real_node.name]
        mock_bin = paths.go_component("ec2-metadata-mock") / "ec2-metadata-mock"
        mock = procs.start("aemm", [str(mock_bin), "spot", "--action", "terminate", "-d", "0",
                                    "--rebalance-delay-sec", "3600", "--imdsv2", "-n", real_node.ip, "-p", str(port)], state)

        def cordoned() -> bool:
            spec = cluster.get_json("node", real_node.name)["spec"]
            return bool(spec.get("unschedulable")) and any(t["key"] == "karpenter.sh/disruption" for t in spec.get("taints", []))

        procs.wait_for("the real node cordoned", cordoned, 120)
        # Drained within the controller's PodDisruptionBudget: its pods are evicted one at a time
        # and their replacements cannot schedule on the cordoned node.
        procs.wait_for("a controller pod evicted and pending", lambda: any(
            p["status"].get("phase") == "Pending" for p in incluster.pods(cluster)), 120)
        name = monitor[0]["metadata"]["name"]
        said = [r for r in incluster.logs(cluster, name) if incluster.message(r) == "imds-monitor: notice"]
        assert said and said[0]["kind"] == "spot_interruption" and said[0]["action"] == "cordon-and-drain", said
    finally:
        if mock:
            procs.stop_pid(mock.pid)
        tfr.run(workdir, "destroy", "-auto-approve", "-no-color", check=False)
        spec = cluster.get_json("node", real_node.name)["spec"]
        taints = [t for t in spec.get("taints", []) if t["key"] != "karpenter.sh/disruption"]
        cluster.kubectl("patch", "node", real_node.name, "--type=merge",
                        "-p", json.dumps({"spec": {"unschedulable": False, "taints": taints}}))
