"""`make bench` figures for the interruption queue processor, on the local environment:

  bench interruption messages=200 p50_ms=... p99_ms=...
  bench interruption messages=1000 seconds=... peak_rss_mib=...
  bench interruption_replay messages=10000 bad=2000 deleted=... received=... unparseable=... crashes=...
        seconds=... rss_start_mib=... rss_end_mib=... rss_max_mib=...

Setup: the controller runs with an interruption queue and every action set to `cordon` (a
replacement launch per message would measure provisioning, not the processor); 200 Nodes of ours
stand for 200 instances launched in the emulator (KWOK keeps them Ready).

Latency: 200 spot interruption warnings, one per node, are sent in batches of 10 as fast as SQS
takes them (a mass reclaim). Clock zero of a message is taken just before the SendMessageBatch call
that carries it (so the figure errs high by that call's duration), its end when a watch on the
Nodes delivers the node with the disruption taint.

Throughput: then 1000 messages at once: the five kinds over the same nodes (already cordoned: the
duplicates EventBridge's at-least-once delivery produces), 10% for instances that are not ours and
5% malformed. `seconds` runs from the first send until the controller's deleted-messages counter
reaches 1000; peak_rss_mib is the controller's VmHWM over the whole run.

Replay: then 10,000 messages (tests/harness/replay.py): a fifth malformed or foreign (the parser's
fuzz corpus and events for instances that are not ours), the rest well-formed events for our nodes,
sent while the controller consumes them. Every one must be deleted and counted as received;
crashes is 1 when the process died; VmRSS is sampled every 0.5 s from before the first send
(rss_start) until the last message is deleted (rss_end), rss_max the largest sample.

usage: python bench/interruption_e2e.py PATH/TO/karpenter-controller
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from pathlib import Path

import boto3
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.local_env import environment, kubectl_apply  # noqa: E402
from e2e.test_provisioning import CLUSTER, REGION, ZONES, provisioner  # noqa: E402
from harness import cluster as cluster_mod  # noqa: E402
from harness import procs, replay  # noqa: E402
from provisioning_e2e import peak_rss_mib  # noqa: E402

NODES = 200
THROUGHPUT_MESSAGES = 1000
REPLAY_MESSAGES = 10_000
TAINT = "karpenter.sh/disruption"
ACTIONS = ("spot-interruption-action", "rebalance-recommendation-action", "scheduled-change-action",
           "instance-state-change-action", "capacity-reservation-interruption-action")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def node_object(name: str, instance: str, zone: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "finalizers": ["karpenter.sh/termination"], "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "m5.large", "topology.kubernetes.io/zone": zone,
            "karpenter.sh/capacity-type": "spot", "karpenter.sh/provisioner-name": "default"}},
        "spec": {"providerID": f"aws:///{zone}/{instance}"},
        "status": {"capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"},
                   "allocatable": {"cpu": "1930m", "memory": "7Gi", "pods": "29"}},
    }


class TaintWatch:
    """Records when a watch first delivers each node with the disruption taint. The API server ends
    watches now and then; the watch is resumed from the last resourceVersion seen."""

    def __init__(self, cluster: cluster_mod.Cluster, resource_version: str):
        self.tainted: dict[str, float] = {}
        self._cluster = cluster
        self._version = resource_version
        self._stop = threading.Event()
        self._response = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        session = self._cluster.api()
        while not self._stop.is_set():
            try:
                self._response = session.get(
                    f"{self._cluster.server}/api/v1/nodes",
                    params={"watch": "true", "resourceVersion": self._version},
                    stream=True, timeout=(5, None))
                for line in self._response.iter_lines():
                    now = time.time()
                    if line:
                        self._record(json.loads(line).get("object", {}), now)
            except Exception:  # noqa: BLE001 - an ended or closed watch is resumed or, when stopping, left
                if self._stop.is_set():
                    return

    def _record(self, obj: dict, now: float) -> None:
        self._version = obj.get("metadata", {}).get("resourceVersion", self._version)
        taints = obj.get("spec", {}).get("taints") or []
        name = obj.get("metadata", {}).get("name")
        if name and name not in self.tainted and any(t.get("key") == TAINT for t in taints):
            self.tainted[name] = now

    def close(self) -> None:
        self._stop.set()
        if self._response is not None:
            self._response.close()


def counter(port: int, name: str, labels: str = "") -> float:
    """The sum of a counter's series whose labels contain `labels`."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and labels in line)


def deleted_messages(port: int) -> float:
    return counter(port, "karpenter_interruption_deleted_messages_total")


def replay_at_scale(sqs, url: str, proc, port: int, instances: list[str]) -> str:
    """The replay figure; see the module's docstring."""
    received = "karpenter_interruption_received_messages_total"

    def queue_empty():
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return all(v == "0" for v in attrs.values())
    # Whatever the earlier phases sent is deleted first, so the deltas are this phase's.
    procs.wait_for("the earlier messages done", lambda: queue_empty() or None, 300)
    time.sleep(2)
    before = (deleted_messages(port), counter(port, received), counter(port, received, 'message_type="unparseable"'))
    bodies, bad = replay.mix(REPLAY_MESSAGES, instances)
    sampler = replay.RssSampler(proc.pid)
    start = time.time()
    sender = threading.Thread(target=replay.send, args=(sqs, url, bodies), daemon=True)
    sender.start()

    def all_deleted():
        if not proc.alive():
            return True
        sampler.poll()
        return deleted_messages(port) - before[0] >= REPLAY_MESSAGES and queue_empty() or None
    procs.wait_for(f"{REPLAY_MESSAGES} messages deleted", all_deleted, 900, interval=0.1)
    seconds = time.time() - start
    sender.join()
    crashed = not proc.alive()
    if not crashed:
        sampler.samples.append(replay.rss_mib(proc.pid))
    after = (deleted_messages(port), counter(port, received), counter(port, received, 'message_type="unparseable"'))
    return (f"bench interruption_replay messages={REPLAY_MESSAGES} bad={bad} deleted={after[0] - before[0]:.0f} "
            f"received={after[1] - before[1]:.0f} unparseable={after[2] - before[2]:.0f} crashes={int(crashed)} "
            f"seconds={seconds:.1f} rss_start_mib={sampler.samples[0]:.1f} rss_end_mib={sampler.samples[-1]:.1f} "
            f"rss_max_mib={max(sampler.samples):.1f}")


def send_batches(sqs, url: str, bodies: list[tuple[str, str]]) -> dict[str, float]:
    """Sends (key, body) pairs 10 at a time; returns key -> time just before its batch was sent."""
    sent: dict[str, float] = {}
    for i in range(0, len(bodies), 10):
        batch = bodies[i:i + 10]
        before = time.time()
        result = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": body} for n, (_, body) in enumerate(batch)])
        if result.get("Failed"):
            raise RuntimeError(f"SendMessageBatch failed: {result['Failed']}")
        for key, _ in batch:
            sent[key] = before
    return sent


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = Path(sys.argv[1]).resolve()
    with environment("bench-interruption", binary) as env:
        cluster, subnets = env.cluster, env.subnets
        kubectl_apply(cluster, provisioner("default", ["spot"]))

        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images()["Images"][0]["ImageId"]
        nodes: dict[str, str] = {}  # instance id -> node name
        objects = []
        for z, zone in enumerate(ZONES):
            count = NODES // len(ZONES) + (1 if z < NODES % len(ZONES) else 0)
            launched = ec2.run_instances(ImageId=image, InstanceType="m5.large", MinCount=count, MaxCount=count,
                                         SubnetId=subnets[zone], TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                             {"Key": "karpenter.sh/cluster", "Value": CLUSTER}]}])["Instances"]
            for inst in launched:
                nodes[inst["InstanceId"]] = f"bench-{len(nodes):03d}"
                objects.append(node_object(nodes[inst["InstanceId"]], inst["InstanceId"], zone))
        kubectl_apply(cluster, {"apiVersion": "v1", "kind": "List", "items": objects})

        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="bench-interruption")["QueueUrl"]
        flags = ["--interruption-queue", url]
        for flag in ACTIONS:
            flags += [f"--{flag}", "cordon"]
        proc, port = env.start_controller(binary, *flags)
        listed = cluster.get_json("nodes")
        watch = TaintWatch(cluster, listed["metadata"]["resourceVersion"])

        sent = send_batches(sqs, url, [(name, replay.event("spot-interruption-warning", instance))
                                       for instance, name in nodes.items()])
        procs.wait_for(f"{NODES} nodes tainted", lambda: len(watch.tainted) >= NODES, 300, interval=0.2)
        watch.close()
        latencies = [(watch.tainted[name] - sent[name]) * 1000 for name in nodes.values()]
        print(f"bench interruption messages={NODES} p50_ms={percentile(latencies, 0.5):.0f} "
              f"p99_ms={percentile(latencies, 0.99):.0f} build={binary.parent.name}", flush=True)

        procs.wait_for("the first messages deleted", lambda: deleted_messages(port) >= NODES, 120, interval=0.2)
        baseline = deleted_messages(port)
        instances = list(nodes)
        kinds = sorted(replay.SAMPLES)
        bodies = []
        for n in range(THROUGHPUT_MESSAGES):
            if n % 20 == 0:
                body = '{"detail-type": "EC2 Spot Instance Interruption Warning", "detail": ' + "{" * (n % 7)
            elif n % 10 == 1:
                body = replay.event(kinds[n % len(kinds)], f"i-{n:017x}")
            else:
                body = replay.event(kinds[n % len(kinds)], instances[n % len(instances)])
            bodies.append((str(n), body))
        start = time.time()
        send_batches(sqs, url, bodies)
        procs.wait_for(f"{THROUGHPUT_MESSAGES} messages deleted",
                       lambda: deleted_messages(port) - baseline >= THROUGHPUT_MESSAGES, 600, interval=0.1)
        seconds = time.time() - start
        print(f"bench interruption messages={THROUGHPUT_MESSAGES} seconds={seconds:.2f} "
              f"peak_rss_mib={peak_rss_mib(proc.pid):.1f} build={binary.parent.name}", flush=True)
        print(f"{replay_at_scale(sqs, url, proc, port, instances)} build={binary.parent.name}", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
