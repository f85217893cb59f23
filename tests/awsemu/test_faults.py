"""Unit tests of fault specifications and matching (pure)."""

from __future__ import annotations

import pytest

from awsemu.faults import FaultError, FaultStore


def test_wildcards_match_any_type_zone_or_capacity_type() -> None:
    store = FaultStore()
    store.add({"error_code": "InsufficientInstanceCapacity", "capacity_type": "spot"})
    assert store.take("m5.large", "ap-southeast-1a", "spot") is not None
    assert store.take("c5.large", "ap-southeast-1c", "spot") is not None
    assert store.take("m5.large", "ap-southeast-1a", "on-demand") is None


def test_exact_fault_matches_only_its_pool() -> None:
    store = FaultStore()
    store.add({"error_code": "X", "instance_type": "m5.large", "zone": "z1", "capacity_type": "on-demand"})
    assert store.take("m5.large", "z2", "on-demand") is None
    assert store.take("m5.xlarge", "z1", "on-demand") is None
    fault = store.take("m5.large", "z1", "on-demand")
    assert fault is not None and fault.error_code == "X"


def test_times_limits_how_often_a_fault_fires() -> None:
    store = FaultStore()
    store.add({"error_code": "X", "times": 2})
    assert store.take("a", "z", "spot") is not None
    assert store.list()[0].remaining == 1
    assert store.take("a", "z", "spot") is not None
    assert store.take("a", "z", "spot") is None
    assert store.list() == []


def test_default_message_names_type_and_zone() -> None:
    store = FaultStore()
    fault = store.add({"error_code": "InsufficientInstanceCapacity"})
    message = fault.render_message("m5.large", "ap-southeast-1b", "subnet-1")
    assert "m5.large" in message and "ap-southeast-1b" in message


@pytest.mark.parametrize("spec,needle", [
    ({}, "error_code"),
    ({"error_code": "X", "capacity_type": "reserved"}, "capacity_type"),
    ({"error_code": "X", "times": 0}, "times"),
    ({"error_code": "X", "times": True}, "times"),
    ({"error_code": "X", "zone": 3}, "zone"),
    ({"error_code": "X", "colour": "red"}, "colour"),
    ([], "object"),
])
def test_bad_specs_are_rejected_with_the_field_named(spec: object, needle: str) -> None:
    with pytest.raises(FaultError, match=needle):
        FaultStore().add(spec)


def test_remove_and_clear() -> None:
    store = FaultStore()
    a = store.add({"error_code": "A"})
    store.add({"error_code": "B"})
    assert store.remove(a.id) and not store.remove(a.id)
    store.clear()
    assert store.list() == []
