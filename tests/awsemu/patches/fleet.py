"""CreateFleet (type instant) as AWS behaves, replacing moto's.

Why moto is too kind (moto 5.2.5, moto/ec2/models/fleets.py): it launches the first override whose
SpotPrice is lowest (usually just the first one), never fails, ignores offerings, accepts unknown
instance types, and drops the launch template's IamInstanceProfile, MetadataOptions and
SecurityGroupIds (instances land in the default security group). A controller tested against that
learns nothing about fallback. Here an instant fleet:
  - rejects an instance type that does not exist (InvalidParameterValue naming it);
  - orders each capacity type's pools by price per the allocation strategy (allocation.py);
  - reports a pool not offered in its zone, whose architecture does not match the AMI, or faulted by
    a test (faults.py), in Errors and moves on;
  - launches the target capacity in the first pool(s) that work, with the launch template's fields.
Fleets of type maintain/request keep moto's behaviour (karpenter-rs uses instant only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.fleets import Fleet
from moto.ec2.responses.fleets import Fleets
from moto.ec2.utils import random_fleet_id
from moto.iam.exceptions import NotFoundException as IamNotFound
from moto.iam.models import iam_backends

from .. import allocation, catalog, prices
from ..faults import STORE
from .ssm_resolve import resolve_image_id

_MOTO_CREATE_FLEET = Fleets.create_fleet
CAPACITY_TYPES = ("on-demand", "spot")


@dataclass
class _Config:
    template: Any
    version: Any  # moto LaunchTemplateVersion
    data: dict[str, Any]

    @property
    def spec(self) -> dict[str, str]:
        return {"LaunchTemplateId": self.template.id, "Version": str(self.version.number)}


@dataclass
class _Attempt:
    pool: allocation.Pool
    config: _Config
    image_id: str


def _invalid(message: str) -> EC2ClientError:
    return EC2ClientError("InvalidParameterValue", message)


def _resolve_config(backend: Any, config: dict[str, Any]) -> _Config:
    spec = config.get("LaunchTemplateSpecification") or {}
    if spec.get("LaunchTemplateId"):
        template = backend.get_launch_template(spec["LaunchTemplateId"])
    elif spec.get("LaunchTemplateName"):
        template = backend.get_launch_template_by_name(spec["LaunchTemplateName"])
    else:
        raise EC2ClientError(
            "MissingParameter",
            "LaunchTemplateSpecification needs LaunchTemplateId or LaunchTemplateName",
        )
    version = template.get_version(spec.get("Version") or template.default_version_number)
    return _Config(template=template, version=version, data=dict(version.data))


def _zone_of(backend: Any, region: str, override: dict[str, Any], data: dict[str, Any],
             instance_type: str) -> tuple[str | None, str | None]:
    subnet_id = override.get("SubnetId")
    if not subnet_id:
        nics = data.get("NetworkInterfaces") or []
        subnet_id = next((n.get("SubnetId") for n in nics if n.get("SubnetId")), None)
    if subnet_id:
        return subnet_id, backend.get_subnet(subnet_id).availability_zone
    if override.get("AvailabilityZone"):
        return None, override["AvailabilityZone"]
    # Neither subnet nor zone: EC2 picks a zone; we pick the first that offers the type.
    zones = sorted(catalog.zones_offering(region, instance_type))
    return None, (zones[0] if zones else None)


def _pools(backend: Any, region: str, configs: list[dict[str, Any]]
           ) -> list[tuple[dict[str, Any], _Config, str, str | None, str | None, str]]:
    """Every (override, config, type, subnet, zone, image) of the request, validated as EC2 does."""
    out = []
    for raw in configs:
        config = _resolve_config(backend, raw)
        for override in raw.get("Overrides") or [{}]:
            instance_type = override.get("InstanceType") or config.data.get("InstanceType")
            if not instance_type:
                raise EC2ClientError(
                    "MissingParameter",
                    "InstanceType must be set in the launch template or in every override",
                )
            if not catalog.exists(instance_type):
                raise _invalid(
                    f"The instance type '{instance_type}' does not exist "
                    f"(Invalid value '{instance_type}' for InstanceType)"
                )
            image = override.get("ImageId") or config.data.get("ImageId")
            if not image:
                raise EC2ClientError("MissingParameter", "ImageId must be set in the launch template")
            subnet_id, zone = _zone_of(backend, region, override, config.data, instance_type)
            out.append((override, config, instance_type, subnet_id, zone, resolve_image_id(region, backend.account_id, image)))
    return out


def _targets(spec: dict[str, Any]) -> dict[str, float]:
    total = float(spec.get("TotalTargetCapacity") or 0)
    on_demand = float(spec.get("OnDemandTargetCapacity") or 0)
    spot = float(spec.get("SpotTargetCapacity") or 0)
    default = spec.get("DefaultTargetCapacityType") or "on-demand"
    if default not in CAPACITY_TYPES:
        raise _invalid(f"DefaultTargetCapacityType must be spot or on-demand, got {default!r}")
    rest = max(total - on_demand - spot, 0.0)
    targets = {"on-demand": on_demand, "spot": spot}
    targets[default] += rest
    return targets


def _pool_error(pool: allocation.Pool, capacity_type: str, region: str,
                image_arch: str | None) -> tuple[str, str] | None:
    """Why this pool cannot launch now, as (ErrorCode, ErrorMessage), or None."""
    t, zone = pool.instance_type, pool.zone
    if zone is None or not catalog.offered(region, t, zone):
        return (
            "Unsupported",
            f"Your requested instance type ({t}) is not supported in your requested "
            f"Availability Zone ({zone}).",
        )
    type_archs = catalog.architectures(t)
    if image_arch and type_archs and image_arch not in type_archs:
        return (
            "InvalidParameterValue",
            f"The architecture '{type_archs[-1]}' of the specified instance type does not match "
            f"the architecture '{image_arch}' of the specified AMI. Specify an instance type and "
            "an AMI that have matching architectures, and try again.",
        )
    if not catalog.supports(t, capacity_type):
        return ("Unsupported", f"The instance type {t} does not support {capacity_type} capacity.")
    max_price = pool.override.get("MaxPrice")
    if capacity_type == "spot" and max_price is not None and float(max_price) < pool.price:
        return (
            "SpotMaxPriceTooLow",
            f"Your Spot request price of {max_price} is lower than the minimum required Spot "
            f"request fulfillment price of {prices.format_price(pool.price)}.",
        )
    fault = STORE.take(t, zone, capacity_type)
    if fault is not None:
        return fault.error_code, fault.render_message(t, zone, pool.subnet_id)
    return None


def _image_architecture(backend: Any, image_id: str) -> str | None:
    # An unknown AMI is left to run_instances, which rejects it as EC2 does (InvalidAMIID.NotFound).
    image = backend.amis.get(image_id)
    return getattr(image, "architecture", None) if image is not None else None


def _echo(config: _Config, pool: allocation.Pool) -> dict[str, Any]:
    overrides = dict(pool.override)
    overrides["InstanceType"] = pool.instance_type
    if pool.subnet_id:
        overrides["SubnetId"] = pool.subnet_id
    if pool.zone:
        overrides["AvailabilityZone"] = pool.zone
    return {"LaunchTemplateSpecification": config.spec, "Overrides": overrides}


def _profile(account_id: str, partition: str, data: dict[str, Any]) -> Any | None:
    wanted = data.get("IamInstanceProfile") or {}
    name, arn = wanted.get("Name"), wanted.get("Arn")
    if not name and not arn:
        return None
    backend = iam_backends[account_id][partition]
    try:
        return backend.get_instance_profile_by_arn(arn) if arn else backend.get_instance_profile(name)
    except IamNotFound:
        raise _invalid(
            f"Value ({arn or name}) for parameter iamInstanceProfile.{'arn' if arn else 'name'} "
            "is invalid. Invalid IAM Instance Profile"
        ) from None


def _launch(backend: Any, attempt: _Attempt, capacity_type: str, count: int, fleet_id: str,
            request_tags: dict[str, dict[str, str]], profile: Any | None) -> Any:
    data, pool = attempt.config.data, attempt.pool
    sg_ids = list(data.get("SecurityGroupIds") or [])
    for nic in data.get("NetworkInterfaces") or []:
        sg_ids.extend(nic.get("Groups") or [])
    tags = {
        "instance": {**request_tags.get("instance", {}), "aws:ec2:fleet-id": fleet_id},
        "volume": request_tags.get("volume", {}),
    }
    kwargs: dict[str, Any] = {
        "instance_type": pool.instance_type,
        "is_instance_type_default": False,
        "region_name": backend.region_name,
        "subnet_id": pool.subnet_id,
        "key_name": data.get("KeyName"),
        "security_group_ids": sg_ids,
        "tags": tags,
        "ebs_optimized": bool(data.get("EbsOptimized", False)),
        "instance_market_options": {"MarketType": "spot"} if capacity_type == "spot" else {},
        "launch_template": attempt.config.spec,
        "metadata_options": data.get("MetadataOptions") or {},
        "monitoring_state": "enabled" if (data.get("Monitoring") or {}).get("Enabled") else "disabled",
        "fleet_id": fleet_id,
    }
    if not pool.subnet_id:
        kwargs["placement"] = pool.zone
    reservation = backend.run_instances(attempt.image_id, count, None, [], **kwargs)
    for instance in reservation.instances:
        if capacity_type == "spot":
            instance.lifecycle = "spot"
        if profile is not None:
            backend.associate_iam_instance_profile(
                instance_id=instance.id, iam_instance_profile_arn=profile.arn
            )
    return reservation


def tags_by_resource(tag_specifications: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for spec in tag_specifications or []:
        bucket = out.setdefault(spec.get("ResourceType", ""), {})
        for tag in spec.get("Tags") or []:
            bucket[tag["Key"]] = tag.get("Value", "")
    return out


def _attempts(entries: list[tuple[dict[str, Any], _Config, str, str | None, str | None, str]],
              capacity_type: str) -> list[_Attempt]:
    """One pool per override, priced for this capacity type."""
    attempts = []
    for index, (override, config, t, subnet_id, zone, image) in enumerate(entries):
        shape = catalog.shape(t)
        if shape is None:  # _pools rejected unknown types; kept for a clear error if not
            raise _invalid(f"The instance type '{t}' does not exist")
        price = (
            prices.spot_price(shape, zone or "")
            if capacity_type == "spot"
            else prices.on_demand_price(shape)
        )
        priority = override.get("Priority")
        pool = allocation.Pool(
            index=index, instance_type=t, zone=zone, subnet_id=subnet_id, price=price,
            weight=float(override.get("WeightedCapacity") or 1.0),
            priority=float(priority) if priority is not None else None,
            override=override,
        )
        attempts.append(_Attempt(pool=pool, config=config, image_id=image))
    return attempts


@dataclass
class _Outcome:
    instances: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    launched: list[tuple[str, Any]]


def _allocate(backend: Any, attempts: list[_Attempt], capacity_type: str, strategy: str | None,
              target: float, fleet_id: str, request_tags: dict[str, dict[str, str]],
              profiles: dict[int, Any], outcome: _Outcome) -> None:
    """Try the pools in strategy order until `target` units run, recording errors on the way."""
    by_pool = {a.pool.index: a for a in attempts}
    remaining = target
    for pool in allocation.order([a.pool for a in attempts], capacity_type, strategy):
        if remaining <= 0:
            break
        attempt = by_pool[pool.index]
        arch = _image_architecture(backend, attempt.image_id)
        failure = _pool_error(pool, capacity_type, backend.region_name, arch)
        if failure is not None:
            outcome.errors.append({
                "LaunchTemplateAndOverrides": _echo(attempt.config, pool),
                "Lifecycle": capacity_type,
                "ErrorCode": failure[0],
                "ErrorMessage": failure[1],
            })
            continue
        count = allocation.units_for(remaining, pool.weight)
        reservation = _launch(backend, attempt, capacity_type, count, fleet_id, request_tags,
                              profiles[id(attempt.config)])
        remaining -= count * pool.weight
        outcome.launched.extend((capacity_type, i) for i in reservation.instances)
        outcome.instances.append({
            "LaunchTemplateAndOverrides": _echo(attempt.config, pool),
            "Lifecycle": capacity_type,
            "InstanceIds": [i.id for i in reservation.instances],
            "InstanceType": pool.instance_type,
        })


def launch_instant_fleet(response: Fleets) -> dict[str, Any]:
    backend = response.ec2_backend
    configs = response._get_param("LaunchTemplateConfigs", [])
    target_spec = response._get_param("TargetCapacitySpecification", {})
    spot_options = response._get_param("SpotOptions", {}) or {}
    on_demand_options = response._get_param("OnDemandOptions", {}) or {}
    tag_specs = response._get_param("TagSpecifications", [])
    if not configs:
        raise EC2ClientError("MissingParameter", "The request must contain the parameter LaunchTemplateConfigs")
    strategies = {
        "spot": spot_options.get("AllocationStrategy"),
        "on-demand": on_demand_options.get("AllocationStrategy"),
    }
    for capacity_type, strategy in strategies.items():
        if not allocation.validate_strategy(capacity_type, strategy):
            raise _invalid(f"Invalid {capacity_type} AllocationStrategy {strategy!r}")
    targets = _targets(target_spec)
    # Everything the request can get wrong is checked before the first instance launches.
    entries = _pools(backend, backend.region_name, configs)
    profiles = {
        id(config): _profile(response.current_account, response.partition, config.data)
        for _, config, *_ in entries
    }
    request_tags = tags_by_resource(tag_specs)
    fleet_id = random_fleet_id()
    outcome = _Outcome(instances=[], errors=[], launched=[])
    for capacity_type in CAPACITY_TYPES:
        if targets[capacity_type] > 0:
            _allocate(backend, _attempts(entries, capacity_type), capacity_type,
                      strategies[capacity_type], targets[capacity_type], fleet_id, request_tags,
                      profiles, outcome)
    _record_fleet(backend, fleet_id, response, configs, target_spec, spot_options,
                  on_demand_options, tag_specs, outcome.launched)
    return {"FleetId": fleet_id, "Errors": outcome.errors, "Instances": outcome.instances}


def _record_fleet(backend: Any, fleet_id: str, response: Fleets, configs: list[dict[str, Any]],
                  target_spec: dict[str, Any], spot_options: dict[str, Any],
                  on_demand_options: dict[str, Any], tag_specs: list[dict[str, Any]],
                  launched: list[tuple[str, Any]]) -> None:
    """Keep a moto Fleet so DescribeFleets/DescribeFleetInstances/DeleteFleets see this fleet."""
    fleet = Fleet(
        backend, fleet_id, on_demand_options, spot_options, {"TotalTargetCapacity": 0}, [],
        response._get_param("ExcessCapacityTerminationPolicy"),
        response._get_param("ReplaceUnhealthyInstances"),
        response._get_param("TerminateInstancesWithExpiration", if_none=True),
        "instant", response._get_param("ValidFrom"), response._get_param("ValidUntil"), tag_specs,
    )
    fleet.launch_template_configs = configs
    fleet.target_capacity_specification = target_spec
    fleet.target_capacity = int(float(target_spec.get("TotalTargetCapacity") or 0))
    fleet.on_demand_instances = [
        {"id": instance.id, "instance": instance, "launch_spec": None} for _, instance in launched
    ]
    fleet.fulfilled_capacity = float(len(launched))
    fleet.fulfilled_spot_capacity = float(sum(1 for c, _ in launched if c == "spot"))
    fleet.fulfilled_on_demand_capacity = float(sum(1 for c, _ in launched if c == "on-demand"))
    backend.fleets[fleet_id] = fleet


def create_fleet(self: Fleets) -> ActionResult:
    if self._get_param("Type", if_none="maintain") != "instant":
        return _MOTO_CREATE_FLEET(self)
    self.error_on_dryrun()
    return ActionResult(launch_instant_fleet(self))


def install() -> None:
    Fleets.create_fleet = create_fleet
