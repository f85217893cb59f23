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
