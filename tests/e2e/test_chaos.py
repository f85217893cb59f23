"""Faults on cue, end to end: the controller talks to the API server and to the AWS emulator
through toxiproxy (a real fault-injecting TCP proxy), and is SIGKILLed at chosen points. Every
scenario ends with the same invariant check (`world`): every instance of the cluster has a Node,
every Node of ours has a live instance, and every pod that fits runs. What each scenario found is
listed in docs/testing/chaos.md; each run appends its faults to tests/.work/chaos-report.jsonl for
the `bench chaos` line."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
import yaml
from harness import paths, procs
from harness import toxiproxy as toxiproxy_mod

from test_interruption import app, instance_of, instance_state, make_queue, metric, pdb, put_event, wait_running
from test_provisioning import (  # noqa: F401
    CLUSTER, NAMESPACE, REGION, all_running, apply, deployment, env, nodes, provisioner, running_instances,
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
        config = yaml.safe_load(Path(cluster.controller_kubeconfig).read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://{self.api.listen}"
        state.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = state / "through-proxy.kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.env = {"AWS_ENDPOINT_URL": f"http://{self.aws.listen}"}
        self.name = name
        self.kills = 0
        self.supervisors: list[Supervisor] = []

    def settings(self) -> dict:
        return {"kubeconfig": self.kubeconfig, "env": self.env}

    def injected_by_hand(self, what: str) -> None:
        """A fault the test made itself (not through a proxy), for the report."""
        self.aws.injected.append(what)

    def kill(self, controller) -> None:
        """SIGKILL: no shutdown path runs."""
        procs.kill(controller.proc)
        self.kills += 1

    def report(self, found: dict) -> None:
        faults = self.api.injected + self.aws.injected
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        with REPORT.open("a") as out:
            out.write(json.dumps({"scenario": self.name, "faults": len(faults) + self.kills,
                                  "detail": faults + ["SIGKILL"] * self.kills, **found}) + "\n")


class Supervisor:
    """What the Deployment does in the cluster: a controller that exits (it does on purpose when
    it loses its leader lease, e.g. with the API server unreachable) is started again. Stopped
    with the test (`links` does it), before the test's controllers are."""

    def __init__(self, links, start, **settings):
        links.supervisors.append(self)
        self._start, self._settings = start, settings
        self.restarts = 0
        self.current = start(**settings)
        self.logs = [self.current.proc.log]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.5):
            if self.current.proc.alive():
                continue
            self.restarts += 1
            try:
                self.current = self._start(name=f"controller-{self.restarts}", **self._settings)
            except Exception:  # the API server may still be down; try again next round
                continue
            self.logs.append(self.current.proc.log)

    def log_lines(self) -> list[dict]:
        out = []
        for log in self.logs:
            for raw in log.read_text(errors="replace").splitlines():
                try:
                    out.append(json.loads(raw))
                except json.JSONDecodeError:
                    continue
        return out

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def links(toxiproxy, cluster, aws, env, run_dir, request):
    made = Links(toxiproxy, cluster, aws, run_dir / "chaos" / request.node.name, request.node.name)
    yield made
    for supervisor in made.supervisors:
        supervisor.stop()
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


def lost_nothing_after_provisioning(cluster, ns: str, pods: int, controller, links) -> None:
    """The end of a mid-provisioning scenario: `world` settled, reported (with the supervisor's
    restarts) and asserted clean."""
    found = settled(cluster, ns, pods, DEADLINE_S + GC_WAIT_S)
    controller.stop()
    links.report({**found, "restarts": controller.restarts})
    assert found == {"orphaned_instances": [], "nodes_without_instance": [], "pods_not_running": 0}, found


def test_the_api_server_down_for_30s_mid_provisioning_loses_nothing(cluster, aws, env, links):
    ns, pods = env["namespace"], 12
    controller = Supervisor(links, env["start"], registration_timeout=REGISTRATION_TIMEOUT, **links.settings())
    workload(cluster, ns, pods)
    procs.wait_for("the first launch", launched(), DEADLINE_S, interval=0.2)
    with links.api.down():
        time.sleep(30)
    lost_nothing_after_provisioning(cluster, ns, pods, controller, links)


def test_etcd_and_the_api_server_killed_and_restarted_mid_provisioning_lose_nothing(cluster, aws, env, links):
    ns, pods = env["namespace"], 8
    controller = Supervisor(links, env["start"], registration_timeout=REGISTRATION_TIMEOUT, **links.settings())
    workload(cluster, ns, pods)
    procs.wait_for("the first launch", launched(), DEADLINE_S, interval=0.2)
    # Both SIGKILLed (no graceful shutdown, watches cut mid-stream), down for 10 s, then started
    # again on the same data and ports.
    cluster.restart("etcd", "kube-apiserver", down=10)
    links.injected_by_hand("etcd and kube-apiserver SIGKILLed, restarted after 10 s")
    lost_nothing_after_provisioning(cluster, ns, pods, controller, links)


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
    terminated = sum(float(line.rsplit(" ", 1)[1]) for line in controller.metrics().splitlines()
                     if line.startswith("karpenter_nodes_terminated_total{"))
    assert terminated >= 1


def test_the_emulator_blackholed_for_20s_mid_launch_stalls_nothing_for_good(cluster, aws, env, links):
    ns, pods = env["namespace"], 6
    env["start"](registration_timeout="120s", **links.settings())
    # Requests go in and nothing comes back for 20 s (toxiproxy then lets the held data through).
    links.aws.timeout(0)
    workload(cluster, ns, pods)
    time.sleep(20)
    links.aws.heal()
    found = settled(cluster, ns, pods, DEADLINE_S + GC_WAIT_S)
    links.report(found)
    assert found == {"orphaned_instances": [], "nodes_without_instance": [], "pods_not_running": 0}, found


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
    found = settled(cluster, ns, pods, DEADLINE_S)
    named = {instance_of(n) for n in nodes(cluster)}
    found["orphans_at_the_kill"] = len(orphans)
    found["duplicate_launches"] = len(all_instances()) - len(nodes(cluster))
    links.report(found)
    assert found["orphaned_instances"] == [] and found["nodes_without_instance"] == [], found
    assert found["pods_not_running"] == 0, found
    # The new leader writes the Nodes of what the killed one launched, and launches nothing again.
    assert orphans <= named, f"instances launched by the killed controller and not adopted: {orphans - named}"
    assert found["duplicate_launches"] == 0, found


def test_a_controller_killed_mid_drain_leaves_the_next_one_to_finish_it(cluster, aws, env, links):
    ns = env["namespace"]
    apply(cluster, provisioner("default", ["spot"]))
    first = env["start"](**links.settings())
    apply(cluster, pdb("web", ns, 0))
    apply(cluster, app("web", ns, 4))
    running = wait_running(cluster, ns, "web", 4)
    victim = running[0]["spec"]["nodeName"]
    instance = instance_of(next(n for n in nodes(cluster) if n["metadata"]["name"] == victim))
    # The PDB lets no pod go: the drain starts (cordon, replacement, evictions refused) and holds.
    cluster.kubectl("delete", "node", victim, "--wait=false")

    def cordoned():
        node = next((n for n in nodes(cluster) if n["metadata"]["name"] == victim), None)
        return node and node["spec"].get("unschedulable") or None
    procs.wait_for("the drain under way (the node cordoned)", cordoned, DEADLINE_S, interval=0.5)
    time.sleep(5)  # a few drain passes, each held by the PDB
    links.kill(first)
    env["start"](name="controller-2", **links.settings())
    # The budget now lets the pods go one at a time: the new controller must finish the drain.
    cluster.kubectl("patch", "pdb", "web", "-n", ns, "--type=merge", "-p", '{"spec":{"maxUnavailable":1}}')
    procs.wait_for("the drained node gone", lambda: victim not in {n["metadata"]["name"] for n in nodes(cluster)}
                   or None, DEADLINE_S, interval=1)
    found = settled(cluster, ns, 4, DEADLINE_S)
    found["instance_left_running"] = [] if instance_state(instance) in ("shutting-down", "terminated") else [instance]
    links.report(found)
    assert found == {"orphaned_instances": [], "nodes_without_instance": [], "pods_not_running": 0,
                     "instance_left_running": []}, found


def wait_node_gone(cluster, node: dict) -> bool:
    return procs.wait_for(
        "the interrupted node gone",
        lambda: node["metadata"]["name"] not in {n["metadata"]["name"] for n in nodes(cluster)} or None,
        DEADLINE_S, interval=1)


def wait_queue_empty(url: str) -> None:
    """No message left, visible or in flight: each was deleted once handled."""
    sqs = boto3.client("sqs", region_name=REGION)
    empty = {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    procs.wait_for("the queue empty", lambda: sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=list(empty))["Attributes"] == empty or None, 120, interval=1)


def test_the_api_server_down_for_30s_mid_interruption_plan_loses_no_message(cluster, aws, env, links):
    ns = env["namespace"]
    url = make_queue()
    apply(cluster, provisioner("default", ["spot"]))
    controller = Supervisor(links, env["start"], interruption_queue=url, **links.settings())
    apply(cluster, app("web", ns, 4))
    running = wait_running(cluster, ns, "web", 4)
    victim = next(n for n in nodes(cluster) if n["metadata"]["name"] == running[0]["spec"]["nodeName"])
    instance = instance_of(victim)
    put_event("EC2 Spot Instance Interruption Warning", {"instance-id": instance, "instance-action": "terminate"}, instance)
    # Cut the API server off the moment the message is in: the plan's cordon, replacement and
    # drain all meet a dead link (and the controller loses its lease and exits, to be started
    # again); the interruption must still be carried out, once.
    procs.wait_for("the message received",
                   lambda: metric(controller.current.metrics(), "karpenter_interruption_received_messages_total",
                                  message_type="spot_interruption") >= 1 or None, DEADLINE_S, interval=0.05)
    with links.api.down():
        time.sleep(30)
    gone = wait_node_gone(cluster, victim)
    wait_running(cluster, ns, "web", 4)
    procs.wait_for("the instance terminated",
                   lambda: instance_state(instance) in ("shutting-down", "terminated") or None, 60)
    wait_queue_empty(url)
    controller.stop()
    terminated = [line for line in controller.log_lines()
                  if line.get("message") == "node terminated" and line.get("node") == victim["metadata"]["name"]]
    found = world(cluster, ns, 4)
    found["lost_messages"] = 0 if gone else 1
    found["handled_twice"] = max(0, len(terminated) - 1)
    found["restarts"] = controller.restarts
    links.report(found)
    found.pop("restarts")
    assert found == {"orphaned_instances": [], "nodes_without_instance": [], "pods_not_running": 0,
                     "lost_messages": 0, "handled_twice": 0}, found


def all_instances() -> list[dict]:
    """Every instance of the cluster ever launched, whatever its state."""
    ec2 = boto3.client("ec2", region_name=REGION)
    return [i for r in ec2.describe_instances(Filters=[{"Name": "tag:karpenter.sh/cluster", "Values": [CLUSTER]}])[
        "Reservations"] for i in r["Instances"]]


def test_a_lease_stolen_mid_launch_launches_once(cluster, aws, env, links):
    ns, pods = env["namespace"], 4
    links.aws.latency(2000)
    first = env["start"](registration_timeout=REGISTRATION_TIMEOUT, **links.settings())
    second = env["start"](name="controller-b", registration_timeout=REGISTRATION_TIMEOUT, **links.settings())
    workload(cluster, ns, pods)
    # The first launch is on its way (EC2 answers in 2 s): hand the Lease to the standby.
    procs.wait_for("a launch under way", launched(), DEADLINE_S, interval=0.1)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    cluster.kubectl("patch", "lease", "karpenter-leader-election", "-n", NAMESPACE, "--type=merge", "-p",
                    json.dumps({"spec": {"holderIdentity": "controller-b", "renewTime": now}}))
    procs.wait_for("the first controller gone", lambda: not first.proc.alive() or None, 60, interval=0.5)
    links.aws.heal()
    found = settled(cluster, ns, pods, DEADLINE_S)
    found["duplicate_launches"] = len(all_instances()) - len(nodes(cluster))
    links.report(found)
    assert second.proc.alive()
    assert found["orphaned_instances"] == [] and found["nodes_without_instance"] == [], found
    assert found["pods_not_running"] == 0, found
    # What the first leader had launched landed without Nodes; the new leader adopts it before
    # its first batch, so the decision is launched once.
    assert found["duplicate_launches"] == 0, found


def test_the_queue_deleted_under_the_controller_then_recreated(cluster, aws, env, links):
    ns = env["namespace"]
    url = make_queue()
    apply(cluster, provisioner("default", ["spot"]))
    controller = env["start"](interruption_queue=url, **links.settings())
    apply(cluster, app("web", ns, 2))
    running = wait_running(cluster, ns, "web", 2)
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.delete_queue(QueueUrl=url)
    procs.wait_for("receive errors counted",
                   lambda: metric(controller.metrics(), "karpenter_interruption_receive_errors_total") >= 1 or None,
                   120, interval=1)
    assert controller.proc.alive()
    assert make_queue() == url
    victim = next(n for n in nodes(cluster) if n["metadata"]["name"] == running[0]["spec"]["nodeName"])
    instance = instance_of(victim)
    put_event("EC2 Spot Instance Interruption Warning", {"instance-id": instance, "instance-action": "terminate"}, instance)
    wait_node_gone(cluster, victim)
    wait_running(cluster, ns, "web", 2)
    found = world(cluster, ns, 2)
    found["lost_messages"] = 0
    links.injected_by_hand("queue deleted")
    links.report(found)
    assert found == {"orphaned_instances": [], "nodes_without_instance": [], "pods_not_running": 0,
                     "lost_messages": 0}, found


def test_the_emulator_cut_then_slow_while_the_queue_is_polled_loses_no_message(cluster, aws, env, links):
    """The queue poller's retry path: SQS unreachable for 10 s (a spot warning arrives meanwhile),
    then every AWS answer 5 s late while the warning is handled (receive, replacement launch,
    termination, delete): handled once, nothing lost, nothing left."""
    ns = env["namespace"]
    url = make_queue()
    apply(cluster, provisioner("default", ["spot"]))
    controller = env["start"](interruption_queue=url, **links.settings())
    apply(cluster, app("web", ns, 2))
    running = wait_running(cluster, ns, "web", 2)
    victim = next(n for n in nodes(cluster) if n["metadata"]["name"] == running[0]["spec"]["nodeName"])
    instance = instance_of(victim)
    links.aws.cut()
    # The harness talks to the emulator directly: the warning is queued while the link is down.
    put_event("EC2 Spot Instance Interruption Warning", {"instance-id": instance, "instance-action": "terminate"}, instance)
    procs.wait_for("receive errors counted",
                   lambda: metric(controller.metrics(), "karpenter_interruption_receive_errors_total") >= 1 or None,
                   60, interval=0.5)
    time.sleep(10)
    links.aws.heal()
    links.aws.latency(5000)
    gone = wait_node_gone(cluster, victim)
    links.aws.heal()
    wait_running(cluster, ns, "web", 2)
    procs.wait_for("the instance terminated",
                   lambda: instance_state(instance) in ("shutting-down", "terminated") or None, 120)
    wait_queue_empty(url)
    handled = metric(controller.metrics(), "karpenter_interruption_actions_performed_total", action="replace-and-drain")
    found = world(cluster, ns, 2)
    found["lost_messages"] = 0 if gone else 1
    found["handled_twice"] = max(0, int(handled) - 1)
    links.report(found)
    assert found == {"orphaned_instances": [], "nodes_without_instance": [], "pods_not_running": 0,
                     "lost_messages": 0, "handled_twice": 0}, found


def churn(cluster, ns: str, rounds: int, count: int) -> None:
    """Pods created and force-deleted at once, `count` at a time: each changes (is marked
    unschedulable, gets its deletion stamp) moments before it is gone."""
    for r in range(rounds):
        items = [{"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": f"churn-{r}-{i}", "namespace": ns, "labels": {"churn": "yes"}},
                  "spec": {"terminationGracePeriodSeconds": 0, "nodeSelector": {"churn": "nowhere"},
                           "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
                 for i in range(count)]
        cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        cluster.kubectl("delete", "pods", "-n", ns, "-l", "churn=yes", "--grace-period=0", "--force", "--wait=false")


def test_pods_deleted_as_they_change_do_not_stop_the_controller_seeing_new_ones(cluster, aws, env):
    # Found by the consolidation benchmark: kube's shared change stream stalled for good when a
    # pod was deleted before its change was read, and the pod cache froze with it.
    ns, pods = env["namespace"], 3
    env["start"]()
    churn(cluster, ns, rounds=5, count=100)
    workload(cluster, ns, pods)
    procs.wait_for("the workload running", lambda: all_running(cluster, ns, pods), DEADLINE_S, interval=1)
    assert not world(cluster, ns, pods)["orphaned_instances"]
