"""Unit tests of the Pricing API answers and the EKS AMI seed (no server)."""

from __future__ import annotations

import json

from awsemu import catalog, eks_amis, prices, pricing_api

SINGAPORE = [{"Type": "TERM_MATCH", "Field": "location", "Value": "Asia Pacific (Singapore)"}]


def test_get_products_price_equals_the_formula() -> None:
    body = {"ServiceCode": "AmazonEC2",
            "Filters": SINGAPORE + [{"Type": "TERM_MATCH", "Field": "instanceType", "Value": "c6g.large"}]}
    (doc,) = pricing_api.get_products(body)["PriceList"]
    product = json.loads(doc)
    (term,) = product["terms"]["OnDemand"].values()
    (dim,) = term["priceDimensions"].values()
    shape = catalog.shape("c6g.large")
    assert shape is not None
    assert float(dim["pricePerUnit"]["USD"]) == prices.on_demand_price(shape)
    assert product["product"]["attributes"]["regionCode"] == "ap-southeast-1"


def test_get_products_pages_without_overlap() -> None:
    body: dict = {"ServiceCode": "AmazonEC2", "Filters": SINGAPORE, "MaxResults": 100}
    seen: list[str] = []
    while True:
        page = pricing_api.get_products(body)
        seen += [json.loads(d)["product"]["sku"] for d in page["PriceList"]]
        if "NextToken" not in page:
            break
        body["NextToken"] = page["NextToken"]
    assert len(seen) == len(set(seen)) > 500


def test_other_services_and_unknown_values_give_empty_lists() -> None:
    assert pricing_api.get_products({"ServiceCode": "AmazonRDS"})["PriceList"] == []
    body = {"ServiceCode": "AmazonEC2",
            "Filters": SINGAPORE + [{"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Windows"}]}
    assert pricing_api.get_products(body)["PriceList"] == []


def test_bad_requests_are_errors_not_crashes() -> None:
    status, body = pricing_api.handle("AWSPriceListService.GetProducts", b"not json")
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = pricing_api.handle("AWSPriceListService.GetProducts",
                                      json.dumps({"ServiceCode": "AmazonEC2", "MaxResults": 500}).encode())
    assert status == 400 and body["__type"] == "InvalidParameterException"
    status, body = pricing_api.handle("AWSPriceListService.ListPriceLists", b"{}")
    assert status == 400


def test_eks_ami_seed_covers_every_version_and_architecture_with_unique_ids() -> None:
    params = {}
    for image in eks_amis.ALL:
        params.update(image.parameters())
    for version in eks_amis.KUBERNETES_VERSIONS:
        for arch in ("x86_64", "arm64"):
            key = f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/{arch}/standard/recommended/image_id"
            assert params[key].startswith("ami-")
        assert f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2/recommended/image_id" in params
        assert f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2-arm64/recommended/image_id" in params
    ids = [image.ami_id for image in eks_amis.ALL]
    assert len(ids) == len(set(ids))
    assert eks_amis.KUBERNETES_VERSIONS[0] == "1.28" and eks_amis.KUBERNETES_VERSIONS[-1] == "1.35"


# The on-demand queries of Karpenter's pricing provider (v1.15): one for virtualised types, one for
# bare metal; it treats an empty answer to either as a failed price update.
KARPENTER_COMMON = [("regionCode", "ap-southeast-1"), ("serviceCode", "AmazonEC2"), ("preInstalledSw", "NA"),
                    ("operatingSystem", "Linux"), ("capacitystatus", "Used"), ("marketoption", "OnDemand")]
KARPENTER_VIRTUAL = KARPENTER_COMMON + [("tenancy", "Shared"), ("productFamily", "Compute Instance")]
KARPENTER_METAL = KARPENTER_COMMON + [("tenancy", "Dedicated"), ("productFamily", "Compute Instance (bare metal)")]


def term_filters(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in pairs]


def all_products(filters: list[dict[str, str]]) -> list[dict]:
    body: dict = {"ServiceCode": "AmazonEC2", "Filters": filters, "MaxResults": 100}
    out: list[dict] = []
    while True:
        page = pricing_api.get_products(body)
        out += [json.loads(d) for d in page["PriceList"]]
        if "NextToken" not in page:
            return out
        body["NextToken"] = page["NextToken"]


def types_of(products: list[dict]) -> list[str]:
    return [p["product"]["attributes"]["instanceType"] for p in products]


def test_karpenters_on_demand_queries_both_find_products() -> None:
    virtual = all_products(term_filters(KARPENTER_VIRTUAL))
    metal = all_products(term_filters(KARPENTER_METAL))
    assert len(virtual) > 500 and "m5.large" in types_of(virtual)
    assert not any(pricing_api.is_metal(t) for t in types_of(virtual))
    assert metal and all(pricing_api.is_metal(t) for t in types_of(metal))
    assert {"m5.metal", "m7i.metal-24xl"} <= set(types_of(metal))
    for product in virtual + metal:
        assert product["product"]["attributes"]["marketoption"] == "OnDemand"


def test_metal_types_are_bare_metal_products_in_shared_and_dedicated_tenancy_at_one_price() -> None:
    filters = term_filters([("regionCode", "ap-southeast-1"), ("instanceType", "m5.metal")])
    products = {p["product"]["attributes"]["tenancy"]: p for p in all_products(filters)}
    assert set(products) == {"Shared", "Dedicated"}
    assert {p["product"]["productFamily"] for p in products.values()} == {"Compute Instance (bare metal)"}
    assert products["Shared"]["product"]["sku"] != products["Dedicated"]["product"]["sku"]
    price = {t: next(iter(next(iter(p["terms"]["OnDemand"].values()))["priceDimensions"].values()))
             ["pricePerUnit"]["USD"] for t, p in products.items()}
    assert price["Shared"] == price["Dedicated"]
    assert pricing_api.is_metal("c7i.metal-48xl") and not pricing_api.is_metal("m5.large")
    assert not pricing_api.is_metal("metal.large")


def test_the_filters_karpenter_rs_sends_still_find_one_product_per_type_metal_included() -> None:
    pairs = [("regionCode", "ap-southeast-1"), ("operatingSystem", "Linux"), ("tenancy", "Shared"),
             ("capacitystatus", "Used"), ("preInstalledSw", "NA"), ("licenseModel", "No License required")]
    names = types_of(all_products(term_filters(pairs)))
    assert len(names) == len(set(names)) and "m5.metal" in names and "m5.large" in names


def test_every_filter_must_match_and_an_unknown_field_matches_nothing() -> None:
    assert all_products(term_filters(KARPENTER_VIRTUAL + [("noSuchAttribute", "x")])) == []
    assert all_products(term_filters(KARPENTER_VIRTUAL[:-1] + [("marketoption", "Reserved")])) == []
    assert all_products(term_filters(KARPENTER_VIRTUAL[:-1] + [("productFamily", "Dedicated Host")])) == []
    # field names are matched whatever their case, as clients spell them differently
    assert all_products(term_filters([("REGIONCODE", "ap-southeast-1"), ("MarketOption", "ondemand"),
                                      ("instancetype", "m5.large")]))


def test_equals_contains_any_of_and_none_of_filters() -> None:
    region = {"Type": "EQUALS", "Field": "regionCode", "Value": "ap-southeast-1"}
    assert types_of(all_products([region, {"Type": "EQUALS", "Field": "instanceType", "Value": "m5.large"}])) == ["m5.large"]
    assert all_products([region, {"Type": "EQUALS", "Field": "instanceType", "Value": "M5.LARGE"}]) == []
    any_of = {"Type": "ANY_OF", "Field": "instanceType", "Value": "m5.large, c5.large"}
    assert sorted(types_of(all_products([region, any_of]))) == ["c5.large", "m5.large"]
    none_of = {"Type": "NONE_OF", "Field": "regionCode", "Value": "ap-southeast-1"}
    others = all_products([none_of, {"Type": "EQUALS", "Field": "instanceType", "Value": "m5.large"}])
    assert others and "ap-southeast-1" not in {p["product"]["attributes"]["regionCode"] for p in others}
    contains = {"Type": "CONTAINS", "Field": "instanceType", "Value": ".metal-"}
    assert all(".metal-" in t for t in types_of(all_products([region, contains])))
    status, body = pricing_api.handle("AWSPriceListService.GetProducts", json.dumps(
        {"ServiceCode": "AmazonEC2", "Filters": [{"Type": "FUZZY", "Field": "x", "Value": "y"}]}).encode())
    assert status == 400 and body["__type"] == "InvalidParameterException"


def test_describe_services_and_attribute_values_agree_with_the_products() -> None:
    (service,) = pricing_api.describe_services({"ServiceCode": "AmazonEC2"})["Services"]
    names = service["AttributeNames"]
    assert {"marketoption", "productFamily", "tenancy", "regionCode", "instanceType"} <= set(names)

    def values(name: str) -> list[str]:
        return [v["Value"] for v in pricing_api.get_attribute_values(
            {"ServiceCode": "AmazonEC2", "AttributeName": name})["AttributeValues"]]

    assert values("productFamily") == ["Compute Instance", "Compute Instance (bare metal)"]
    assert values("tenancy") == ["Dedicated", "Shared"]
    assert values("marketoption") == ["OnDemand"]
    assert all(values(name) for name in names)
    first = pricing_api.get_attribute_values({"ServiceCode": "AmazonEC2", "AttributeName": "instanceType",
                                              "MaxResults": 2})
    assert len(first["AttributeValues"]) == 2 and first["NextToken"] == "2"


def test_eks_ami_seed_has_every_variant_karpenter_resolves() -> None:
    by_prefix = {image.parameter_prefix: image for image in eks_amis.ALL}
    for version in eks_amis.KUBERNETES_VERSIONS:
        base = f"/aws/service/eks/optimized-ami/{version}"
        wanted = {
            f"{base}/amazon-linux-2023/x86_64/standard/recommended": "x86_64",
            f"{base}/amazon-linux-2023/x86_64/nvidia/recommended": "x86_64",
            f"{base}/amazon-linux-2023/x86_64/neuron/recommended": "x86_64",
            f"{base}/amazon-linux-2023/arm64/standard/recommended": "arm64",
            f"{base}/amazon-linux-2023/arm64/nvidia/recommended": "arm64",
            f"{base}/amazon-linux-2/recommended": "x86_64",
            f"{base}/amazon-linux-2-gpu/recommended": "x86_64",
            f"{base}/amazon-linux-2-arm64/recommended": "arm64",
            f"/aws/service/bottlerocket/aws-k8s-{version}/x86_64/latest": "x86_64",
            f"/aws/service/bottlerocket/aws-k8s-{version}/arm64/latest": "arm64",
            f"/aws/service/bottlerocket/aws-k8s-{version}-nvidia/x86_64/latest": "x86_64",
            f"/aws/service/bottlerocket/aws-k8s-{version}-nvidia/arm64/latest": "arm64",
        }
        for prefix, arch in wanted.items():
            assert by_prefix[prefix].architecture == arch, prefix
        # AWS publishes no arm64 Neuron image
        assert f"{base}/amazon-linux-2023/arm64/neuron/recommended" not in by_prefix
