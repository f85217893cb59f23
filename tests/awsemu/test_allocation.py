"""Unit tests of CreateFleet pool ordering (pure)."""

from __future__ import annotations

import pytest

from awsemu.allocation import Pool, order, units_for, validate_strategy


def pool(index: int, price: float, weight: float = 1.0, priority: float | None = None) -> Pool:
    return Pool(index=index, instance_type=f"t{index}.large", zone="z", subnet_id=None,
                price=price, weight=weight, priority=priority)


@pytest.mark.parametrize("strategy", [None, "lowest-price", "price-capacity-optimized", "capacity-optimized"])
def test_spot_orders_cheapest_first(strategy: str | None) -> None:
    pools = [pool(0, 0.3), pool(1, 0.1), pool(2, 0.2)]
    assert [p.index for p in order(pools, "spot", strategy)] == [1, 2, 0]


def test_price_is_compared_per_unit_of_weighted_capacity() -> None:
    pools = [pool(0, 0.10, weight=1), pool(1, 0.16, weight=2)]
    assert [p.index for p in order(pools, "on-demand", "lowest-price")] == [1, 0]


def test_ties_keep_request_order() -> None:
    pools = [pool(0, 0.1), pool(1, 0.1), pool(2, 0.1)]
    assert [p.index for p in order(pools, "spot", None)] == [0, 1, 2]


def test_on_demand_prioritized_uses_priority_then_price_and_puts_missing_last() -> None:
    pools = [pool(0, 0.1, priority=None), pool(1, 0.5, priority=2), pool(2, 0.9, priority=1),
             pool(3, 0.4, priority=1)]
    assert [p.index for p in order(pools, "on-demand", "prioritized")] == [3, 2, 1, 0]


def test_spot_capacity_optimized_prioritized_uses_priority() -> None:
    pools = [pool(0, 0.1, priority=3), pool(1, 0.5, priority=1)]
    assert [p.index for p in order(pools, "spot", "capacity-optimized-prioritized")] == [1, 0]


def test_on_demand_ignores_priority_under_lowest_price() -> None:
    pools = [pool(0, 0.5, priority=0), pool(1, 0.1, priority=9)]
    assert [p.index for p in order(pools, "on-demand", None)] == [1, 0]


@pytest.mark.parametrize("target,weight,count", [(1, 1, 1), (3, 1, 3), (3, 2, 2), (4, 2, 2), (0, 1, 0), (1, 4, 1)])
def test_units_for_rounds_up_to_cover_the_target(target: float, weight: float, count: int) -> None:
    assert units_for(target, weight) == count


def test_strategy_validation_per_capacity_type() -> None:
    assert validate_strategy("spot", "price-capacity-optimized")
    assert not validate_strategy("on-demand", "price-capacity-optimized")
    assert validate_strategy("on-demand", "prioritized")
    assert validate_strategy("spot", None)
