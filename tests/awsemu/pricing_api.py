"""The AWS Price List Query API (service "pricing"), GetProducts / DescribeServices / GetAttributeValues.

Why: moto has no pricing service at all, and controllers price on-demand capacity from it. We answer
AmazonEC2 Compute Instance products (Linux, Shared tenancy, capacitystatus Used, preInstalledSw NA)
for every instance type moto knows in every region moto has offerings for, priced by prices.py, with
PriceList entries shaped like AWS's (JSON strings with product.attributes and
terms.OnDemand.<sku>.<offer>.priceDimensions.<rate>.pricePerUnit.USD). Other operating systems,
tenancies and services are absent (an empty PriceList), not invented.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from . import catalog, prices

SERVICE_CODE = "AmazonEC2"
OFFER_TERM = "JRTCKXETXF"  # AWS's on-demand offer term code
RATE_CODE = "6YS6EN2CT7"  # AWS's hourly price dimension code
PUBLICATION_DATE = "2026-01-01T00:00:00Z"
DEFAULT_MAX_RESULTS = 100

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


def _sku(instance_type: str, region: str) -> str:
    return hashlib.sha256(f"{instance_type}|{region}|linux".encode()).hexdigest()[:16].upper()


def _attributes(instance_type: str, region: str, shape: prices.Shape) -> dict[str, str]:
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
        "tenancy": "Shared",
        "capacitystatus": "Used",
        "preInstalledSw": "NA",
        "licenseModel": "No License required",
        "operation": "RunInstances",
        "usagetype": f"BoxUsage:{instance_type}",
        "vcpu": str(shape.vcpus),
        "memory": f"{shape.memory_mib / 1024:g} GiB",
        "gpu": str(shape.accelerators),
        "processorArchitecture": "64-bit",
        "physicalProcessor": data.get("ProcessorInfo", {}).get("Manufacturer", ""),
        "currentGeneration": "Yes" if data.get("CurrentGeneration") else "No",
        "architecture": arch,
    }


def _product(instance_type: str, region: str, shape: prices.Shape) -> dict[str, Any]:
    sku = _sku(instance_type, region)
    price = prices.on_demand_price(shape)
    return {
        "product": {
            "productFamily": "Compute Instance",
            "attributes": _attributes(instance_type, region, shape),
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
                            f"{instance_type} Instance Hour",
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
def _products(region: str) -> tuple[tuple[dict[str, str], str], ...]:
    """(attributes incl. productFamily, PriceList JSON string) for every on-demand type in region."""
    types = sorted({t for t, _ in catalog.offerings(region)})
    out = []
    for t in types:
        shape = catalog.shape(t)
        if shape is None or not catalog.supports(t, "on-demand"):
            continue
        product = _product(t, region, shape)
        attrs = dict(product["product"]["attributes"])
        attrs["productFamily"] = product["product"]["productFamily"]
        out.append((attrs, json.dumps(product, separators=(",", ":"))))
    return tuple(out)


def _match(attrs: dict[str, str], filters: list[dict[str, Any]]) -> bool:
    lowered = {k.lower(): v for k, v in attrs.items()}
    for f in filters:
        ftype = f.get("Type", "TERM_MATCH")
        if ftype != "TERM_MATCH":
            raise PricingError("InvalidParameterException", f"Unsupported filter type {ftype}")
        field = str(f.get("Field", "")).lower()
        value = str(f.get("Value", ""))
        if lowered.get(field, None) is None or lowered[field].lower() != value.lower():
            return False
    return True


def get_products(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("ServiceCode") != SERVICE_CODE:
        return {"FormatVersion": "aws_v1", "PriceList": []}
    filters = body.get("Filters") or []
    # The price list spans all regions; narrow by location/regionCode when given, as most clients do.
    wanted_regions = [r for r in LOCATIONS if r in catalog.regions()]
    matching = []
    for region in wanted_regions:
        if not _region_may_match(region, filters):
            continue
        matching.extend(doc for attrs, doc in _products(region) if _match(attrs, filters))
    max_results = int(body.get("MaxResults") or DEFAULT_MAX_RESULTS)
    if not 1 <= max_results <= 100:
        raise PricingError("InvalidParameterException", "MaxResults must be between 1 and 100")
    token = body.get("NextToken")
    start = 0
    if token:
        if not str(token).isdigit():
            raise PricingError("InvalidNextTokenException", f"Invalid NextToken {token}")
        start = int(token)
    page = matching[start:start + max_results]
    result: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": page}
    if start + max_results < len(matching):
        result["NextToken"] = str(start + max_results)
    return result


def _region_may_match(region: str, filters: list[dict[str, Any]]) -> bool:
    for f in filters:
        field = str(f.get("Field", "")).lower()
        value = str(f.get("Value", "")).lower()
        if field == "location" and LOCATIONS[region].lower() != value:
            return False
        if field == "regioncode" and region != value:
            return False
    return True


def describe_services(body: dict[str, Any]) -> dict[str, Any]:
    code = body.get("ServiceCode")
    if code and code != SERVICE_CODE:
        return {"Services": [], "FormatVersion": "aws_v1"}
    names = sorted(_products("us-east-1")[0][0].keys()) if _products("us-east-1") else []
    return {
        "Services": [{"ServiceCode": SERVICE_CODE, "AttributeNames": names}],
        "FormatVersion": "aws_v1",
    }


def get_attribute_values(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("ServiceCode") != SERVICE_CODE:
        return {"AttributeValues": []}
    name = str(body.get("AttributeName", ""))
    values: set[str] = set()
    for region in LOCATIONS:
        if region not in catalog.regions():
            continue
        for attrs, _ in _products(region):
            if name in attrs:
                values.add(attrs[name])
    return {"AttributeValues": [{"Value": v} for v in sorted(values)]}


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
