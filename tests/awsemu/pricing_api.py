"""The AWS Price List Query API (service "pricing"), GetProducts / DescribeServices / GetAttributeValues.

Why: moto has no pricing service at all, and controllers price on-demand capacity from it. We answer
AmazonEC2 on-demand products (Linux, Shared tenancy, capacitystatus Used, preInstalledSw NA,
marketoption OnDemand) for every instance type moto knows in every region moto has offerings for,
priced by prices.py, with PriceList entries shaped like AWS's (JSON strings with product.attributes
and terms.OnDemand.<sku>.<offer>.priceDimensions.<rate>.pricePerUnit.USD).

Bare-metal types (`*.metal`, `*.metal-<size>`) are in productFamily "Compute Instance (bare metal)",
as on AWS, and are also published with tenancy Dedicated at the same price: Karpenter asks for metal
prices with tenancy=Dedicated and treats an empty answer to either of its two queries as a failed
price update. Every filter must match (an unknown field matches nothing, as on AWS). Other operating
systems, tenancies, market options and services are absent (an empty PriceList), not invented.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any, Callable

from . import catalog, prices

SERVICE_CODE = "AmazonEC2"
OFFER_TERM = "JRTCKXETXF"  # AWS's on-demand offer term code
RATE_CODE = "6YS6EN2CT7"  # AWS's hourly price dimension code
PUBLICATION_DATE = "2026-01-01T00:00:00Z"
DEFAULT_MAX_RESULTS = 100
COMPUTE = "Compute Instance"
BARE_METAL = "Compute Instance (bare metal)"

LOCATIONS: dict[str, str] = {
    "af-south-1": "Africa (Cape Town)",
    "ap-east-1": "Asia Pacific (Hong Kong)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-northeast-3": "Asia Pacific (Osaka)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-south-2": "Asia Pacific (Hyderabad)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-southeast-3": "Asia Pacific (Jakarta)",
    "ap-southeast-4": "Asia Pacific (Melbourne)",
    "ap-southeast-5": "Asia Pacific (Malaysia)",
    "ca-central-1": "Canada (Central)",
    "ca-west-1": "Canada West (Calgary)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-central-2": "EU (Zurich)",
    "eu-north-1": "EU (Stockholm)",
    "eu-south-1": "EU (Milan)",
    "eu-south-2": "EU (Spain)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "il-central-1": "Israel (Tel Aviv)",
    "me-central-1": "Middle East (UAE)",
    "me-south-1": "Middle East (Bahrain)",
    "sa-east-1": "South America (Sao Paulo)",
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
}


class PricingError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def is_metal(instance_type: str) -> bool:
    size = instance_type.partition(".")[2]
    return size == "metal" or size.startswith("metal-")


def product_family(instance_type: str) -> str:
    return BARE_METAL if is_metal(instance_type) else COMPUTE


def _sku(instance_type: str, region: str, tenancy: str) -> str:
    # Shared products keep the SKUs they always had; only the Dedicated ones (metal) are new.
    key = f"{instance_type}|{region}|linux" + ("" if tenancy == "Shared" else f"|{tenancy}")
    return hashlib.sha256(key.encode()).hexdigest()[:16].upper()


def _attributes(instance_type: str, region: str, shape: prices.Shape, tenancy: str) -> dict[str, str]:
    data = catalog.info(instance_type) or {}
    arch = ",".join(data.get("ProcessorInfo", {}).get("SupportedArchitectures", []))
    return {
        "servicecode": SERVICE_CODE,
        "servicename": "Amazon Elastic Compute Cloud",
        "instanceType": instance_type,
        "instanceFamily": prices.category(instance_type).capitalize() + " purpose",
        "location": LOCATIONS[region],
        "locationType": "AWS Region",
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": tenancy,
        "capacitystatus": "Used",
        "preInstalledSw": "NA",
        "licenseModel": "No License required",
        "marketoption": "OnDemand",
        "operation": "RunInstances",
        "usagetype": f"{'BoxUsage' if tenancy == 'Shared' else 'DedicatedUsage'}:{instance_type}",
        "vcpu": str(shape.vcpus),
        "memory": f"{shape.memory_mib / 1024:g} GiB",
        "gpu": str(shape.accelerators),
        "processorArchitecture": "64-bit",
        "physicalProcessor": data.get("ProcessorInfo", {}).get("Manufacturer", ""),
        "currentGeneration": "Yes" if data.get("CurrentGeneration") else "No",
        "architecture": arch,
    }


def _product(instance_type: str, region: str, shape: prices.Shape, tenancy: str) -> dict[str, Any]:
    sku = _sku(instance_type, region, tenancy)
    price = prices.on_demand_price(shape)
    return {
        "product": {
            "productFamily": product_family(instance_type),
            "attributes": _attributes(instance_type, region, shape, tenancy),
            "sku": sku,
        },
        "serviceCode": SERVICE_CODE,
        "terms": {
            "OnDemand": {
                f"{sku}.{OFFER_TERM}": {
                    "priceDimensions": {
                        f"{sku}.{OFFER_TERM}.{RATE_CODE}": {
                            "unit": "Hrs",
                            "endRange": "Inf",
                            "description": f"${prices.format_price(price, 4)} per On Demand Linux "
                            f"{instance_type}{'' if tenancy == 'Shared' else ' Dedicated'} Instance Hour",
                            "appliesTo": [],
                            "rateCode": f"{sku}.{OFFER_TERM}.{RATE_CODE}",
                            "beginRange": "0",
                            "pricePerUnit": {"USD": prices.format_price(price, 10)},
                        }
                    },
                    "sku": sku,
                    "effectiveDate": PUBLICATION_DATE,
                    "offerTermCode": OFFER_TERM,
                    "termAttributes": {},
                }
            }
        },
        "version": "20260101000000",
        "publicationDate": PUBLICATION_DATE,
    }


@lru_cache(maxsize=64)
def _products(region: str) -> tuple[tuple[dict[str, str], dict[str, str], str], ...]:
    """(attributes incl. productFamily, the same keyed in lower case, PriceList JSON string) for every
    on-demand product in region."""
    types = sorted({t for t, _ in catalog.offerings(region)})
    out = []
    for t in types:
        shape = catalog.shape(t)
        if shape is None or not catalog.supports(t, "on-demand"):
            continue
        for tenancy in ("Shared", "Dedicated") if is_metal(t) else ("Shared",):
            product = _product(t, region, shape, tenancy)
            attrs = dict(product["product"]["attributes"])
            attrs["productFamily"] = product["product"]["productFamily"]
            lowered = {k.lower(): v for k, v in attrs.items()}
            out.append((attrs, lowered, json.dumps(product, separators=(",", ":"))))
    return tuple(out)


def _values(value: str) -> set[str]:
    return {v.strip().lower() for v in value.split(",")}


# Field names compare case-insensitively (clients send both "capacitystatus" and "serviceCode"), so
# do TERM_MATCH values; EQUALS is exact. ANY_OF / NONE_OF take a comma-separated list.
_FILTER_TYPES: dict[str, Callable[[str, str], bool]] = {
    "TERM_MATCH": lambda have, want: have.lower() == want.lower(),
    "EQUALS": lambda have, want: have == want,
    "CONTAINS": lambda have, want: want.lower() in have.lower(),
    "ANY_OF": lambda have, want: have.lower() in _values(want),
    "NONE_OF": lambda have, want: have.lower() not in _values(want),
}


def _check_filters(filters: list[dict[str, Any]]) -> None:
    for f in filters:
        ftype = f.get("Type", "TERM_MATCH")
        if ftype not in _FILTER_TYPES:
            raise PricingError("InvalidParameterException", f"Unsupported filter type {ftype}")


def _match(lowered: dict[str, str], filters: list[dict[str, Any]]) -> bool:
    """Every filter must hold; a field the product lacks fails any filter, NONE_OF included."""
    for f in filters:
        have = lowered.get(str(f.get("Field", "")).lower())
        if have is None or not _FILTER_TYPES[f.get("Type", "TERM_MATCH")](have, str(f.get("Value", ""))):
            return False
    return True


def _page(items: list[Any], body: dict[str, Any], key: str, default: int, largest: int) -> dict[str, Any]:
    max_results = int(body.get("MaxResults") or default)
    if not 1 <= max_results <= largest:
        raise PricingError("InvalidParameterException", f"MaxResults must be between 1 and {largest}")
    token = body.get("NextToken")
    start = 0
    if token:
        if not str(token).isdigit():
            raise PricingError("InvalidNextTokenException", f"Invalid NextToken {token}")
        start = int(token)
    result: dict[str, Any] = {key: items[start:start + max_results]}
    if start + max_results < len(items):
        result["NextToken"] = str(start + max_results)
    return result


def _regions() -> list[str]:
    return [r for r in LOCATIONS if r in catalog.regions()]


def get_products(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("ServiceCode") != SERVICE_CODE:
        return {"FormatVersion": "aws_v1", "PriceList": []}
    filters = body.get("Filters") or []
    _check_filters(filters)
    # The price list spans all regions; the filters on location/regionCode (most clients give one)
    # decide whole regions before any product is looked at.
    by_region = [f for f in filters if str(f.get("Field", "")).lower() in ("location", "regioncode")]
    matching = []
    for region in _regions():
        if not _match({"location": LOCATIONS[region], "regioncode": region}, by_region):
            continue
        matching.extend(doc for _, lowered, doc in _products(region) if _match(lowered, filters))
    return {"FormatVersion": "aws_v1", **_page(matching, body, "PriceList", DEFAULT_MAX_RESULTS, 100)}


@lru_cache(maxsize=1)
def _attribute_values() -> dict[str, tuple[str, ...]]:
    values: dict[str, set[str]] = {}
    for region in _regions():
        for attrs, _, _ in _products(region):
            for name, value in attrs.items():
                values.setdefault(name, set()).add(value)
    return {name: tuple(sorted(v)) for name, v in values.items()}


def describe_services(body: dict[str, Any]) -> dict[str, Any]:
    code = body.get("ServiceCode")
    if code and code != SERVICE_CODE:
        return {"Services": [], "FormatVersion": "aws_v1"}
    # Every name a product carries, so each one GetAttributeValues answers for is listed.
    names = sorted(_attribute_values())
    return {
        "Services": [{"ServiceCode": SERVICE_CODE, "AttributeNames": names}],
        "FormatVersion": "aws_v1",
    }


def get_attribute_values(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("ServiceCode") != SERVICE_CODE:
        return {"AttributeValues": []}
    values = _attribute_values().get(str(body.get("AttributeName", "")), ())
    return _page([{"Value": v} for v in values], body, "AttributeValues", 10000, 10000)


OPERATIONS = {
    "GetProducts": get_products,
    "DescribeServices": describe_services,
    "GetAttributeValues": get_attribute_values,
}
TARGET_PREFIX = "AWSPriceListService."


def handle(target: str, raw_body: bytes) -> tuple[int, dict[str, Any]]:
    """Answer one JSON 1.1 request; returns (HTTP status, JSON body)."""
    operation = target[len(TARGET_PREFIX):]
    handler = OPERATIONS.get(operation)
    if handler is None:
        return 400, {"__type": "UnknownOperationException", "message": f"{operation} is not supported by the emulator"}
    try:
        body = json.loads(raw_body or b"{}")
        if not isinstance(body, dict):
            raise PricingError("InvalidParameterException", "request body must be a JSON object")
        return 200, handler(body)
    except json.JSONDecodeError as err:
        return 400, {"__type": "SerializationException", "message": str(err)}
    except PricingError as err:
        return err.status, {"__type": err.code, "message": err.message}
