"""`resolve:ssm:<parameter>` image ids, as EC2 accepts them in launch templates and RunInstances.

moto takes the string literally and then fails AMI validation; AWS resolves it at launch.
"""

from __future__ import annotations

from moto.ec2.exceptions import EC2ClientError
from moto.ssm.models import ssm_backends

PREFIX = "resolve:ssm:"


def resolve_image_id(region: str, account_id: str, image_id: str) -> str:
    if not image_id.startswith(PREFIX):
        return image_id
    name = image_id[len(PREFIX):]
    parameter = ssm_backends[account_id][region].get_parameter(name)
    if parameter is None:
        raise EC2ClientError(
            "InvalidParameterValue",
            f"Parameter {name} not found: cannot resolve image id {image_id}",
        )
    return str(parameter.value)
