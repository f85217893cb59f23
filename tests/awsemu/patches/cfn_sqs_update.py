"""A CloudFormation stack update changes an SQS queue's attributes in place.

Why: moto's AWS::SQS::Queue update applies only VisibilityTimeout and
ReceiveMessageWaitTimeSeconds; a new MessageRetentionPeriod (or any other attribute) in the
template is silently dropped while the stack reports UPDATE_COMPLETE. AWS updates these in place
("Update requires: No interruption"). We apply every such attribute the new template sets.
(A property removed from the template is not reset to its default: nothing here needs that.)
"""

from __future__ import annotations

from typing import Any

from moto.sqs.models import Queue, sqs_backends

IN_PLACE = (
    "ContentBasedDeduplication",
    "DelaySeconds",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
_moto_update = Queue.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _update(cls: type, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
            account_id: str, region_name: str) -> Queue:
    queue = _moto_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
    properties = cloudformation_json.get("Properties") or {}
    changed = {k: properties[k] for k in IN_PLACE if k in properties}
    if changed:
        queue = sqs_backends[account_id][region_name].set_queue_attributes(queue.name, changed)
    return queue


def install() -> None:
    Queue.update_from_cloudformation_json = classmethod(_update)  # type: ignore[method-assign,assignment]
