"""Injected capacity faults: which (instance type, zone, capacity type) pools fail, and how.

Real AWS runs out of capacity; moto never does. Tests inject a fault per pool (or with "*" for any
type/zone/capacity type) and CreateFleet reports it in Errors with the given AWS error code instead of
launching there. State lives in the server process and is cleared by POST /moto-api/reset.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass

WILDCARD = "*"
CAPACITY_TYPES = {"spot", "on-demand", WILDCARD}

# Messages modelled on what EC2 says, so log lines in tests read like production ones.
DEFAULT_MESSAGES: dict[str, str] = {
    "InsufficientInstanceCapacity": (
        "We currently do not have sufficient {instance_type} capacity in the Availability Zone you "
        "requested ({zone}). Our system will be working on provisioning additional capacity."
    ),
    "MaxSpotInstanceCountExceeded": "Max spot instance count exceeded",
    "UnfulfillableCapacity": (
        "Unable to fulfill capacity due to your request configuration. Please adjust your request "
        "and try again."
    ),
    "VcpuLimitExceeded": (
        "You have requested more vCPU capacity than your current vCPU limit allows for the instance "
        "bucket that the specified instance type belongs to."
    ),
    "InsufficientFreeAddressesInSubnet": (
        "There are not enough free addresses in subnet {subnet_id} to satisfy the requested number "
        "of instances."
    ),
    "SpotMaxPriceTooLow": "Your Spot request price is lower than the minimum required Spot request fulfillment price.",
}


class FaultError(ValueError):
    """A fault specification a test got wrong; the control endpoint answers 400 with this text."""


@dataclass(frozen=True)
class Fault:
    id: int
    instance_type: str
    zone: str
    capacity_type: str
    error_code: str
    message: str | None = None
    # How many launches it still fails; None = until cleared.
    remaining: int | None = None

    def matches(self, instance_type: str, zone: str | None, capacity_type: str) -> bool:
        return (
            self.instance_type in (WILDCARD, instance_type)
            and self.zone in (WILDCARD, zone)
            and self.capacity_type in (WILDCARD, capacity_type)
        )

    def render_message(self, instance_type: str, zone: str | None, subnet_id: str | None) -> str:
        template = self.message or DEFAULT_MESSAGES.get(
            self.error_code, "{error_code} for {instance_type} in {zone}"
        )
        return template.format(
            instance_type=instance_type,
            zone=zone or "",
            subnet_id=subnet_id or "",
            error_code=self.error_code,
        )

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def parse_fault(spec: object, fault_id: int) -> Fault:
    if not isinstance(spec, dict):
        raise FaultError("a fault is a JSON object")
    known = {"instance_type", "zone", "capacity_type", "error_code", "message", "times"}
    unknown = set(spec) - known
    if unknown:
        raise FaultError(f"unknown fault fields {sorted(unknown)}; known: {sorted(known)}")
    error_code = spec.get("error_code")
    if not isinstance(error_code, str) or not error_code:
        raise FaultError("error_code is required, e.g. InsufficientInstanceCapacity")
    capacity_type = spec.get("capacity_type", WILDCARD)
    if capacity_type not in CAPACITY_TYPES:
        raise FaultError(f"capacity_type must be one of {sorted(CAPACITY_TYPES)}, got {capacity_type!r}")
    for key in ("instance_type", "zone"):
        if not isinstance(spec.get(key, WILDCARD), str):
            raise FaultError(f"{key} must be a string ('*' for any)")
    times = spec.get("times")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise FaultError("times must be a positive integer (omit it for a permanent fault)")
    message = spec.get("message")
    if message is not None and not isinstance(message, str):
        raise FaultError("message must be a string")
    return Fault(
        id=fault_id,
        instance_type=spec.get("instance_type", WILDCARD),
        zone=spec.get("zone", WILDCARD),
        capacity_type=capacity_type,
        error_code=error_code,
        message=message,
        remaining=times,
    )


class FaultStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: object) -> Fault:
        with self._lock:
            fault = parse_fault(spec, next(self._ids))
            self._faults.append(fault)
            return fault

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, instance_type: str, zone: str | None, capacity_type: str) -> Fault | None:
        """The first matching fault, counting one use of it (a fault with times=N fails N launches)."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if not fault.matches(instance_type, zone, capacity_type):
                    continue
                if fault.remaining is not None:
                    left = fault.remaining - 1
                    if left <= 0:
                        del self._faults[i]
                    else:
                        self._faults[i] = Fault(**{**fault.to_json(), "remaining": left})
                return fault
            return None


# The one store of the server process.
STORE = FaultStore()
