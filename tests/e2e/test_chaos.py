"""Faults on cue, end to end: the controller talks to the API server and to the AWS emulator
through toxiproxy (a real fault-injecting TCP proxy), and is SIGKILLed at chosen points. Every
scenario ends with the same invariant check (`world`): every instance of the cluster has a Node,
every Node of ours has a live instance, and every pod that fits runs. What each scenario found is
listed in docs/testing/chaos.md; each run appends its faults to tests/.work/chaos-report.jsonl for
the `bench chaos` line."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
import yaml
from harness import paths, procs
from harness import toxiproxy as toxiproxy_mod

from test_interruption import metric
from test_provisioning import (  # noqa: F401
    REGION, all_running, apply, deployment, env, nodes, provisioner, running_instances,
)

DEADLINE_S = 240
# Short enough that an orphan is collected within a test, long enough for a slow launch.
REGISTRATION_TIMEOUT = "20s"
# The GC runs once a minute; an orphan older than the timeout goes on the next run.
GC_WAIT_S = 60 + 20 + 30
REPORT = paths.WORK / "chaos-report.jsonl"
SIZES = [("500m", "512Mi"), ("1", "1Gi")]


@pytest.fixture(scope="module")
def toxiproxy(run_dir):
    proxy = toxiproxy_mod.start(run_dir / "toxiproxy")
    yield proxy
    proxy.stop()


class Links:
    """The controller's two links, each through its own proxy, and what was done to them."""

    def __init__(self, toxiproxy, cluster, aws, state: Path, name: str):
        toxiproxy.remove_all()
        api = urlparse(cluster.server)
        # On the API server's own address: its serving certificate names that address only.
        self.api = toxiproxy.proxy("apiserver", f"{api.hostname}:{api.port}", host=api.hostname)
        emulator = urlparse(os.environ["AWS_ENDPOINT_URL"])
        self.aws = toxiproxy.proxy("emulator", f"{emulator.hostname}:{emulator.port}")
        config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://{self.api.listen}"
        state.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = state / "through-proxy.kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.env = {"AWS_ENDPOINT_URL": f"http://{self.aws.listen}"}
        self.name = name
        self.kills = 0

    def settings(self) -> dict:
        return {"kubeconfig": self.kubeconfig, "env": self.env}

    def kill(self, controller) -> None:
        """SIGKILL: no shutdown path runs."""
        os.killpg(controller.proc.pid, signal.SIGKILL)
        procs.wait_for("controller gone", lambda: not controller.proc.alive(), 10)
        self.kills += 1

    def report(self, found: dict) -> None:
        faults = self.api.injected + self.aws.injected
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        with REPORT.open("a") as out:
            out.write(json.dumps({"scenario": self.name, "faults": len(faults) + self.kills,
                                  "detail": faults + ["SIGKILL"] * self.kills, **found}) + "\n")


@pytest.fixture
def links(toxiproxy, cluster, aws, env, run_dir, request):
    made = Links(toxiproxy, cluster, aws, run_dir / "chaos" / request.node.name, request.node.name)
    yield made
    made.api.heal()
    made.aws.heal()


def world(cluster, ns: str, pods: int) -> dict:
    """What does not add up between the cluster and the cloud, by kind (empty lists: all well)."""
    instances = {i["InstanceId"] for i in running_instances()}
    ours = [n for n in nodes(cluster) if not n["metadata"].get("deletionTimestamp")]
    named = {n["spec"].get("providerID", "").rsplit("/", 1)[-1] for n in nodes(cluster)}
    running = all_running(cluster, ns, pods)
    return {
        "orphaned_instances": sorted(instances - named),
        "nodes_without_instance": sorted(n["metadata"]["name"] for n in ours
                                         if n["spec"].get("providerID", "").rsplit("/", 1)[-1] not in instances),
        "pods_not_running": 0 if running else pods,
    }


def settled(cluster, ns: str, pods: int, deadline: float) -> dict:
    """`world` once it adds up, or as it stands at the deadline."""
    seen = {}

    def check():
        seen.update(world(cluster, ns, pods))
        return all(not v for v in seen.values()) or None
    try:
        procs.wait_for("the cluster and the cloud agree", check, deadline, interval=2)
    except AssertionError:
        pass
    return dict(seen)


def workload(cluster, ns: str, pods: int) -> None:
    apply(cluster, provisioner("chaos", ["spot", "on-demand"]))
    for obj in deployment("app", ns, pods, SIZES):
        apply(cluster, obj)


def launched(count: int = 1):
    return lambda: len(running_instances()) >= count or None


def test_the_api_server_down_for_30s_mid_provisioning_loses_nothing(cluster, aws, env, links):
    ns, pods = env["namespace"], 12
    env["start"](registration_timeout=REGISTRATION_TIMEOUT, **links.settings())
    workload(cluster, ns, pods)
    procs.wait_for("the first launch", launched(), DEADLINE_S, interval=0.2)
    with links.api.down():
        time.sleep(30)
    found = settled(cluster, ns, pods, DEADLINE_S + GC_WAIT_S)
    links.report(found)
    assert found == {"orphaned_instances": [], "nodes_without_instance": [], "pods_not_running": 0}, found


def test_the_emulator_at_5s_per_call_still_launches_and_terminates_everything(cluster, aws, env, links):
    ns, pods = env["namespace"], 6
    controller = env["start"](registration_timeout="120s", **links.settings())
    links.aws.latency(5000)
    workload(cluster, ns, pods)
    found = settled(cluster, ns, pods, DEADLINE_S * 2)
    assert found == {"orphaned_instances": [], "nodes_without_instance": [], "pods_not_running": 0}, found
    # Termination under the same latency: the workload goes, empty nodes are deleted.
    p = provisioner("chaos", ["spot", "on-demand"])
    p["spec"]["ttlSecondsAfterEmpty"] = 5
    apply(cluster, p)
    cluster.kubectl("delete", "deployments", "--all", "-n", ns)
    procs.wait_for("every node and instance gone", lambda: not nodes(cluster) and not running_instances() or None,
                   DEADLINE_S * 2, interval=2)
    links.report({"orphaned_instances": [], "nodes_without_instance": [], "pods_not_running": 0})
    assert metric(controller.metrics(), "karpenter_nodes_terminated_total") >= 1


def test_a_controller_killed_between_create_fleet_and_the_node_leaves_no_orphan(cluster, aws, env, links):
    ns, pods = env["namespace"], 4
    # Every answer from EC2 takes 3 s: the instance exists well before the controller hears so.
    links.aws.latency(3000)
    first = env["start"](registration_timeout=REGISTRATION_TIMEOUT, **links.settings())
    workload(cluster, ns, pods)
    procs.wait_for("an instance launched", launched(), DEADLINE_S, interval=0.1)
    links.kill(first)
    orphans = {i["InstanceId"] for i in running_instances()} - {
        n["spec"].get("providerID", "").rsplit("/", 1)[-1] for n in nodes(cluster)}
    assert orphans, "the kill came after the Node was written: the scenario did not happen"
    links.aws.heal()
    env["start"](name="controller-2", registration_timeout=REGISTRATION_TIMEOUT, **links.settings())
    found = settled(cluster, ns, pods, DEADLINE_S + GC_WAIT_S)
    found["orphans_at_the_kill"] = len(orphans)
    links.report(found)
    assert not (set(found["orphaned_instances"]) & orphans), found
    assert found["nodes_without_instance"] == [] and found["pods_not_running"] == 0, found
    gone = {i: state for i in orphans if (state := instance_state(i)) not in ("shutting-down", "terminated")}
    assert not gone, f"instances launched by the killed controller and never named by a Node still run: {gone}"


def instance_state(instance_id: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]:
        for i in r["Instances"]:
            return i["State"]["Name"]
    return "missing"
