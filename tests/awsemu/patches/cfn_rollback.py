"""CloudFormation stack creation that fails the way AWS fails it: CREATE_FAILED, then rollback.

Why: moto creates a stack's resources inside the CreateStack call, and when one of them fails
(e.g. a role whose name is taken) the error escapes as the CreateStack response while the stack
stays registered in CREATE_IN_PROGRESS with the resources made so far; DescribeStacks on it then
fails too (its outputs re-try the failed resource). Nothing can see or delete those leftovers.
AWS instead accepts CreateStack, records a CREATE_FAILED event on the resource with the reason,
rolls back (deletes what it made) and ends in ROLLBACK_COMPLETE, a stack without outputs that
DeleteStack removes. This patch gives moto that behaviour for AWS-style errors (moto's service
exceptions); anything else is a moto bug and still escapes.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.models import Event, Stack
from moto.core.exceptions import ServiceException
from werkzeug.exceptions import HTTPException

_AWS_ERRORS = (ServiceException, HTTPException)  # moto's RESTError family derives from the latter
_moto_create_resources = Stack.create_resources
_moto_parse_and_create = parsing.parse_and_create_resource


def _parse_and_create(logical_id: str, resource_json: Any, *args: Any, **kwargs: Any) -> Any:
    """moto's resource creation, with the failing resource's logical id and type on the error."""
    try:
        return _moto_parse_and_create(logical_id, resource_json, *args, **kwargs)
    except _AWS_ERRORS as e:
        if not hasattr(e, "awsemu_resource"):
            e.awsemu_resource = (logical_id, (resource_json or {}).get("Type", "?"))  # type: ignore[union-attr]
        raise


def _resource_event(stack: Stack, logical_id: str, resource_type: str, status: str, reason: str) -> None:
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id="",
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _create_resources(self: Stack) -> None:
    try:
        _moto_create_resources(self)
    except _AWS_ERRORS as e:
        logical_id, resource_type = getattr(e, "awsemu_resource", ("?", "?"))
        code = getattr(e, "error_type", None) or getattr(e, "code", "")
        message = getattr(e, "message", None) or str(e)
        _resource_event(self, logical_id, resource_type, "CREATE_FAILED",
                        f"Resource handler returned message: \"{message}\" (HandlerErrorCode: {code})")
        self.status = "ROLLBACK_IN_PROGRESS"
        self._add_stack_event(
            "ROLLBACK_IN_PROGRESS",
            resource_status_reason=f"The following resource(s) failed to create: [{logical_id}]. "
            "Rollback requested by user.",
        )
        self.output_map = parsing.OutputMap(self.resource_map, {"Outputs": {}}, self.stack_id)
        try:
            self.resource_map.delete()  # what was made so far
        except _AWS_ERRORS as rollback_error:
            self.status = "ROLLBACK_FAILED"
            self._add_stack_event("ROLLBACK_FAILED", resource_status_reason=str(rollback_error))
            return
        self.status = "ROLLBACK_COMPLETE"
        self._add_stack_event("ROLLBACK_COMPLETE")


def install() -> None:
    parsing.parse_and_create_resource = _parse_and_create
    Stack.create_resources = _create_resources
