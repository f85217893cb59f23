"""`karpenter-controller imds-monitor` against amazon-ec2-metadata-mock (built from the Go module
proxy, IMDSv2 only) and the real control plane with KWOK: the monitor cordons and drains its own
node for a spot interruption and scheduled maintenance, honouring the PodDisruptionBudget, and
only cordons for a rebalance recommendation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from harness import paths, procs

from test_disruption import node_events
from test_interruption import MinAvailable, app, app_pods, pdb, wait_running
from test_provisioning import apply, assert_no_leftovers, cleanup, controller_binary

DEADLINE_S = 120
VICTIM = "imds-victim"
SPARE = "imds-spare"


def kwok_node(name: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                              "kubernetes.io/arch": "amd64"}},
        "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                   "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}},
    }


def node(cluster, name: str) -> dict:
    return cluster.get_json("node", name)


def cordoned(n: dict) -> bool:
    spec = n.get("spec", {})
    return bool(spec.get("unschedulable")) and any(t["key"] == "karpenter.sh/disruption" for t in spec.get("taints", []))


class Monitor:
    def __init__(self, proc: procs.Proc):
        self.proc = proc

    def lines(self) -> list[dict]:
        out = []
        for line in self.proc.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def said(self, message: str, **fields: str) -> list[dict]:
        return [l for l in self.lines() if l.get("message") == message
                and all(str(l.get(k)) == v for k, v in fields.items())]


@pytest.fixture
def imds(cluster, run_dir: Path, request):
    """A victim node running 4 pods behind a PDB (maxUnavailable 1), a spare node for them to move
    to, and a starter for the metadata mock and the monitor."""
    assert_no_leftovers(cluster)
    ns = request.node.name.replace("_", "-")[:50].strip("-")
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(kwok_node(VICTIM)))
    procs.wait_for("victim Ready", lambda: any(c["type"] == "Ready" and c["status"] == "True"
                                               for c in node(cluster, VICTIM)["status"].get("conditions", [])), 60)
    apply(cluster, app("web", ns, 4))
    apply(cluster, pdb("web", ns, 1))
    before = wait_running(cluster, ns, "web", 4)
    assert {p["spec"]["nodeName"] for p in before} == {VICTIM}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(kwok_node(SPARE)))
    state = run_dir / "imds" / ns
    started: list[procs.Proc] = []

    def start(*mock_args: str) -> Monitor:
        port = procs.free_port()
        mock_bin = paths.go_component("ec2-metadata-mock") / "ec2-metadata-mock"
        mock = procs.start("aemm", [str(mock_bin), *mock_args, "--imdsv2", "-n", "127.0.0.1", "-p", str(port)], state)
        started.append(mock)

        def mock_up() -> bool:
            if not mock.alive():
                raise AssertionError(f"ec2-metadata-mock exited:\n{mock.tail()}")
            # IMDSv2 only: a GET without a session token is refused with 401, which proves it serves.
            return requests.get(f"http://127.0.0.1:{port}/latest/meta-data/instance-id", timeout=2).status_code == 401

        procs.wait_for("ec2-metadata-mock serving", mock_up, 60, interval=0.2)
        monitor = procs.start("imds-monitor", [
            str(controller_binary()), "imds-monitor",
            "--node-name", VICTIM,
            "--kubeconfig", str(cluster.kubeconfig),
            "--imds-endpoint", f"http://127.0.0.1:{port}",
            "--poll-interval", "500ms",
        ], state, {"RUST_LOG": "info,kube=warn", "POD_NAME": "imds-monitor-test"})
        started.append(monitor)
        return Monitor(monitor)

    yield {"namespace": ns, "pods": before, "start": start}
    for p in reversed(started):
        procs.stop_pid(p.pid)
    cleanup(cluster, ns)


def moved_to_spare(cluster, ns: str):
    pods = app_pods(cluster, ns, "web")
    running = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    return len(pods) == 4 and len(running) == 4 and all(p["spec"]["nodeName"] == SPARE for p in running)


def drains_within_the_pdb(cluster, imds, mock_args: list[str], kind: str, event_reason: str) -> None:
    ns = imds["namespace"]
    sampler = MinAvailable(cluster, ns, "web")
    monitor = imds["start"](*mock_args)
    procs.wait_for("victim cordoned", lambda: cordoned(node(cluster, VICTIM)), DEADLINE_S)
    procs.wait_for("every pod moved to the spare node", lambda: moved_to_spare(cluster, ns), DEADLINE_S)
    minimum = sampler.stop()
    assert minimum is not None and minimum >= 3, f"PDB allows 1 unavailable of 4, saw {minimum} available"
    assert not cordoned(node(cluster, SPARE))
    assert monitor.said("imds-monitor: notice", kind=kind, action="cordon-and-drain"), monitor.proc.tail()
    assert procs.wait_for("drained logged", lambda: monitor.said("imds-monitor: node drained", node=VICTIM), 30)
    assert procs.wait_for("event on the node", lambda: node_events(cluster, VICTIM, event_reason), 30)


def test_a_spot_interruption_notice_cordons_and_drains_the_node_within_its_pdb(cluster, imds):
    # The rebalance recommendation the spot mock also serves is kept an hour away.
    drains_within_the_pdb(cluster, imds, ["spot", "--action", "terminate", "-d", "0", "--rebalance-delay-sec", "3600"],
                          "spot_interruption", "SpotInterruption")


def test_an_active_scheduled_maintenance_event_cordons_and_drains_the_node(cluster, imds):
    drains_within_the_pdb(cluster, imds, ["events", "--code", "system-reboot", "--state", "active"],
                          "scheduled_maintenance", "ScheduledMaintenance")


def test_a_rebalance_recommendation_cordons_without_evicting(cluster, imds):
    ns = imds["namespace"]
    uids = {p["metadata"]["uid"] for p in imds["pods"]}
    monitor = imds["start"]("spot", "-d", "3600", "--rebalance-delay-sec", "0")
    procs.wait_for("victim cordoned", lambda: cordoned(node(cluster, VICTIM)), DEADLINE_S)
    # The notice is handled (and logged so) only after its whole action: a drain would be over.
    procs.wait_for("rebalance handled", lambda: monitor.said("imds-monitor: notice handled", kind="rebalance_recommendation"), 30)
    assert monitor.said("imds-monitor: notice", kind="rebalance_recommendation", action="cordon")
    assert not monitor.said("imds-monitor: notice", kind="spot_interruption")
    assert {p["metadata"]["uid"] for p in app_pods(cluster, ns, "web")} == uids
    assert all(not p["metadata"].get("deletionTimestamp") and p["spec"]["nodeName"] == VICTIM
               for p in app_pods(cluster, ns, "web"))
    assert procs.wait_for("event on the node", lambda: node_events(cluster, VICTIM, "RebalanceRecommendation"), 30)
