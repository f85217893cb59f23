"""DescribeSpotPriceHistory with our deterministic prices.

Why: moto 5.2.5 answers every offering with SpotPrice "0.00001" and a 2006 timestamp, so every pool
ties and "cheapest first" is meaningless. We answer one entry per (offered type, zone, product
description) with prices.spot_price, filtered like EC2 (InstanceTypes, ProductDescriptions,
AvailabilityZone, Filters instance-type / availability-zone / product-description) and paged with
MaxResults/NextToken. History has one point per pool (the price never changes), stamped with a fixed
time so answers are identical across runs.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.spot_instances import SpotInstances

from .. import catalog, prices

PRODUCT_DESCRIPTIONS = ("Linux/UNIX", "Linux/UNIX (Amazon VPC)")
TIMESTAMP = "2026-01-01T00:00:00.000Z"
MAX_RESULTS = 1000


def spot_price_history(region: str, instance_types: list[str], product_descriptions: list[str],
                       zones: list[str]) -> list[dict[str, str]]:
    history = []
    for instance_type, zone in catalog.offerings(region):
        if instance_types and instance_type not in instance_types:
            continue
        if zones and zone not in zones:
            continue
        if not catalog.supports(instance_type, "spot"):
            continue
        shape = catalog.shape(instance_type)
        if shape is None:
            continue
        price = prices.format_price(prices.spot_price(shape, zone))
        for description in PRODUCT_DESCRIPTIONS:
            if product_descriptions and description not in product_descriptions:
                continue
            history.append({
                "AvailabilityZone": zone,
                "InstanceType": instance_type,
                "ProductDescription": description,
                "SpotPrice": price,
                "Timestamp": TIMESTAMP,
            })
    return history


def describe_spot_price_history(self: SpotInstances) -> ActionResult:
    filters: dict[str, Any] = self._filters_from_querystring()
    instance_types = list(self._get_param("InstanceTypes", []) or [])
    instance_types += filters.get("instance-type", [])
    descriptions = list(self._get_param("ProductDescriptions", []) or [])
    descriptions += filters.get("product-description", [])
    zones = list(filters.get("availability-zone", []))
    if self._get_param("AvailabilityZone"):
        zones.append(self._get_param("AvailabilityZone"))
    history = spot_price_history(self.region, instance_types, descriptions, zones)

    token = self._get_param("NextToken")
    start = 0
    if token:
        if not str(token).isdigit():
            raise EC2ClientError("InvalidNextToken", f"The token '{token}' is invalid")
        start = int(token)
    max_results = int(self._get_param("MaxResults") or MAX_RESULTS)
    page = history[start:start + max_results]
    result: dict[str, Any] = {"SpotPriceHistory": page}
    if start + max_results < len(history):
        result["NextToken"] = str(start + max_results)
    return ActionResult(result)


def install() -> None:
    SpotInstances.describe_spot_price_history = describe_spot_price_history
