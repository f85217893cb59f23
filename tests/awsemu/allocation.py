"""CreateFleet allocation order (pure): which pool to try first for a capacity type.

AWS documents the strategies; what matters to a client such as karpenter-rs is the resulting order:
  spot  lowest-price, price-capacity-optimized, capacity-optimized -> cheapest spot price per unit
        of weighted capacity first (we have no capacity model, so "capacity" is price-ordered too);
  spot  capacity-optimized-prioritized -> Priority first, then price;
  spot  diversified -> price order, and the launcher spreads one unit per pool in turn;
  on-demand lowest-price (the default) -> cheapest on-demand price per unit first;
  on-demand prioritized -> Priority first (lower number = higher priority; no Priority = last),
        then price.
Ties keep the request's override order, so the result is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SPOT_STRATEGIES = {
    "lowest-price",
    "lowestPrice",
    "price-capacity-optimized",
    "capacity-optimized",
    "capacity-optimized-prioritized",
    "capacityOptimized",
    "capacityOptimizedPrioritized",
    "diversified",
}
ON_DEMAND_STRATEGIES = {"lowest-price", "lowestPrice", "prioritized"}
DEFAULT_SPOT_STRATEGY = "lowest-price"
DEFAULT_ON_DEMAND_STRATEGY = "lowest-price"


@dataclass(frozen=True)
class Pool:
    """One override of one launch template config: an (instance type, zone/subnet) pool."""

    index: int  # position in the request, for stable ties
    instance_type: str
    zone: str | None
    subnet_id: str | None
    price: float  # $/h for the capacity type being allocated
    weight: float = 1.0
    priority: float | None = None
    config_index: int = 0
    override: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def unit_price(self) -> float:
        return self.price / self.weight if self.weight > 0 else self.price


def _by_price(pool: Pool) -> tuple[float, int]:
    return (pool.unit_price, pool.index)


def _by_priority(pool: Pool) -> tuple[int, float, float, int]:
    missing = 1 if pool.priority is None else 0
    return (missing, pool.priority or 0.0, pool.unit_price, pool.index)


def order(pools: list[Pool], capacity_type: str, strategy: str | None) -> list[Pool]:
    if capacity_type == "spot":
        strategy = strategy or DEFAULT_SPOT_STRATEGY
        if strategy in ("capacity-optimized-prioritized", "capacityOptimizedPrioritized"):
            return sorted(pools, key=_by_priority)
        return sorted(pools, key=_by_price)
    strategy = strategy or DEFAULT_ON_DEMAND_STRATEGY
    if strategy == "prioritized":
        return sorted(pools, key=_by_priority)
    return sorted(pools, key=_by_price)


def validate_strategy(capacity_type: str, strategy: str | None) -> bool:
    if strategy is None:
        return True
    allowed = SPOT_STRATEGIES if capacity_type == "spot" else ON_DEMAND_STRATEGIES
    return strategy in allowed


def units_for(target: float, weight: float) -> int:
    """Instances needed in a pool of this weight to cover target capacity (AWS rounds up)."""
    if target <= 0:
        return 0
    w = weight if weight > 0 else 1.0
    count = int(target // w)
    if count * w < target:
        count += 1
    return count
