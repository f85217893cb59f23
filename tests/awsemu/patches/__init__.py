"""Small, named patches of moto, each documenting where moto is too kind (see each module).

install_all() is idempotent and must run before the server answers its first request.
"""

from __future__ import annotations

from . import (
    cfn_inline_policies,
    cfn_rollback,
    cfn_sqs_update,
    dry_run,
    eks_access_entries,
    fleet,
    iam_enforce,
    iam_policies,
    iam_profile_tags,
    reset,
    seeds,
    spot_prices,
    sqs_receive,
)

_installed = False


def install_all() -> None:
    global _installed
    if _installed:
        return
    fleet.install()
    spot_prices.install()
    seeds.install()
    reset.install()
    iam_policies.install()
    iam_profile_tags.install()
    cfn_inline_policies.install()
    cfn_rollback.install()
    cfn_sqs_update.install()
    eks_access_entries.install()
    sqs_receive.install()
    # Inside the IAM check, which wraps it: EC2 authorises a dry run before answering it.
    dry_run.install()
    iam_enforce.install()
    _installed = True
