"""What the emulator authorised for IAM principals, kept so tests can ask which request needed
which permission (pure: no moto, no I/O).

Why: a least-privilege policy is proven by showing that each of its actions is needed. Every check
a principal's request needed is recorded with its decision; a test re-decides the recorded checks
against the policy with one action removed (iam_policy.decide, the emulator's own evaluation) and
names the request that would then be refused. Identical checks are counted, not repeated, so a
long scenario's record stays small.
"""

from __future__ import annotations

import threading
from typing import Any

from .iam_policy import Check, Decision

# Far above any test's distinct checks (the launches of the consolidation bench make ~2,000).
LIMIT = 50_000


class Audit:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str, tuple[tuple[str, tuple[str, ...]], ...], str], int] = {}
        self.dropped = 0

    def record(self, principal: str, check: Check, decision: Decision) -> None:
        key = (principal, check.action, check.resource, tuple(sorted(check.context.items())), decision.value)
        with self._lock:
            if key in self._counts:
                self._counts[key] += 1
            elif len(self._counts) < LIMIT:
                self._counts[key] = 1
            else:
                self.dropped += 1

    def clear(self) -> int:
        with self._lock:
            count = len(self._counts)
            self._counts.clear()
            self.dropped = 0
            return count

    def to_json(self, principal_contains: str = "") -> dict[str, Any]:
        with self._lock:
            items = list(self._counts.items())
            dropped = self.dropped
        return {
            "dropped": dropped,
            "checks": [
                {"principal": principal, "action": action, "resource": resource,
                 "context": {k: list(v) for k, v in context}, "decision": decision, "count": count}
                for (principal, action, resource, context, decision), count in items
                if principal_contains in principal
            ],
        }


AUDIT = Audit()
