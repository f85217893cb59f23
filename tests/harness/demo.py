"""`make demo`: the main job end to end on the local environment, with a readable timeline.

1. Start the local environment: the real control plane, a real node (containerd + kubelet) for
   the controller, KWOK for the nodes it launches, a local OCI registry, the extended AWS
   emulator, and a VPC with one subnet per zone tagged for discovery, as an EKS cluster has.
2. Build the controller image (controller/image/build.sh, what `make image` runs) and push it.
3. `terraform apply` examples/spot-fleet: roles, profile, queue, EventBridge rules, the IRSA
   controller role, the controller installation and the seed's spot-fleet Provisioner. Apply
   returns once the controller's pods run on the real node; they pull the image by digest, read
   their settings ConfigMap, take the leader Lease and get AWS credentials through IRSA.
4. Scale a workload; nodes arrive on spot; the pods run.
5. Put a spot interruption warning for one node on the event bus; the replacement arrives, the old
   node is drained and its instance terminated.
6. `terraform destroy`; prove nothing is left. The last line is `demo ok: leftovers=0`, or says what
   is left and the exit status is 1. Ctrl-C stops everything the demo started.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import boto3

from . import aws as aws_mod
from . import cluster as cluster_mod
from . import image, incluster, node, paths, procs, registry, terraform

T = TypeVar("T")

CLUSTER = "demo"
NAMESPACE = "karpenter"
APP_NAMESPACE = "demo"
REPLICAS = 10
ZONES = ("ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c")
DEMO_DIR = paths.WORK / "demo"
EVENTS = paths.REPO / "tests" / "data" / "events"

_t0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _t0:6.1f}s] {text}", flush=True)


def wait(what: str, check: Callable[[], T | None], timeout: float, progress: Callable[[], str] | None = None) -> T:
    """wait_for with a progress line every 5 s, so a person sees what is being waited on."""
    last = [time.monotonic()]

    def probe() -> T | None:
        value = check()
        if not value and progress and time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            say(f"  ... {progress()}")
        return value

    return procs.wait_for(what, probe, timeout, interval=0.5)


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", paths.REPO / "target")) / "debug"


# --- Kubernetes -----------------------------------------------------------------------------------


def kubectl_json(cluster: cluster_mod.Cluster, *args: str) -> list[dict]:
    return cluster.get_json(*args)["items"]


def karpenter_nodes(cluster: cluster_mod.Cluster) -> list[dict]:
    return [n for n in kubectl_json(cluster, "nodes") if "karpenter.sh/provisioner-name" in n["metadata"]["labels"]]


def is_ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


def running_pods(cluster: cluster_mod.Cluster) -> list[dict]:
    return [p for p in kubectl_json(cluster, "pods", "-n", APP_NAMESPACE) if p["status"].get("phase") == "Running"]


def describe(node: dict) -> str:
    labels = node["metadata"]["labels"]
    return (f"{node['metadata']['name']}  {labels.get('node.kubernetes.io/instance-type')}  "
            f"{labels.get('topology.kubernetes.io/zone')}  {labels.get('karpenter.sh/capacity-type')}")


def workload() -> list[dict]:
    labels = {"app": "inflate"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP_NAMESPACE}},
        {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "inflate", "namespace": APP_NAMESPACE},
            "spec": {
                "replicas": REPLICAS,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "inflate", "image": "registry.k8s.io/pause:3.10",
                                    "resources": {"requests": {"cpu": "1", "memory": "1536Mi"}}}],
                }},
            },
        },
        {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "inflate", "namespace": APP_NAMESPACE},
            "spec": {"maxUnavailable": 2, "selector": {"matchLabels": labels}},
        },
    ]


# --- AWS ------------------------------------------------------------------------------------------


def instance_state(instance_id: str) -> str:
    for r in boto3.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]:
        for i in r["Instances"]:
            return i["State"]["Name"]
    return "missing"


def spot_interruption(instance_id: str) -> None:
    """The shared sample message's event, for our instance, onto the default bus."""
    sample = json.loads((EVENTS / "spot-interruption-warning.json").read_text())
    detail = {**sample["detail"], "instance-id": instance_id}
    region = os.environ["AWS_REGION"]
    result = boto3.client("events").put_events(Entries=[{
        "Source": "aws.ec2", "DetailType": sample["detail-type"], "Detail": json.dumps(detail),
        "Resources": [f"arn:aws:ec2:{region}:123456789012:instance/{instance_id}"],
    }])
    if result["FailedEntryCount"]:
        raise RuntimeError(f"PutEvents failed: {result}")


def leftovers(cluster: cluster_mod.Cluster, name: str = CLUSTER) -> list[str]:
    """Everything of cluster `name` that a complete destroy removes, as readable lines."""
    ec2, iam = boto3.client("ec2"), boto3.client("iam")
    left = []
    for r in ec2.describe_instances(Filters=[{"Name": "tag:karpenter.sh/cluster", "Values": [name]}])["Reservations"]:
        left += [f"instance {i['InstanceId']} ({i['State']['Name']})" for i in r["Instances"]
                 if i["State"]["Name"] not in ("terminated",)]
    templates = ec2.describe_launch_templates(Filters=[{"Name": "tag:karpenter.sh/cluster", "Values": [name]}])
    left += [f"launch template {t['LaunchTemplateName']}" for t in templates["LaunchTemplates"]]
    left += [f"queue {u}" for u in boto3.client("sqs").list_queues().get("QueueUrls", [])]
    left += [f"rule {r['Name']}" for r in boto3.client("events").list_rules()["Rules"]]
    left += [f"role {r['RoleName']}" for r in iam.list_roles()["Roles"] if name in r["RoleName"]]
    left += [f"policy {p['PolicyName']}" for p in iam.list_policies(Scope="Local")["Policies"]]
    left += [f"instance profile {p['InstanceProfileName']}" for p in iam.list_instance_profiles()["InstanceProfiles"]]
    crd = cluster.kubectl("get", "crd", "provisioners.karpenter.sh", check=False)
    if crd.returncode == 0:
        left += [f"provisioner {p['metadata']['name']}" for p in kubectl_json(cluster, "provisioners")]
        left.append("crd provisioners.karpenter.sh")
    left += [f"node {n['metadata']['name']}" for n in karpenter_nodes(cluster)]
    if cluster.kubectl("get", "configmap", "aws-auth", "-n", "kube-system", check=False).returncode == 0:
        left.append("configmap kube-system/aws-auth")
    return left


# --- the demo -------------------------------------------------------------------------------------


def show_controller(cluster: cluster_mod.Cluster) -> None:
    for pod in incluster.pods(cluster):
        status = pod["status"]
        image_id = (status.get("containerStatuses") or [{}])[0].get("imageID", "?")
        say(f"  pod {pod['metadata']['name']} on node {pod['spec'].get('nodeName')}: {status['phase']}, image {image_id}")
    say(f"  leader (Lease {incluster.NAMESPACE}/{incluster.LEASE}): {incluster.leader(cluster)}")


def show_logs(cluster: cluster_mod.Cluster, since: int) -> int:
    """The leader's log lines since record `since`, through `kubectl logs`; returns the new count."""
    records = incluster.logs(cluster, incluster.leader_pod(cluster)["metadata"]["name"])
    for record in records[since:]:
        fields = {k: v for k, v in record.items() if k not in ("timestamp", "level", "target", "message", "spans")}
        extra = " ".join(f"{k}={v}" for k, v in list(fields.items())[:6])
        say(f"  log {record.get('level', ''):5} {incluster.message(record)} {extra}".rstrip())
    return len(records)


def run(state: Path) -> list[str]:
    say("starting the local environment (first run builds Kubernetes, etcd, KWOK, containerd and the registry)")
    cluster = cluster_mod.start(state / "cluster")
    reg = registry.start(state / "registry")
    say(f"kube-apiserver {cluster.server}, registry {reg.address}")
    say("starting the real node (containerd + runc + CNI + kubelet + kube-proxy) ...")
    the_node = node.start(cluster, reg, state / "node")
    try:
        return run_on(cluster, reg, the_node, state)
    finally:
        the_node.stop()


def run_on(cluster: cluster_mod.Cluster, reg: registry.Registry, the_node: node.Node, state: Path) -> list[str]:
    say(f"node {the_node.name} Ready at {the_node.ip} (tainted CriticalAddonsOnly: system pods only)")
    aws = aws_mod.start(state / "aws")
    os.environ.update(aws.env())
    say(f"AWS emulator {aws.endpoint}")
    aws_mod.make_network(CLUSTER, ZONES)
    say(f"VPC with subnets in {', '.join(ZONES)} tagged karpenter.sh/discovery={CLUSTER}")
    aws_mod.register_eks_cluster(CLUSTER, cluster)
    say(f"EKS DescribeCluster {CLUSTER} answers with the local API server, CA and Service CIDR")
    oidc = incluster.oidc_provider()
    say(f"IAM OIDC provider for the cluster's service-account issuer: {oidc}")

    say("building the controller image (controller/image/build.sh, as `make image`) ...")
    ref = image.build(reg.address, profile="dev")
    say(f"pushed {ref}")

    workdir = state / "spot-fleet"
    shutil.copytree(paths.REPO / "examples" / "spot-fleet", workdir)
    tf = terraform.Runner(
        terraform.terraform_binary(),
        terraform.cli_config(state / "tf", target_dir()),
        {"KUBECONFIG": str(cluster.kubeconfig)},
    )
    tf_vars = ["-var", f"cluster_endpoint={cluster.server}", *incluster.terraform_vars(ref, aws.endpoint, oidc)]
    say("terraform apply examples/spot-fleet ... (returns once the controller has rolled out)")
    began = time.monotonic()
    tf.apply(workdir, *tf_vars)
    state_list = tf.run(workdir, "state", "list").stdout.split()
    say(f"applied {len(state_list)} resources in {time.monotonic() - began:.1f}s: {', '.join(state_list)}")
    wait("a controller pod leading", lambda: incluster.leader(cluster), 60)
    show_controller(cluster)
    seen = show_logs(cluster, 0)
    return scenario(cluster, tf, workdir, tf_vars, seen)


def scenario(cluster: cluster_mod.Cluster, tf: terraform.Runner, workdir: Path, tf_vars: list[str],
             seen: int) -> list[str]:
    for obj in workload():
        cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
    say(f"scaled deployment inflate to {REPLICAS} pods (1 vCPU, 1.5 GiB each); waiting for capacity")
    began = time.monotonic()
    wait(f"{REPLICAS} pods Running", lambda: len(running_pods(cluster)) == REPLICAS, 300,
         lambda: f"{len(running_pods(cluster))}/{REPLICAS} pods Running, {len(karpenter_nodes(cluster))} nodes")
    nodes = karpenter_nodes(cluster)
    say(f"{REPLICAS} pods Running after {time.monotonic() - began:.1f}s on {len(nodes)} nodes:")
    for each in nodes:
        say(f"  {describe(each)}")
    seen = show_logs(cluster, seen)
    cost = [line for line in incluster.metrics(cluster).splitlines()
            if line.startswith("karpenter_") and "cost" in line and not line.startswith("#")]
    for line in cost:
        say(f"  {line}")

    victim = nodes[0]
    instance = victim["spec"]["providerID"].rsplit("/", 1)[-1]
    before = {n["metadata"]["name"] for n in nodes}
    spot_interruption(instance)
    say(f"PutEvents: EC2 Spot Instance Interruption Warning for {instance} (node {victim['metadata']['name']})")
    began = time.monotonic()

    def replaced() -> bool:
        current = karpenter_nodes(cluster)
        names = {n["metadata"]["name"] for n in current}
        fresh = [n for n in current if n["metadata"]["name"] not in before and is_ready(n)]
        return bool(fresh) and victim["metadata"]["name"] not in names

    def progress() -> str:
        current = karpenter_nodes(cluster)
        fresh = [n["metadata"]["name"] for n in current if n["metadata"]["name"] not in before]
        old = next((n for n in current if n["metadata"]["name"] == victim["metadata"]["name"]), None)
        cordoned = bool(old and old["spec"].get("unschedulable"))
        return (f"replacement nodes {fresh or 'none yet'}; old node "
                f"{'cordoned, draining' if cordoned else ('present' if old else 'gone')}; "
                f"{len(running_pods(cluster))}/{REPLICAS} pods Running")

    wait("the replacement node Ready and the interrupted node gone", replaced, 300, progress)
    say(f"replacement Ready and {victim['metadata']['name']} drained and removed after {time.monotonic() - began:.1f}s")
    wait(f"{REPLICAS} pods Running again", lambda: len(running_pods(cluster)) == REPLICAS, 300,
         lambda: f"{len(running_pods(cluster))}/{REPLICAS} pods Running")
    wait(f"instance {instance} terminated", lambda: instance_state(instance) in ("shutting-down", "terminated"), 120)
    say(f"instance {instance} is {instance_state(instance)}; all {REPLICAS} pods Running")
    for each in karpenter_nodes(cluster):
        say(f"  {describe(each)}")
    say("the controller's log of it (kubectl logs):")
    show_logs(cluster, seen)

    # The workload goes first, as before any teardown: its PodDisruptionBudget would otherwise
    # (rightly) stop the drain of the last nodes once nowhere is left to run its pods.
    cluster.kubectl("delete", "namespace", APP_NAMESPACE, "--wait=false")
    wait("the workload gone", lambda: not kubectl_json(cluster, "pods", "-n", APP_NAMESPACE), 120)
    say("workload deleted; terraform destroy ...")
    began = time.monotonic()
    tf.destroy(workdir, *tf_vars)
    say(f"destroyed in {time.monotonic() - began:.1f}s; checking for leftovers")
    return leftovers(cluster)


def main() -> int:
    state = DEMO_DIR
    if state.exists():
        node.cleanup(state / "node")
        procs_left = list(state.glob("**/*.pid"))
        for directory in {p.parent for p in procs_left}:
            procs.stop_all(directory)
        shutil.rmtree(state)
    state.mkdir(parents=True)
    left: list[str] | None = None
    try:
        left = run(state)
    except KeyboardInterrupt:
        say("interrupted: stopping everything the demo started")
    finally:
        node.cleanup(state / "node")
        for directory in (state, state / "aws", state / "registry", state / "cluster"):
            if directory.exists():
                procs.stop_all(directory)
    if left is None:
        print("demo interrupted: the local environment was stopped, nothing of it runs", flush=True)
        return 130
    if left:
        for item in left:
            say(f"  left: {item}")
        print(f"demo FAILED: leftovers={len(left)}", flush=True)
        return 1
    print("demo ok: leftovers=0", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
