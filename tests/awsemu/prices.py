"""Deterministic synthetic EC2 prices (pure: no moto, no I/O).

Real prices would make tests depend on a snapshot nobody can refresh offline, and moto's own spot
prices are a constant. What the controller needs from prices is *order* (cheapest first, spot below
on-demand, bigger costs more) and *stability* (same answer in every run, process and reset), so the
prices here are a formula of the instance type's shape. docs/testing/aws-emulator.md explains it.

On-demand $/h = (vCPUs * rate_vcpu[category] + GiB * rate_gib[category] + accelerators * rate_acc)
                * generation_factor * product of attribute_factors, rounded to 6 decimals.
Spot $/h      = on-demand * (0.25 + 0.20 * u), u in [0, 1] from sha256("type|zone").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# (rate per vCPU-hour, rate per GiB-hour). Calibrated so m5.large = 0.096, c5.large ~ 0.085,
# r5.large ~ 0.126 and t3.medium ~ 0.042, the familiar us-east-1 figures.
CATEGORY_RATES: dict[str, tuple[float, float]] = {
    "general": (0.0336, 0.0036),
    "compute": (0.0340, 0.0043),
    "memory": (0.0300, 0.0041),
    "burstable": (0.0125, 0.0042),
    "storage": (0.0360, 0.0045),
    "accelerated": (0.0500, 0.0050),
    "hpc": (0.0300, 0.0030),
    "mac": (0.0800, 0.0080),
}
# Per GPU / inference accelerator hour, added before the factors.
ACCELERATOR_RATE = 0.60

# Leading letters of the family -> category. Longest prefix wins.
CATEGORY_BY_CLASS: dict[str, str] = {
    "a": "general", "m": "general", "mac": "mac",
    "t": "burstable",
    "c": "compute",
    "r": "memory", "x": "memory", "z": "memory", "u": "memory",
    "d": "storage", "h": "storage", "i": "storage", "im": "storage", "is": "storage",
    "p": "accelerated", "g": "accelerated", "gr": "accelerated", "inf": "accelerated",
    "trn": "accelerated", "dl": "accelerated", "f": "accelerated", "vt": "accelerated",
    "hpc": "hpc",
}

# Letters after the generation digit. Graviton and AMD are cheaper, local disks, network and
# extra memory cost more: the same direction as AWS, so "cheapest" picks plausible types.
ATTRIBUTE_FACTORS: dict[str, float] = {
    "g": 0.80,  # Graviton
    "a": 0.90,  # AMD
    "d": 1.13,  # local NVMe
    "n": 1.20,  # network optimised
    "e": 1.10,  # extra memory/storage
    "z": 1.20,  # high frequency
    "b": 1.10,  # EBS optimised
    "q": 1.10,
    "i": 1.00,  # Intel (explicit)
    "l": 1.00,
    "p": 1.00,
    "-flex": 0.95,
}

_FAMILY_RE = re.compile(r"^([a-z]+)(\d+)([a-z\-]*)$")
SPOT_FRACTION_MIN = 0.25
SPOT_FRACTION_SPAN = 0.20


@dataclass(frozen=True)
class Shape:
    """The parts of an instance type that its price depends on."""

    name: str
    vcpus: int
    memory_mib: int
    accelerators: int = 0


def family_parts(instance_type: str) -> tuple[str, int, str]:
    """Split "m5ad.large" into ("m", 5, "ad"); families without a generation get generation 0."""
    family = instance_type.split(".", 1)[0]
    m = _FAMILY_RE.match(family)
    if m:
        return m.group(1), int(m.group(2)), m.group(3)
    # mac2-m2pro, u7i-12tb, p6-b200: the part before the first dash carries class + generation.
    head = family.split("-", 1)[0]
    m = _FAMILY_RE.match(head)
    if m:
        return m.group(1), int(m.group(2)), m.group(3)
    return re.sub(r"[^a-z]", "", head) or "m", 0, ""


def category(instance_type: str) -> str:
    cls, _, _ = family_parts(instance_type)
    for n in range(len(cls), 0, -1):
        if cls[:n] in CATEGORY_BY_CLASS:
            return CATEGORY_BY_CLASS[cls[:n]]
    return "general"


def generation_factor(generation: int) -> float:
    """Older than 5th generation costs more per resource (as on AWS: m4 > m5); newer slightly more."""
    if generation <= 0:
        return 1.0
    if generation < 5:
        return 1.0 + 0.10 * (5 - generation)
    return 1.0 + 0.03 * (generation - 5)


def attribute_factor(instance_type: str) -> float:
    family = instance_type.split(".", 1)[0]
    _, _, attrs = family_parts(instance_type)
    factor = 1.0
    if family.endswith("-flex"):
        factor *= ATTRIBUTE_FACTORS["-flex"]
        attrs = attrs.removesuffix("-flex")
    for letter in attrs:
        factor *= ATTRIBUTE_FACTORS.get(letter, 1.0)
    return factor


def on_demand_price(shape: Shape) -> float:
    vcpu_rate, gib_rate = CATEGORY_RATES[category(shape.name)]
    _, generation, _ = family_parts(shape.name)
    base = (
        shape.vcpus * vcpu_rate
        + (shape.memory_mib / 1024.0) * gib_rate
        + shape.accelerators * ACCELERATOR_RATE
    )
    price = base * generation_factor(generation) * attribute_factor(shape.name)
    return max(round(price, 6), 0.000001)


def spot_fraction(instance_type: str, zone: str) -> float:
    """A stable pseudo-random fraction in [0.25, 0.45], the same in every process (sha256, not hash())."""
    digest = hashlib.sha256(f"{instance_type}|{zone}".encode()).digest()
    unit = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF
    return SPOT_FRACTION_MIN + SPOT_FRACTION_SPAN * unit


def spot_price(shape: Shape, zone: str) -> float:
    return max(round(on_demand_price(shape) * spot_fraction(shape.name, zone), 6), 0.000001)


def format_price(price: float, decimals: int = 6) -> str:
    return f"{price:.{decimals}f}"
