"""Provisioning end to end: a real control plane (kube-apiserver, controller-manager, scheduler, KWOK
as the kubelet), the extended moto as AWS, and `karpenter-controller run` as a local process.

Pods go Pending -> the controller launches instances through CreateFleet -> creates Node objects ->
KWOK marks them Ready -> the real kube-scheduler binds the pods. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

from harness import aws as aws_harness
from harness import paths, procs, rbac

CLUSTER = "e2e"
REGION = "ap-southeast-1"
ZONES = ("ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c")
DISCOVERY = {"karpenter.sh/discovery": CLUSTER}
NAMESPACE = "karpenter"
# A small set of general-purpose types keeps the "cheapest that fits" check exact and readable.
TYPES = ["m5.large", "m5.xlarge", "m5.2xlarge", "c5.large", "c5.xlarge", "r5.large", "m6i.large", "c6i.large"]
POD_DEADLINE_S = 240


def controller_binary() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", paths.REPO / "target"))
    binary = target / "debug" / "karpenter-controller"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `cargo build -p karpenter-controller` first")
    return binary


# --- AWS side -----------------------------------------------------------------------------------


def running_instances() -> list[dict]:
    ec2 = boto3.client("ec2", region_name=REGION)
    out = []
    for r in ec2.describe_instances(
        Filters=[{"Name": "tag:karpenter.sh/cluster", "Values": [CLUSTER]},
                 {"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )["Reservations"]:
        out.extend(r["Instances"])
    return out


# --- the controller process ---------------------------------------------------------------------


@dataclass
class Controller:
    proc: procs.Proc
    port: int

    def metrics(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def log_lines(self) -> list[dict]:
        lines = []
        for raw in self.proc.log.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return lines

    def stop(self) -> None:
        procs.stop_pid(self.proc.pid)


def start_controller(cluster, state_dir: Path, name: str = "controller", kubeconfig: Path | None = None,
                     env: dict[str, str] | None = None, policy_edit=None, **settings: str) -> Controller:
    """The controller as a host process, signing as its role session with exactly the policy the
    provider installs and authenticating as the user granted exactly the provider's RBAC rules
    (rbac.grant), so every scenario runs with the permissions it has in a cluster; `kubeconfig` and `env`
    override the cluster's and the emulator's addresses (the chaos suite points them at its
    fault-injecting proxies); `policy_edit` changes the policy first (aws.controller_role_env)."""
    port = procs.free_port()
    env = {"RUST_LOG": "info,kube=warn", "POD_NAME": name,
           **aws_harness.controller_role_env(CLUSTER, REGION, settings.get("interruption_queue"), policy_edit),
           **(env or {})}
    argv = [
        str(controller_binary()), "run",
        "--kubeconfig", str(kubeconfig or cluster.controller_kubeconfig),
        "--namespace", NAMESPACE,
        "--listen", f"127.0.0.1:{port}",
        "--cluster-name", CLUSTER,
    ]
    for key, value in settings.items():
        argv += [f"--{key.replace('_', '-')}", value]
    proc = procs.start(name, argv, state_dir, env)
    controller = Controller(proc, port)

    def ready() -> bool:
        if not proc.alive():
            raise AssertionError(f"controller exited:\n{proc.tail()}")
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).ok

    procs.wait_for("controller /readyz", ready, 60, interval=0.2)
    return controller


# --- Kubernetes side ----------------------------------------------------------------------------


def apply(cluster, obj: dict) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))


def provisioner(name: str, capacity_types: list[str], types: list[str] = TYPES) -> dict:
    return {
        "apiVersion": "karpenter.sh/v1alpha5",
        "kind": "Provisioner",
        "metadata": {"name": name},
        "spec": {
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types},
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(ZONES)},
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity_types},
            ],
            "provider": {"subnetSelector": DISCOVERY},
            "ttlSecondsUntilExpired": 2592000,
        },
    }


def deployment(name: str, namespace: str, replicas: int, sizes: list[tuple[str, str]]) -> list[dict]:
    """One Deployment per (cpu, memory) size, `replicas` pods in all, spread over zones."""
    objects = []
    per = [replicas // len(sizes) + (1 if i < replicas % len(sizes) else 0) for i in range(len(sizes))]
    for i, ((cpu, memory), count) in enumerate(zip(sizes, per)):
        objects.append({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{name}-{i}", "namespace": namespace},
            "spec": {
                "replicas": count,
                "selector": {"matchLabels": {"app": name, "size": str(i)}},
                "template": {
                    "metadata": {"labels": {"app": name, "size": str(i)}},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                        "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
                        "topologySpreadConstraints": [{
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": {"app": name}},
                        }],
                    },
                },
            },
        })
    return objects


def pods(cluster, namespace: str) -> list[dict]:
    return cluster.get_json("pods", "-n", namespace)["items"]


def nodes(cluster) -> list[dict]:
    return cluster.instance_nodes()


def events(cluster, namespace: str, reason: str) -> list[dict]:
    items = cluster.get_json("events", "-n", namespace)["items"]
    return [e for e in items if e.get("reason") == reason]


def all_running(cluster, namespace: str, count: int) -> list[dict] | None:
    current = pods(cluster, namespace)
    running = [p for p in current if p["status"].get("phase") == "Running"]
    return running if len(running) == count else None


def cleanup(cluster, namespace: str) -> None:
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    cluster.kubectl("delete", "provisioners", "--all", "--wait=false", check=False)
    # Our finalizer waits for the termination controller, which these tests do not run.
    for node in nodes(cluster):
        name = node["metadata"]["name"]
        cluster.kubectl("patch", "node", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
        cluster.kubectl("delete", "node", name, "--wait=false", check=False)
    procs.wait_for("nodes gone", lambda: not nodes(cluster), 60)
    # The next test's controller must not find this test's pods still pending (a namespace is
    # deleted in the background, its pods last): it would rightly launch nodes for them.
    procs.wait_for(f"namespace {namespace} gone",
                   lambda: cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0, 120)


def assert_no_leftovers(cluster) -> None:
    """The cluster is shared by the whole session: a node or a workload another test left behind
    would take this test's pods (or block its drains) and fail it far from the cause."""
    left = [f"node/{n['metadata']['name']}" for n in nodes(cluster)]
    left += [f"pod {p['metadata']['namespace']}/{p['metadata']['name']}"
             for p in cluster.get_json("pods", "-A")["items"]
             if p["metadata"]["namespace"] not in ("kube-system", NAMESPACE)]
    assert not left, f"an earlier test left these in the shared cluster: {', '.join(left)}"


@pytest.fixture
def env(cluster, aws, run_dir, request):
    """A clean cluster (CRD installed, no nodes), a reset emulator with a tagged network."""
    assert_no_leftovers(cluster)
    manifests = subprocess.run([str(controller_binary()), "manifests"], check=True, capture_output=True, text=True).stdout
    cluster.kubectl("apply", "-f", "-", input=manifests)
    cluster.kubectl("wait", "--for=condition=Established", "crd/provisioners.karpenter.sh", "--timeout=60s")
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    rbac.grant(cluster, NAMESPACE)
    audited_from = rbac.audit_offset(cluster)
    namespace = request.node.name.replace("_", "-")[:50].strip("-")
    cluster.kubectl("create", "namespace", namespace)
    subnets = aws_harness.make_network(CLUSTER, ZONES, REGION)
    aws_harness.register_eks_cluster(CLUSTER, cluster, REGION)
    state = run_dir / "controllers" / namespace
    controllers: list[Controller] = []

    def start(**settings) -> Controller:
        c = start_controller(cluster, state, **settings)
        controllers.append(c)
        return c

    yield {"namespace": namespace, "subnets": subnets, "start": start}
    for c in controllers:
        c.stop()
    # And any started that never answered /readyz (a restart while the API server was down).
    procs.stop_all(state)
    refusals = aws_harness.controller_refusals(CLUSTER)
    forbidden = rbac.forbidden(rbac.audit_events(cluster, audited_from))
    cleanup(cluster, namespace)
    # Least privilege: the scenario needed nothing the provider's policy and rules do not grant.
    if not request.node.get_closest_marker("refusals_expected"):
        assert not refusals, f"the emulator refused the controller {len(refusals)} authorisations, first: {refusals[0]}"
        assert not forbidden, f"the API server refused the controller {len(forbidden)} requests: {forbidden[:5]}"


def node_type(node: dict) -> str:
    return node["metadata"]["labels"]["node.kubernetes.io/instance-type"]


def spot_price(aws, instance_type: str, zone: str) -> float:
    return aws.prices(instance_type)["spot"][zone]


SIZES = [("250m", "512Mi"), ("500m", "1Gi"), ("1", "2Gi"), ("1500m", "1Gi"), ("200m", "3Gi")]


# --- the scenarios ------------------------------------------------------------------------------


def test_thirty_pods_with_a_zone_spread_end_running_on_the_cheapest_fitting_spot_nodes(cluster, aws, env):
    ns = env["namespace"]
    controller = env["start"]()
    apply(cluster, provisioner("spot-fleet", ["spot"]))
    for obj in deployment("web", ns, 30, SIZES):
        apply(cluster, obj)

    running = procs.wait_for("30 pods Running", lambda: all_running(cluster, ns, 30), POD_DEADLINE_S, interval=1)

    ours = {n["metadata"]["name"]: n for n in nodes(cluster)}
    assert ours, "no node was created"
    for node in ours.values():
        labels = node["metadata"]["labels"]
        assert labels["karpenter.sh/capacity-type"] == "spot"
        assert labels["karpenter.sh/provisioner-name"] == "spot-fleet"
        assert labels["topology.kubernetes.io/zone"] in ZONES
        assert node["spec"]["providerID"].startswith(f"aws:///{labels['topology.kubernetes.io/zone']}/i-")
        assert "karpenter.sh/termination" in node["metadata"]["finalizers"]
        for key in ("kubernetes.io/arch", "kubernetes.io/os", "karpenter.k8s.aws/instance-family",
                    "karpenter.k8s.aws/instance-size", "karpenter.k8s.aws/instance-cpu",
                    "karpenter.k8s.aws/instance-memory", "kubernetes.io/hostname"):
            assert key in labels, f"{key} missing on {node['metadata']['name']}"
    # Every pod runs on a node we created, and the zone spread holds (max skew 1 over the 3 zones).
    per_zone = {z: 0 for z in ZONES}
    for p in running:
        node = ours[p["spec"]["nodeName"]]
        per_zone[node["metadata"]["labels"]["topology.kubernetes.io/zone"]] += 1
    assert max(per_zone.values()) - min(per_zone.values()) <= 1, per_zone

    # Each launched instance exists in EC2 as spot, of the node's type, tagged for the provisioner.
    instances = {i["InstanceId"]: i for i in running_instances()}
    for node in ours.values():
        instance_id = node["spec"]["providerID"].rsplit("/", 1)[1]
        inst = instances[instance_id]
        assert inst["InstanceType"] == node_type(node)
        assert inst.get("InstanceLifecycle") == "spot"
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        assert tags["karpenter.sh/provisioner-name"] == "spot-fleet"

    # Cheapest that fits: for every node, no cheaper allowed type in its zone could have held the
    # pods the controller launched it for (from its Nominated events) with their requests.
    check_cheapest_fit(cluster, aws, ns, ours)

    metrics = controller.metrics()
    created = sum(float(l.rsplit(" ", 1)[1]) for l in metrics.splitlines()
                  if l.startswith('karpenter_nodes_created_total{provisioner="spot-fleet",capacity_type="spot"}'))
    assert created == len(ours)
    expected = sum(spot_price(aws, node_type(n), n["metadata"]["labels"]["topology.kubernetes.io/zone"]) for n in ours.values())
    procs.wait_for("cost gauge", lambda: any(
        abs(float(l.rsplit(" ", 1)[1]) - expected) < 1e-6
        for l in controller.metrics().splitlines()
        if l.startswith('karpenter_cost_per_hour{provisioner="spot-fleet",capacity_type="spot"}')), 45)


def requests_of(pod: dict) -> tuple[int, int]:
    cpu = mem = 0
    for c in pod["spec"]["containers"]:
        r = c.get("resources", {}).get("requests", {})
        cpu += parse_cpu(r.get("cpu", "0"))
        mem += parse_mem(r.get("memory", "0"))
    return cpu, mem


def parse_cpu(q: str) -> int:
    return int(q[:-1]) if q.endswith("m") else int(float(q) * 1000)


def parse_mem(q: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    for suffix, mult in units.items():
        if q.endswith(suffix):
            return int(q[: -len(suffix)]) * mult
    return int(q)


def allocatable(shape: dict) -> tuple[int, int, int]:
    """(cpu millis, memory bytes, pods) the kubelet of the EKS AMI leaves for pods on this type:
    the documented kube-reserved CPU steps (6% of the first core, 1% of the second, 0.5% of cores
    3-4, 0.25% above), 11 MiB per pod + 255 MiB kube-reserved, 100 MiB eviction threshold, and the
    ~7.5% of memory the hypervisor keeps. Max pods from ENIs: enis * (ips per eni - 1) + 2."""
    cores = shape["VCpuInfo"]["DefaultVCpus"]
    net = shape["NetworkInfo"]
    max_pods = net["MaximumNetworkInterfaces"] * (net["Ipv4AddressesPerInterface"] - 1) + 2
    reserved_cpu = {1: 60, 2: 70}.get(cores, 70 + 5 * (cores - 2) if cores <= 4 else 80 + -(-(5 * (cores - 4)) // 2))
    memory = (shape["MemoryInfo"]["SizeInMiB"] << 20) * 925 // 1000 - (11 * max_pods + 355) * (1 << 20)
    return cores * 1000 - reserved_cpu, memory, max_pods


def check_cheapest_fit(cluster, aws, ns: str, ours: dict[str, dict]) -> None:
    by_node: dict[str, set[str]] = {}
    for e in events(cluster, ns, "Nominated"):
        note = e.get("message") or ""
        if " as node " in note:
            node = note.split(" as node ", 1)[1].split(" ", 1)[0]
            by_node.setdefault(node, set()).add(e["involvedObject"]["name"])
    assert by_node, "no Nominated events"
    pod_by_name = {p["metadata"]["name"]: p for p in pods(cluster, ns)}
    ec2 = boto3.client("ec2", region_name=REGION)
    shapes = {t["InstanceType"]: t for t in ec2.describe_instance_types(InstanceTypes=TYPES)["InstanceTypes"]}
    checked = 0
    for node_name, pod_names in by_node.items():
        node = ours.get(node_name)
        if node is None:
            continue
        zone = node["metadata"]["labels"]["topology.kubernetes.io/zone"]
        chosen = node_type(node)
        chosen_price = spot_price(aws, chosen, zone)
        group = [pod_by_name[n] for n in pod_names if n in pod_by_name]
        cpu = sum(requests_of(p)[0] for p in group)
        mem = sum(requests_of(p)[1] for p in group)
        a_cpu, a_mem, a_pods = allocatable(shapes[chosen])
        assert cpu <= a_cpu and mem <= a_mem and len(group) <= a_pods, (node_name, chosen, cpu, mem)
        for t, shape in shapes.items():
            price = spot_price(aws, t, zone)
            if price >= chosen_price:
                continue
            c, m, n = allocatable(shape)
            assert cpu > c or mem > m or len(group) > n, (
                f"{node_name}: {chosen} at ${chosen_price}/h chosen for {len(group)} pods, {cpu}m, "
                f"{mem >> 20}Mi, but {t} at ${price}/h holds {c}m, {m >> 20}Mi"
            )
        checked += 1
    assert checked == len(ours), f"checked {checked} of {len(ours)} nodes"


def cheapest_spot_pools(aws, count: int) -> list[tuple[str, str]]:
    pools = []
    for t in TYPES:
        for zone, price in aws.prices(t)["spot"].items():
            if zone in ZONES:
                pools.append((price, t, zone))
    pools.sort()
    return [(t, z) for _, t, z in pools[:count]]


def test_with_the_cheapest_spot_pools_faulted_the_next_pools_are_used(cluster, aws, env):
    ns = env["namespace"]
    faulted = cheapest_spot_pools(aws, 6)
    for t, zone in faulted:
        aws.add_fault("InsufficientInstanceCapacity", instance_type=t, zone=zone, capacity_type="spot")
    controller = env["start"]()
    apply(cluster, provisioner("spot-fleet", ["spot"]))
    for obj in deployment("web", ns, 9, SIZES[:3]):
        apply(cluster, obj)
    procs.wait_for("9 pods Running", lambda: all_running(cluster, ns, 9), POD_DEADLINE_S, interval=1)
    for node in nodes(cluster):
        labels = node["metadata"]["labels"]
        assert labels["karpenter.sh/capacity-type"] == "spot"
        assert (node_type(node), labels["topology.kubernetes.io/zone"]) not in faulted
    metrics = controller.metrics()
    assert 'karpenter_cloudprovider_instance_launch_failures_total{reason="InsufficientInstanceCapacity",capacity_type="spot"}' in metrics


def test_with_every_spot_pool_faulted_the_nodes_are_on_demand(cluster, aws, env):
    ns = env["namespace"]
    aws.add_fault("InsufficientInstanceCapacity", capacity_type="spot")
    controller = env["start"]()
    apply(cluster, provisioner("mixed", ["spot", "on-demand"]))
    for obj in deployment("web", ns, 6, SIZES[:3]):
        apply(cluster, obj)
    procs.wait_for("6 pods Running", lambda: all_running(cluster, ns, 6), POD_DEADLINE_S, interval=1)
    created = nodes(cluster)
    assert created
    for node in created:
        assert node["metadata"]["labels"]["karpenter.sh/capacity-type"] == "on-demand"
    instances = running_instances()
    assert instances and all(i.get("InstanceLifecycle") != "spot" for i in instances)
    assert 'karpenter_nodes_created_total{provisioner="mixed",capacity_type="on-demand"}' in controller.metrics()


def test_spot_quota_exceeded_without_fallback_leaves_pods_pending_with_event_metric_and_log(cluster, aws, env):
    ns = env["namespace"]
    aws.add_fault("MaxSpotInstanceCountExceeded", capacity_type="spot")
    controller = env["start"](spot_quota_fallback="false")
    apply(cluster, provisioner("mixed", ["spot", "on-demand"]))
    for obj in deployment("web", ns, 3, SIZES[:1]):
        apply(cluster, obj)

    def quota_events() -> list[dict] | None:
        found = events(cluster, ns, "SpotQuotaExceeded")
        named = {e["involvedObject"]["name"] for e in found}
        return found if len(named) == 3 else None

    found = procs.wait_for("a SpotQuotaExceeded event on each pod", quota_events, 120, interval=1)
    assert all("MaxSpotInstanceCountExceeded" in (e.get("message") or "") for e in found)
    assert 'karpenter_cloudprovider_instance_launch_failures_total{reason="MaxSpotInstanceCountExceeded",capacity_type="spot"}' in controller.metrics()
    failed = [l for l in controller.log_lines() if str(l.get("message", "")).startswith("Provisioning failed")
              and "MaxSpotInstanceCountExceeded" in str(l.get("message", ""))]
    assert failed, "no `Provisioning failed ... MaxSpotInstanceCountExceeded` log line"
    # No fallback: nothing launched, the pods stay Pending.
    assert not nodes(cluster)
    assert not running_instances()
    assert all(p["status"].get("phase") == "Pending" for p in pods(cluster, ns))


def test_spot_quota_exceeded_with_fallback_launches_on_demand_and_still_says_so(cluster, aws, env):
    ns = env["namespace"]
    aws.add_fault("MaxSpotInstanceCountExceeded", capacity_type="spot")
    controller = env["start"](spot_quota_fallback="true")
    apply(cluster, provisioner("mixed", ["spot", "on-demand"]))
    for obj in deployment("web", ns, 3, SIZES[:1]):
        apply(cluster, obj)
    procs.wait_for("3 pods Running", lambda: all_running(cluster, ns, 3), POD_DEADLINE_S, interval=1)
    assert all(n["metadata"]["labels"]["karpenter.sh/capacity-type"] == "on-demand" for n in nodes(cluster))
    assert events(cluster, ns, "SpotQuotaExceeded")
    assert 'reason="MaxSpotInstanceCountExceeded"' in controller.metrics()
    assert any(str(l.get("message", "")).startswith("Provisioning failed") for l in controller.log_lines())


def test_a_pod_no_instance_type_can_hold_gets_an_event_saying_why(cluster, aws, env):
    ns = env["namespace"]
    env["start"]()
    apply(cluster, provisioner("spot-fleet", ["spot"]))
    apply(cluster, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge", "namespace": ns},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                 "resources": {"requests": {"cpu": "200", "memory": "1Ti"}}}]},
    })
    found = procs.wait_for("a NoCompatibleInstanceType event", lambda: events(cluster, ns, "NoCompatibleInstanceType"), 90, interval=1)
    assert found[0]["involvedObject"]["name"] == "huge"
    assert found[0].get("message"), "the event must say why"
    assert not nodes(cluster)
