"""Interruption messages at scale through the real queue: a fixed mix of well-formed events and
the parser's fuzz corpus, for the e2e test (a thousand) and `make bench` (ten thousand).

Every fifth message is bad: a corpus entry (malformed JSON, wrong types, foreign sources,
well-formed events for instances that are not ours) or an event for an instance that is not ours,
in turn. The rest are well-formed events of the four sample kinds for the instances given.
"""

from __future__ import annotations

import re
import time

from harness import paths

CORPUS = paths.REPO / "controller" / "core" / "tests" / "data" / "interruption"
EVENTS = paths.REPO / "tests" / "data" / "events"
SAMPLES = {f.stem: f.read_text() for f in sorted(EVENTS.glob("*.json"))}
INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
BAD_EVERY = 5


def event(kind: str, instance: str) -> str:
    return INSTANCE_ID.sub(instance, SAMPLES[kind])


def corpus() -> list[str]:
    """The corpus entries SQS carries: it refuses empty bodies and bodies that are not UTF-8
    (the parser's own tests cover those)."""
    bodies = []
    for path in sorted(CORPUS.iterdir()):
        try:
            body = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue
        if body.strip():
            bodies.append(body)
    return bodies


def mix(count: int, instances: list[str]) -> tuple[list[str], int]:
    """`count` bodies and how many of them are bad (malformed or foreign)."""
    bad_bodies = corpus()
    kinds = sorted(SAMPLES)
    bodies, bad = [], 0
    for n in range(count):
        kind = kinds[n % len(kinds)]
        if n % BAD_EVERY == 0:
            bad += 1
            k = n // BAD_EVERY
            bodies.append(bad_bodies[(k // 2) % len(bad_bodies)] if k % 2 == 0 else event(kind, f"i-{n:017x}"))
        else:
            bodies.append(event(kind, instances[n % len(instances)]))
    return bodies, bad


def send(sqs, url: str, bodies: list[str]) -> None:
    """SendMessageBatch, ten at a time."""
    for i in range(0, len(bodies), 10):
        result = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[i:i + 10])])
        if result.get("Failed"):
            raise RuntimeError(f"SendMessageBatch failed: {result['Failed']}")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class RssSampler:
    """VmRSS of a process every `interval` seconds while the caller waits on something else."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.pid, self.interval, self.samples = pid, interval, [rss_mib(pid)]
        self._next = time.time() + interval

    def poll(self) -> None:
        if time.time() >= self._next:
            self.samples.append(rss_mib(self.pid))
            self._next = time.time() + self.interval
