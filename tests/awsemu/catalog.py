"""moto's own instance-type and offering data, indexed for our extensions.

We deliberately use moto's data (the same DescribeInstanceTypes and DescribeInstanceTypeOfferings
answer the controller sees) so that "offered in this zone" and "this type exists" agree with what
the emulator reports elsewhere.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Any

from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS, INSTANCE_TYPES

from .prices import Shape


def exists(instance_type: str) -> bool:
    return instance_type in INSTANCE_TYPES


def info(instance_type: str) -> dict[str, Any] | None:
    return INSTANCE_TYPES.get(instance_type)


def all_types() -> list[str]:
    return sorted(INSTANCE_TYPES)


@lru_cache(maxsize=None)
def shape(instance_type: str) -> Shape | None:
    data = INSTANCE_TYPES.get(instance_type)
    if data is None:
        return None
    gpus = sum(g.get("Count", 0) for g in (data.get("GpuInfo") or {}).get("Gpus", []))
    inference = sum(
        a.get("Count", 0)
        for a in (data.get("InferenceAcceleratorInfo") or {}).get("Accelerators", [])
    )
    neuron = sum(
        d.get("Count", 0) for d in (data.get("NeuronInfo") or {}).get("NeuronDevices", [])
    )
    return Shape(
        name=instance_type,
        vcpus=int(data["VCpuInfo"]["DefaultVCpus"]),
        memory_mib=int(data["MemoryInfo"]["SizeInMiB"]),
        accelerators=gpus + inference + neuron,
    )


def architectures(instance_type: str) -> list[str]:
    data = INSTANCE_TYPES.get(instance_type) or {}
    return list((data.get("ProcessorInfo") or {}).get("SupportedArchitectures", []))


def supports(instance_type: str, capacity_type: str) -> bool:
    data = INSTANCE_TYPES.get(instance_type) or {}
    return capacity_type in data.get("SupportedUsageClasses", [])


@lru_cache(maxsize=None)
def _zones_by_type(region: str) -> dict[str, frozenset[str]]:
    zones: dict[str, set[str]] = defaultdict(set)
    for offering in INSTANCE_TYPE_OFFERINGS["availability-zone"].get(region, []):
        zones[offering["InstanceType"]].add(offering["Location"])
    return {t: frozenset(z) for t, z in zones.items()}


def zones_offering(region: str, instance_type: str) -> frozenset[str]:
    return _zones_by_type(region).get(instance_type, frozenset())


def offered(region: str, instance_type: str, zone: str) -> bool:
    return zone in zones_offering(region, instance_type)


def offerings(region: str) -> list[tuple[str, str]]:
    """(instance type, zone) pairs offered in the region, sorted for stable output."""
    return sorted(
        (t, z) for t, zones in _zones_by_type(region).items() for z in zones
    )


def regions() -> list[str]:
    return sorted(INSTANCE_TYPE_OFFERINGS["availability-zone"])
