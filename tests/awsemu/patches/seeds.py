"""Seeded AWS-owned data moto lacks: EKS optimized AMIs and their SSM parameters.

Why: moto seeds /aws/service/ami-amazon-linux-latest and ECS paths, but no
/aws/service/eks/optimized-ami/... parameter, and its only EKS image (ami-ekslinux) has no version or
arm64 twin. Both patches hook the backends' constructors, which moto also calls on every
POST /moto-api/reset (BaseBackend.reset re-runs __init__), so the seed comes back after each reset
and exists in every region a client touches.
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import utcnow
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ssm.models import Parameter, SimpleSystemManagerBackend

from .. import eks_amis

_MOTO_LOAD_AMIS = AmiBackend._load_amis
_MOTO_SSM_INIT = SimpleSystemManagerBackend.__init__


def _load_amis(self: Any) -> None:
    _MOTO_LOAD_AMIS(self)
    for image in eks_amis.ALL:
        self.amis[image.ami_id] = Ami(
            self,
            image.ami_id,
            name=image.name,
            description=image.description,
            owner_id=eks_amis.EKS_AMI_OWNER,
            owner_alias="amazon",
            public=True,
            virtualization_type="hvm",
            architecture=image.architecture,
            platform=None,
            hypervisor="xen",
            root_device_type="ebs",
            root_device_name="/dev/xvda",
            image_location=f"amazon/{image.name}",
        )


def _ssm_init(self: Any, region_name: str, account_id: str) -> None:
    _MOTO_SSM_INIT(self, region_name, account_id)
    now = utcnow()
    for image in eks_amis.ALL:
        for name, value in image.parameters().items():
            self._parameters[name].append(
                Parameter(
                    account_id=account_id,
                    name=name,
                    value=value,
                    parameter_type="String",
                    description=None,
                    allowed_pattern=None,
                    keyid=None,
                    last_modified_date=now,
                    version=1,
                    data_type="aws:ec2:image" if name.endswith("/image_id") else "text",
                )
            )


def install() -> None:
    AmiBackend._load_amis = _load_amis
    SimpleSystemManagerBackend.__init__ = _ssm_init
