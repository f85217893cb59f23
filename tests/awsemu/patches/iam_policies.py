"""AWS managed IAM policies, built from a parse cached once per process.

Why: with MOTO_IAM_LOAD_MANAGED_POLICIES=true (set by server.py, so that
arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy and friends exist) moto re-parses its 5 MB policy
JSON and re-serialises every policy document each time an IAM backend is built, i.e. after every
reset: ~70% of the backend's build time. The policies themselves are still new objects per backend
(they carry attachment counts), only the immutable parse is shared.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, IAMBackend, ManagedPolicy
from moto.settings import load_iam_aws_managed_policies


@lru_cache(maxsize=1)
def _parsed() -> tuple[tuple[str, dict[str, Any]], ...]:
    data = json.loads(aws_managed_policies_data)
    return tuple(
        (
            name,
            {
                "default_version_id": d.get("DefaultVersionId"),
                "path": d.get("Path"),
                "document": json.dumps(d.get("Document")),
                "create_date": datetime.fromisoformat(d["CreateDate"]),
                "update_date": datetime.fromisoformat(d["UpdateDate"]),
            },
        )
        for name, d in data.items()
    )


def _init_aws_policies(self: Any) -> list[ManagedPolicy]:
    if not load_iam_aws_managed_policies():
        return []
    return [
        AWSManagedPolicy(name, account_id=self.account_id, region=self.region_name, **kwargs)
        for name, kwargs in _parsed()
    ]


def install() -> None:
    IAMBackend._init_aws_policies = _init_aws_policies
