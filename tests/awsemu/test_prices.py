"""Unit tests of the price formula (pure; uses moto's instance-type data as the input set)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from awsemu import catalog, prices
from awsemu.prices import Shape

REGION = "ap-southeast-1"


def test_m5_large_matches_the_calibration_point() -> None:
    assert prices.on_demand_price(Shape("m5.large", 2, 8192)) == pytest.approx(0.096, abs=1e-6)


@pytest.mark.parametrize("name,expected", [
    ("m5ad.large", ("m", 5, "ad")),
    ("c7i-flex.xlarge", ("c", 7, "i-flex")),
    ("u7i-12tb.224xlarge", ("u", 7, "i")),
    ("mac2-m2pro.metal", ("mac", 2, "")),
    ("p6-b200.48xlarge", ("p", 6, "")),
])
def test_family_parts_split_class_generation_attributes(name: str, expected: tuple) -> None:
    assert prices.family_parts(name) == expected


def test_every_known_type_has_a_positive_on_demand_price_and_spot_below_it_in_every_zone() -> None:
    for instance_type, zone in catalog.offerings(REGION):
        shape = catalog.shape(instance_type)
        assert shape is not None
        od = prices.on_demand_price(shape)
        assert od > 0, instance_type
        spot = prices.spot_price(shape, zone)
        assert 0.24 * od <= spot <= 0.46 * od, (instance_type, zone, od, spot)


def test_spot_fraction_is_stable_and_spread_over_its_range() -> None:
    fractions = [prices.spot_fraction(t, z) for t, z in catalog.offerings(REGION)]
    assert fractions == [prices.spot_fraction(t, z) for t, z in catalog.offerings(REGION)]
    assert min(fractions) >= prices.SPOT_FRACTION_MIN
    assert max(fractions) <= prices.SPOT_FRACTION_MIN + prices.SPOT_FRACTION_SPAN
    # Not a constant: zones of one type differ, so zone choice matters to the allocator.
    assert len({round(f, 4) for f in fractions}) > len(fractions) // 2


def test_within_a_family_more_vcpus_and_memory_never_cost_less() -> None:
    families: dict[str, list[Shape]] = defaultdict(list)
    for t in catalog.all_types():
        shape = catalog.shape(t)
        assert shape is not None
        families[t.split(".")[0]].append(shape)
    for family, shapes in families.items():
        for a in shapes:
            for b in shapes:
                if (b.vcpus >= a.vcpus and b.memory_mib >= a.memory_mib
                        and b.accelerators >= a.accelerators):
                    assert prices.on_demand_price(b) >= prices.on_demand_price(a), (family, a, b)


@pytest.mark.parametrize("cheaper,dearer", [
    ("m6g.large", "m6i.large"),  # Graviton below Intel
    ("m5a.large", "m5.large"),  # AMD below Intel
    ("m5.large", "m5d.large"),  # local disk costs more
    ("m5.large", "m4.large"),  # older generation costs more
    ("t3.medium", "m5.large"),
    ("c5.large", "r5.large"),
])
def test_relative_order_follows_aws(cheaper: str, dearer: str) -> None:
    a, b = catalog.shape(cheaper), catalog.shape(dearer)
    assert a is not None and b is not None
    assert prices.on_demand_price(a) < prices.on_demand_price(b)


def test_accelerators_dominate_the_price() -> None:
    gpu = catalog.shape("p4d.24xlarge")
    assert gpu is not None and gpu.accelerators == 8
    assert prices.on_demand_price(gpu) > 8 * prices.ACCELERATOR_RATE
