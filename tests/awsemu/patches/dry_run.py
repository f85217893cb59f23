"""EC2 DryRun answered the way EC2 answers it, for every EC2 action moto implements.

Why: moto checks DryRun in some EC2 handlers (DescribeInstances, DescribeImages, DescribeSubnets,
DescribeLaunchTemplates, CreateFleet, CreateLaunchTemplate, TerminateInstances) and ignores it in
others, which then answer with data (or act) as if the flag were not set: DescribeInstanceTypes and
DescribeSecurityGroups among them. Karpenter's operator checks that it can reach EC2 at start-up
with DescribeInstanceTypes(DryRun=true) and takes anything but DryRunOperation as a failure; its
EC2NodeClass validation dry-runs CreateFleet, CreateLaunchTemplate and RunInstances the same way.

What we do: an EC2 request with DryRun=true, for an action whose handler (moto's, or one of our
patches) never looks at DryRun, answers DryRunOperation ("Request would have succeeded, but DryRun
flag is set.", HTTP 412, as EC2 and moto's own check answer it) without running the action. Handlers
that check DryRun themselves keep their own answer and ordering. Actions moto does not implement
keep moto's answer too: a dry run of something the emulator cannot do must not say it would succeed.
The check sits at BaseResponse.call_action *inside* the IAM authorisation (patches/iam_enforce.py
wraps this one, so install() runs first): EC2 authorises a dry run before it answers, and a
principal without the permission gets UnauthorizedOperation.
"""

from __future__ import annotations

import inspect
from typing import Any

from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import camelcase_to_underscores, method_names_from_class
from moto.ec2.exceptions import DryRunClientError
from moto.ec2.responses import EC2Response

_installed = False
# action -> whether its handler ignores DryRun (decided once per action, from the handler's code)
_IGNORES: dict[str, bool] = {}


def _ignores_dry_run(response: EC2Response, action: str) -> bool:
    if action not in _IGNORES:
        handler = getattr(type(response), action)
        try:
            source = inspect.getsource(handler)
        except (OSError, TypeError):
            source = ""
        # moto's handlers that honour it call error_on_dryrun() (or read "DryRun" themselves).
        _IGNORES[action] = "error_on_dryrun" not in source and "DryRun" not in source
    return _IGNORES[action]


def _answers_dry_run(response: BaseResponse) -> bool:
    if not isinstance(response, EC2Response):
        return False
    action = camelcase_to_underscores(response._get_action())
    if action not in method_names_from_class(type(response)):
        return False
    return _ignores_dry_run(response, action) and bool(response._get_param("DryRun", False))


def _dry_run_operation(response: BaseResponse) -> Any:
    # Serialised as moto serialises the DryRunClientError its own handlers raise.
    status, headers, body = response.serialized(ActionResult(DryRunClientError()))
    headers["status"] = status
    headers, body = response._enrich_response(headers, body)
    return status, headers, body


def install() -> None:
    global _installed
    if _installed:
        return
    original = BaseResponse.call_action

    def call_action(self: BaseResponse) -> Any:
        if _answers_dry_run(self):
            return _dry_run_operation(self)
        return original(self)

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    _installed = True
