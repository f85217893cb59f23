"""data "karpenter_instance_types" through real terraform/tofu: the answer is recomputed here
from the emulator's EC2 and Pricing APIs (boto3) and must match exactly."""

import json

from conftest import REGION

ZONE = f"{REGION}a"


def catalog(aws):
    ec2 = aws.client("ec2", REGION)
    types = []
    for page in ec2.get_paginator("describe_instance_types").paginate():
        types += page["InstanceTypes"]
    zones = {}
    for page in ec2.get_paginator("describe_instance_type_offerings").paginate(LocationType="availability-zone"):
        for o in page["InstanceTypeOfferings"]:
            zones.setdefault(o["InstanceType"], set()).add(o["Location"])
    return types, zones


def spot_price(aws, name, zone):
    h = aws.client("ec2", REGION).describe_spot_price_history(
        InstanceTypes=[name], AvailabilityZone=zone, ProductDescriptions=["Linux/UNIX"]
    )["SpotPriceHistory"]
    return min((float(x["SpotPrice"]) for x in h), default=None)


def on_demand_price(aws, name):
    """The lowest positive price of the products a plain Linux node is billed as."""
    f = [
        {"Type": "TERM_MATCH", "Field": k, "Value": v}
        for k, v in [("regionCode", REGION), ("instanceType", name), ("operatingSystem", "Linux"), ("tenancy", "Shared"),
                     ("capacitystatus", "Used"), ("preInstalledSw", "NA"), ("licenseModel", "No License required")]
    ]
    docs = aws.client("pricing", REGION).get_products(ServiceCode="AmazonEC2", Filters=f)["PriceList"]
    prices = [float(d["pricePerUnit"]["USD"]) for doc in map(json.loads, docs)
              for t in doc["terms"]["OnDemand"].values() for d in t["priceDimensions"].values()]
    return min(p for p in prices if p > 0)


def outputs(ws):
    return {k: v["value"] for k, v in json.loads(ws.run("output", "-json").stdout).items()}


def test_spot_selection_matches_the_catalog(ws, aws):
    ws.write(
        f"""
data "karpenter_instance_types" "x" {{
  vcpus             = 2
  cpu_architecture  = "x86_64"
  exclude_burstable = true
  capacity_type     = "spot"
  zones             = ["{ZONE}"]
  max_results       = 6
}}
output "names" {{ value = data.karpenter_instance_types.x.names }}
output "types" {{ value = data.karpenter_instance_types.x.instance_types }}
""",
        aws.endpoint,
    )
    ws.run("apply", "-auto-approve")
    got = outputs(ws)

    types, zones = catalog(aws)
    candidates = [
        t["InstanceType"]
        for t in types
        if t["VCpuInfo"]["DefaultVCpus"] == 2
        and "x86_64" in t["ProcessorInfo"]["SupportedArchitectures"]
        and not t.get("BurstablePerformanceSupported", False)
        and "spot" in t.get("SupportedUsageClasses", [])
        and ZONE in zones.get(t["InstanceType"], set())
    ]
    priced = sorted(
        ((spot_price(aws, n, ZONE), n) for n in candidates),
        key=lambda pn: (pn[0] is None, pn[0] if pn[0] is not None else 0, pn[1]),
    )
    assert len(candidates) > 6, "the emulator's catalog should offer more than six such types"
    assert got["names"] == [n for _, n in priced[:6]]

    for t in got["types"]:
        assert t["vcpus"] == 2 and t["architectures"] and "x86_64" in t["architectures"]
        assert t["zones"] == [ZONE]
        assert t["spot_price"] == spot_price(aws, t["name"], ZONE)
        assert t["on_demand_price"] == on_demand_price(aws, t["name"])
        assert t["spot_price"] < t["on_demand_price"]
    prices = [t["spot_price"] for t in got["types"]]
    assert prices == sorted(prices)


def test_on_demand_selection_with_a_price_ceiling(ws, aws):
    ws.write(
        """
data "karpenter_instance_types" "x" {
  min_vcpus          = 4
  max_vcpus          = 8
  min_memory_gib     = 16
  cpu_architecture   = "arm64"
  current_generation = true
  max_price_per_hour = 0.4
}
output "types" { value = data.karpenter_instance_types.x.instance_types }
""",
        aws.endpoint,
    )
    ws.run("apply", "-auto-approve")
    got = outputs(ws)["types"]
    assert got, "some Graviton types with 4-8 vCPUs and >= 16 GiB cost under $0.40/h"
    shapes = {t["InstanceType"]: t for t in catalog(aws)[0]}
    for t in got:
        s = shapes[t["name"]]
        assert 4 <= s["VCpuInfo"]["DefaultVCpus"] <= 8
        assert s["MemoryInfo"]["SizeInMiB"] >= 16 * 1024 and t["memory_mib"] == s["MemoryInfo"]["SizeInMiB"]
        assert "arm64" in s["ProcessorInfo"]["SupportedArchitectures"] and s["CurrentGeneration"]
        assert t["on_demand_price"] == on_demand_price(aws, t["name"]) <= 0.4
    prices = [t["on_demand_price"] for t in got]
    assert prices == sorted(prices)


def test_filter_errors_name_the_attribute(ws, aws):
    ws.write(
        """
data "karpenter_instance_types" "x" {
  min_vcpus        = 8
  max_vcpus        = 2
  capacity_type    = "reserved"
  cpu_architecture = "sparc"
}
""",
        aws.endpoint,
    )
    p = ws.run("plan", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "min_vcpus        = 8" in out and "is greater than `max_vcpus`" in out
    assert 'capacity_type    = "reserved"' in out and "Must be one of `spot`, `on-demand`" in out
    assert 'cpu_architecture = "sparc"' in out
