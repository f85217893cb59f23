"""Inline policies of a CloudFormation-made IAM role stored as JSON, not as a Python repr.

Why: moto's AWS::IAM::Role handler passes each `Policies[].PolicyDocument` (a dict parsed from
the template) straight to Role.put_policy, so iam:GetRolePolicy answers with str(dict)
("{'Statement': ...}"), which no JSON parser (nor any SDK user) can read. AWS stores and returns
the JSON document. We serialise dict documents on the way in; strings (iam:PutRolePolicy) are kept.
"""

from __future__ import annotations

import json
from typing import Any

from moto.iam.models import Role

_moto_put_policy = Role.put_policy


def _put_policy(self: Role, policy_name: str, policy_json: Any) -> None:
    if not isinstance(policy_json, str):
        policy_json = json.dumps(policy_json)
    _moto_put_policy(self, policy_name, policy_json)


def install() -> None:
    Role.put_policy = _put_policy
