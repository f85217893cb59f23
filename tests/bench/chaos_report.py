"""`make bench` line for the chaos suite (tests/e2e/test_chaos.py and
tests/provider/test_interrupted_apply.py), from the report their scenarios append to (one JSON
object per scenario run):

  bench chaos scenarios=N faults_injected=... survived=... orphaned_instances=... nodes_without_instance=...
        pods_not_running=... lost_messages=... handled_twice=... duplicate_launches=... state_mismatches=...

A scenario survived when everything its invariant check counts is zero (docs/testing/chaos.md).

usage: python bench/chaos_report.py PATH/TO/chaos-report.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COUNTED = ("orphaned_instances", "nodes_without_instance", "pods_not_running", "lost_messages", "handled_twice",
           "duplicate_launches", "state_mismatches")


def count(value) -> int:
    return len(value) if isinstance(value, list) else int(value)


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = Path(sys.argv[1])
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    totals = {k: sum(count(r.get(k, 0)) for r in runs) for k in COUNTED}
    survived = sum(1 for r in runs if all(count(r.get(k, 0)) == 0 for k in COUNTED))
    print(f"bench chaos scenarios={len(runs)} faults_injected={sum(r['faults'] for r in runs)} "
          f"survived={survived} " + " ".join(f"{k}={v}" for k, v in totals.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
