"""Smoke tests of the AWS emulator: a real moto server process with our extensions, driven by boto3.

Each test gets a freshly reset emulator (fixture `aws`) and talks to it only through AWS APIs and
our /_awsemu control endpoint, exactly as the controller and the provider will.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from awsemu.client import Emulator

# A hung emulator must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(180)

REGION = "ap-southeast-1"
ZONES = ("ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c")
EVENTS_DIR = Path(__file__).resolve().parents[1] / "data" / "events"
MANAGED_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
)
AL2023_X86 = "/aws/service/eks/optimized-ami/{v}/amazon-linux-2023/x86_64/standard/recommended/image_id"


@dataclass
class Network:
    subnets: dict[str, str]  # zone -> subnet id
    security_group: str
    profile_arn: str
    launch_template_id: str
    image_id: str


def ec2():
    return boto3.client("ec2", region_name=REGION)


def make_network(name: str = "nodes") -> Network:
    """VPC, one subnet per zone, a security group, an instance profile and a launch template."""
    client = ec2()
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        zone: client.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate(ZONES)
    }
    sg = client.create_security_group(GroupName=f"{name}-sg", Description="nodes", VpcId=vpc)["GroupId"]
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }))
    profile = iam.create_instance_profile(InstanceProfileName=f"{name}-profile")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=f"{name}-profile", RoleName=f"{name}-role")
    image = boto3.client("ssm", region_name=REGION).get_parameter(Name=AL2023_X86.format(v="1.35"))[
        "Parameter"]["Value"]
    lt = client.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={
            "ImageId": image,
            "SecurityGroupIds": [sg],
            "IamInstanceProfile": {"Arn": profile["Arn"]},
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2,
                                "HttpEndpoint": "enabled"},
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": [{"Key": "karpenter.sh/provisioner-name", "Value": "default"}]}],
        },
    )["LaunchTemplate"]["LaunchTemplateId"]
    return Network(subnets, sg, profile["Arn"], lt, image)


def spot_prices(types: list[str]) -> dict[tuple[str, str], float]:
    pages = ec2().get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=types, ProductDescriptions=["Linux/UNIX"]
    )
    return {
        (p["InstanceType"], p["AvailabilityZone"]): float(p["SpotPrice"])
        for page in pages for p in page["SpotPriceHistory"]
    }


def on_demand_price(instance_type: str) -> float:
    pricing = boto3.client("pricing", region_name="us-east-1")
    products = pricing.get_products(
        ServiceCode="AmazonEC2",
        Filters=[
            {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type},
            {"Type": "TERM_MATCH", "Field": "location", "Value": "Asia Pacific (Singapore)"},
            {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
            {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
            {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
            {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
        ],
    )["PriceList"]
    assert len(products) == 1, products
    doc = json.loads(products[0])
    assert doc["product"]["attributes"]["instanceType"] == instance_type
    (term,) = doc["terms"]["OnDemand"].values()
    (dimension,) = term["priceDimensions"].values()
    return float(dimension["pricePerUnit"]["USD"])


def fleet(net: Network, types: list[str], capacity_type: str = "spot", count: int = 1,
          strategy: str | None = None, zones: tuple[str, ...] = ZONES, overrides_extra=None,
          tags: dict[str, str] | None = None) -> dict:
    overrides = [
        {"InstanceType": t, "SubnetId": net.subnets[z], **((overrides_extra or {}).get(t, {}))}
        for t in types for z in zones
    ]
    request = {
        "Type": "instant",
        "TargetCapacitySpecification": {"TotalTargetCapacity": count,
                                        "DefaultTargetCapacityType": capacity_type},
        "LaunchTemplateConfigs": [{
            "LaunchTemplateSpecification": {"LaunchTemplateId": net.launch_template_id, "Version": "$Latest"},
            "Overrides": overrides,
        }],
    }
    if capacity_type == "spot":
        request["SpotOptions"] = {"AllocationStrategy": strategy or "price-capacity-optimized"}
    else:
        request["OnDemandOptions"] = {"AllocationStrategy": strategy or "lowest-price"}
    if tags:
        request["TagSpecifications"] = [{"ResourceType": "instance",
                                         "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return ec2().create_fleet(**request)


def launched(response: dict) -> list[dict]:
    ids = [i for group in response.get("Instances", []) for i in group["InstanceIds"]]
    if not ids:
        return []
    reservations = ec2().describe_instances(InstanceIds=ids)["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def pool_of(error_or_instance: dict) -> tuple[str, str]:
    o = error_or_instance["LaunchTemplateAndOverrides"]["Overrides"]
    return o["InstanceType"], o["AvailabilityZone"]


TYPES = ["m5.large", "c5.large", "r5.large"]


def test_cheapest_spot_pool_is_launched_without_faults(aws: Emulator) -> None:
    net = make_network()
    prices = spot_prices(TYPES)
    cheapest = min(prices, key=prices.get)
    response = fleet(net, TYPES)
    assert response["Errors"] == []
    (instance,) = launched(response)
    assert (instance["InstanceType"], instance["Placement"]["AvailabilityZone"]) == cheapest
    assert instance["InstanceLifecycle"] == "spot"


def test_insufficient_capacity_on_cheapest_spot_pool_launches_next_cheapest(aws: Emulator) -> None:
    net = make_network()
    prices = spot_prices(TYPES)
    ranked = sorted(prices, key=prices.get)
    cheapest, runner_up = ranked[0], ranked[1]
    aws.add_fault("InsufficientInstanceCapacity", instance_type=cheapest[0], zone=cheapest[1],
                  capacity_type="spot")

    response = fleet(net, TYPES)

    (error,) = response["Errors"]
    assert error["ErrorCode"] == "InsufficientInstanceCapacity"
    assert error["Lifecycle"] == "spot"
    assert pool_of(error) == cheapest
    assert error["LaunchTemplateAndOverrides"]["Overrides"]["SubnetId"] == net.subnets[cheapest[1]]
    assert cheapest[0] in error["ErrorMessage"]
    (instance,) = launched(response)
    assert (instance["InstanceType"], instance["Placement"]["AvailabilityZone"]) == runner_up
    assert instance["SubnetId"] == net.subnets[runner_up[1]]


def test_all_spot_pools_faulted_launches_no_spot_and_on_demand_still_works(aws: Emulator) -> None:
    net = make_network()
    aws.add_fault("InsufficientInstanceCapacity", capacity_type="spot")

    spot = fleet(net, TYPES)
    assert spot.get("Instances", []) == []
    assert len(spot["Errors"]) == len(TYPES) * len(ZONES)
    assert {e["ErrorCode"] for e in spot["Errors"]} == {"InsufficientInstanceCapacity"}
    assert ec2().describe_instances()["Reservations"] == []

    on_demand = fleet(net, TYPES, capacity_type="on-demand")
    assert on_demand["Errors"] == []
    (instance,) = launched(on_demand)
    assert "InstanceLifecycle" not in instance
    cheapest_type = min(TYPES, key=on_demand_price)
    assert instance["InstanceType"] == cheapest_type


def test_max_spot_instance_count_exceeded_is_returned_with_its_code(aws: Emulator) -> None:
    net = make_network()
    aws.add_fault("MaxSpotInstanceCountExceeded", capacity_type="spot")
    response = fleet(net, ["m5.large"])
    assert response.get("Instances", []) == []
    assert {e["ErrorCode"] for e in response["Errors"]} == {"MaxSpotInstanceCountExceeded"}
    assert all(e["ErrorMessage"] for e in response["Errors"])


def test_fault_with_times_fails_once_then_recovers(aws: Emulator) -> None:
    net = make_network()
    aws.add_fault("UnfulfillableCapacity", instance_type="m5.large", zone=ZONES[0],
                  capacity_type="on-demand", times=1)
    first = fleet(net, ["m5.large"], capacity_type="on-demand", zones=(ZONES[0],))
    assert [e["ErrorCode"] for e in first["Errors"]] == ["UnfulfillableCapacity"]
    assert launched(first) == []
    assert aws.faults() == []
    second = fleet(net, ["m5.large"], capacity_type="on-demand", zones=(ZONES[0],))
    assert second["Errors"] == [] and len(launched(second)) == 1


def test_unknown_instance_type_is_rejected_naming_it(aws: Emulator) -> None:
    net = make_network()
    with pytest.raises(ClientError) as err:
        fleet(net, ["m5.large", "m99.superlarge"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "m99.superlarge" in err.value.response["Error"]["Message"]
    assert ec2().describe_instances()["Reservations"] == []


def test_type_not_offered_in_zone_is_an_error_and_another_pool_is_used(aws: Emulator) -> None:
    client = ec2()
    offerings = client.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": ["m5zn.large", "r6a.large", "c5ad.large"]}],
    )["InstanceTypeOfferings"]
    zones_by_type: dict[str, set[str]] = {}
    for o in offerings:
        zones_by_type.setdefault(o["InstanceType"], set()).add(o["Location"])
    partial = next(t for t, zs in sorted(zones_by_type.items()) if 0 < len(zs) < len(ZONES))
    missing_zone = next(z for z in ZONES if z not in zones_by_type[partial])
    net = make_network()
    # Make the unoffered pool the only one tried first: one override, then a fallback type.
    response = client.create_fleet(
        Type="instant",
        TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
        OnDemandOptions={"AllocationStrategy": "prioritized"},
        LaunchTemplateConfigs=[{
            "LaunchTemplateSpecification": {"LaunchTemplateId": net.launch_template_id, "Version": "$Latest"},
            "Overrides": [
                {"InstanceType": partial, "SubnetId": net.subnets[missing_zone], "Priority": 0},
                {"InstanceType": "m5.large", "SubnetId": net.subnets[missing_zone], "Priority": 1},
            ],
        }],
    )
    (error,) = response["Errors"]
    assert error["ErrorCode"] == "Unsupported"
    assert pool_of(error) == (partial, missing_zone)
    (instance,) = launched(response)
    assert instance["InstanceType"] == "m5.large"


def test_on_demand_prioritized_follows_priority_not_price(aws: Emulator) -> None:
    net = make_network()
    dearest = max(TYPES, key=on_demand_price)
    extra = {t: {"Priority": (0.0 if t == dearest else 5.0)} for t in TYPES}
    response = fleet(net, TYPES, capacity_type="on-demand", strategy="prioritized",
                     zones=(ZONES[1],), overrides_extra=extra)
    (instance,) = launched(response)
    assert instance["InstanceType"] == dearest


def test_launch_template_fields_and_fleet_tags_are_applied(aws: Emulator) -> None:
    net = make_network()
    response = fleet(net, ["m5.large"], count=2, zones=(ZONES[2],), tags={"team": "infra"})
    instances = launched(response)
    assert len(instances) == 2
    for instance in instances:
        assert instance["IamInstanceProfile"]["Arn"] == net.profile_arn
        assert [g["GroupId"] for g in instance["SecurityGroups"]] == [net.security_group]
        assert instance["MetadataOptions"]["HttpTokens"] == "required"
        assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["karpenter.sh/provisioner-name"] == "default"
        assert tags["team"] == "infra"
        assert tags["aws:ec2:fleet-id"] == response["FleetId"]
        assert instance["SubnetId"] == net.subnets[ZONES[2]]
        assert instance["Placement"]["AvailabilityZone"] == ZONES[2]
        assert instance["ImageId"] == net.image_id
        assert instance["InstanceLifecycle"] == "spot"
    fleets = ec2().describe_fleets(FleetIds=[response["FleetId"]])["Fleets"]
    assert fleets and fleets[0]["FleetId"] == response["FleetId"]


def test_architecture_mismatch_between_type_and_ami_is_a_pool_error(aws: Emulator) -> None:
    net = make_network()  # its AMI is the x86_64 AL2023 image
    extra = {"m6g.large": {"Priority": 0.0}, "m5.large": {"Priority": 1.0}}
    response = fleet(net, ["m6g.large", "m5.large"], capacity_type="on-demand", strategy="prioritized",
                     zones=(ZONES[0],), overrides_extra=extra)
    (error,) = response["Errors"]
    assert error["ErrorCode"] == "InvalidParameterValue"
    assert pool_of(error) == ("m6g.large", ZONES[0])
    assert "architecture" in error["ErrorMessage"]
    (instance,) = launched(response)
    assert instance["InstanceType"] == "m5.large"


def test_resolve_ssm_image_and_profile_by_name_in_launch_template(aws: Emulator) -> None:
    net = make_network()
    path = "/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/arm64/standard/recommended/image_id"
    ami = boto3.client("ssm", region_name=REGION).get_parameter(Name=path)["Parameter"]["Value"]
    lt = ec2().create_launch_template(LaunchTemplateName="arm-lt", LaunchTemplateData={
        "ImageId": f"resolve:ssm:{path}",
        "IamInstanceProfile": {"Name": "nodes-profile"},
        "SecurityGroupIds": [net.security_group],
    })["LaunchTemplate"]["LaunchTemplateId"]
    response = ec2().create_fleet(
        Type="instant",
        TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
        LaunchTemplateConfigs=[{
            "LaunchTemplateSpecification": {"LaunchTemplateId": lt, "Version": "$Default"},
            "Overrides": [{"InstanceType": "c6g.large", "SubnetId": net.subnets[ZONES[1]]}],
        }],
    )
    assert response["Errors"] == []
    (instance,) = launched(response)
    assert instance["ImageId"] == ami
    assert instance["Architecture"] == "arm64"
    assert instance["IamInstanceProfile"]["Arn"] == net.profile_arn


def test_unknown_instance_profile_is_rejected(aws: Emulator) -> None:
    net = make_network()
    lt = ec2().create_launch_template(LaunchTemplateName="bad-profile", LaunchTemplateData={
        "ImageId": net.image_id, "IamInstanceProfile": {"Name": "missing-profile"},
    })["LaunchTemplate"]["LaunchTemplateId"]
    with pytest.raises(ClientError) as err:
        ec2().create_fleet(
            Type="instant",
            TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
            LaunchTemplateConfigs=[{
                "LaunchTemplateSpecification": {"LaunchTemplateId": lt, "Version": "1"},
                "Overrides": [{"InstanceType": "m5.large", "SubnetId": net.subnets[ZONES[0]]}],
            }],
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "missing-profile" in err.value.response["Error"]["Message"]
    assert ec2().describe_instances()["Reservations"] == []


def test_delete_fleet_terminates_its_instances(aws: Emulator) -> None:
    net = make_network()
    response = fleet(net, ["m5.large"], capacity_type="on-demand", count=2)
    ids = [i["InstanceId"] for i in launched(response)]
    ec2().delete_fleets(FleetIds=[response["FleetId"]], TerminateInstances=True)
    states = {i["InstanceId"]: i["State"]["Name"] for i in launched(response)}
    assert set(states) == set(ids)
    assert set(states.values()) <= {"shutting-down", "terminated"}


def test_prices_are_deterministic_across_reset_and_spot_is_below_on_demand(aws: Emulator) -> None:
    types = ["m5.large", "c6g.xlarge", "r5.2xlarge", "t3.medium"]
    before = spot_prices(types)
    on_demand_before = {t: on_demand_price(t) for t in types}
    aws.reset()
    after = spot_prices(types)
    assert before == after
    assert {t: on_demand_price(t) for t in types} == on_demand_before
    assert len(before) == len(types) * len(ZONES)
    for (t, _zone), price in before.items():
        assert 0 < price < on_demand_before[t]


def test_spot_price_history_filters_by_zone_and_product(aws: Emulator) -> None:
    history = ec2().describe_spot_price_history(
        Filters=[{"Name": "availability-zone", "Values": [ZONES[0]]},
                 {"Name": "instance-type", "Values": ["m5.large"]},
                 {"Name": "product-description", "Values": ["Linux/UNIX (Amazon VPC)"]}],
    )["SpotPriceHistory"]
    assert [(h["InstanceType"], h["AvailabilityZone"], h["ProductDescription"]) for h in history] == [
        ("m5.large", ZONES[0], "Linux/UNIX (Amazon VPC)")
    ]


def test_spot_price_history_pages_through_every_offering_once(aws: Emulator) -> None:
    pages = ec2().get_paginator("describe_spot_price_history").paginate(
        PaginationConfig={"PageSize": 1000})
    keys = [(h["InstanceType"], h["AvailabilityZone"], h["ProductDescription"])
            for page in pages for h in page["SpotPriceHistory"]]
    assert len(keys) == len(set(keys)) > 2000
    offered = ec2().get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone")
    offerings = {(o["InstanceType"], o["Location"]) for page in offered for o in page["InstanceTypeOfferings"]}
    assert {(t, z) for t, z, _ in keys} <= offerings


def test_get_products_prices_m5_large(aws: Emulator) -> None:
    price = on_demand_price("m5.large")
    assert price == aws.prices("m5.large")["on_demand"]
    assert 0.01 < price < 1.0


def test_get_products_pages_through_every_instance_type(aws: Emulator) -> None:
    pricing = boto3.client("pricing", region_name="us-east-1")
    pages = pricing.get_paginator("get_products").paginate(
        ServiceCode="AmazonEC2",
        Filters=[{"Type": "TERM_MATCH", "Field": "regionCode", "Value": REGION}],
    )
    products = [json.loads(doc)["product"] for page in pages for doc in page["PriceList"]]
    skus = [p["sku"] for p in products]
    # metal types also have a Dedicated-tenancy product; every type has exactly one Shared one
    types = [p["attributes"]["instanceType"] for p in products if p["attributes"]["tenancy"] == "Shared"]
    assert len(skus) == len(set(skus))
    assert len(types) == len(set(types)) > 500
    assert "m5.large" in types and "c6g.large" in types and "m5.metal" in types


@pytest.mark.parametrize("version", ["1.28", "1.35"])
def test_ssm_eks_ami_parameters_resolve_to_known_images(aws: Emulator, version: str) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    paths = {
        AL2023_X86.format(v=version): "x86_64",
        f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/arm64/standard/recommended/image_id": "arm64",
        f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2/recommended/image_id": "x86_64",
        f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2-arm64/recommended/image_id": "arm64",
    }
    for path, arch in paths.items():
        ami = ssm.get_parameter(Name=path)["Parameter"]["Value"]
        (image,) = ec2().describe_images(ImageIds=[ami])["Images"]
        assert image["Architecture"] == arch, path
        assert version in image["Name"]


def test_ssm_parameters_survive_reset_and_launch_through_run_instances(aws: Emulator) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    aws.reset()
    ami = ssm.get_parameter(Name=AL2023_X86.format(v="1.35"))["Parameter"]["Value"]
    reservation = ec2().run_instances(ImageId=ami, InstanceType="m5.large", MinCount=1, MaxCount=1)
    assert reservation["Instances"][0]["ImageId"] == ami
    by_path = ssm.get_parameters_by_path(Path="/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/",
                                         Recursive=True)["Parameters"]
    assert any(p["Name"].endswith("/image_id") for p in by_path)


def test_aws_managed_policies_are_loaded(aws: Emulator) -> None:
    iam = boto3.client("iam", region_name=REGION)
    for name in MANAGED_POLICIES:
        policy = iam.get_policy(PolicyArn=f"arn:aws:iam::aws:policy/{name}")["Policy"]
        assert policy["PolicyName"] == name


def test_spot_interruption_warning_reaches_sqs_through_eventbridge_rule(aws: Emulator) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="interruption")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    pattern = {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}
    events.put_rule(Name="spot-interruption", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="spot-interruption", Targets=[{"Id": "queue", "Arn": queue_arn}])
    sample = json.loads((EVENTS_DIR / "spot-interruption-warning.json").read_text())

    result = events.put_events(Entries=[{
        "Source": sample["source"],
        "DetailType": sample["detail-type"],
        "Detail": json.dumps(sample["detail"]),
        "Resources": sample["resources"],
    }])
    assert result["FailedEntryCount"] == 0

    deadline = time.monotonic() + 20
    messages: list[dict] = []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2,
                                       MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1, "the event never reached the queue"
    body = json.loads(messages[0]["Body"])
    assert body["source"] == "aws.ec2"
    assert body["detail-type"] == "EC2 Spot Instance Interruption Warning"
    assert body["detail"] == sample["detail"]


def test_non_matching_event_does_not_reach_the_queue(aws: Emulator) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="interruption")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    events.put_rule(Name="spot", EventPattern=json.dumps(
        {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}))
    events.put_targets(Rule="spot", Targets=[{"Id": "queue", "Arn": queue_arn}])
    events.put_events(Entries=[{"Source": "aws.ec2", "DetailType": "EC2 Instance Rebalance Recommendation",
                                "Detail": json.dumps({"instance-id": "i-1"})}])
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []) == []


def test_reset_clears_faults_and_aws_state(aws: Emulator) -> None:
    aws.add_fault("InsufficientInstanceCapacity", capacity_type="spot")
    ec2().create_vpc(CidrBlock="10.9.0.0/16")
    vpcs_before = len(ec2().describe_vpcs()["Vpcs"])
    aws.reset()
    assert aws.faults() == []
    assert len(ec2().describe_vpcs()["Vpcs"]) == vpcs_before - 1


def test_control_endpoint_rejects_bad_fault_specs(aws: Emulator) -> None:
    bad = [{"instance_type": "m5.large"}, {"error_code": "X", "capacity_type": "reserved"},
           {"error_code": "X", "times": 0}, {"error_code": "X", "color": "red"}]
    for spec in bad:
        r = requests.post(f"{aws.endpoint}/_awsemu/faults", json=spec, timeout=10)
        assert r.status_code == 400, spec
        assert r.json()["error"]
    assert aws.faults() == []
    fault = aws.add_fault("VcpuLimitExceeded", capacity_type="on-demand")
    assert [f["id"] for f in aws.faults()] == [fault["id"]]
    aws.remove_fault(fault["id"])
    assert aws.faults() == []


def test_server_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    emulator = Emulator.start(log_path=tmp_path / "second.log")
    try:
        os.kill(emulator.process.pid, signal.SIGTERM)
        code = emulator.process.wait(timeout=15)
    finally:
        emulator.stop()
    assert code == 0
    assert "awsemu: stopped" in (tmp_path / "second.log").read_text()
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", emulator.port)) != 0, "something still listens on its port"


def test_server_stops_when_the_watched_process_dies(tmp_path: Path) -> None:
    """A SIGKILLed test runner must not leave the emulator running (--watch-pid)."""
    sleeper = subprocess.Popen(["sleep", "600"])
    port_file = tmp_path / "port"
    server = subprocess.Popen(
        [sys.executable, "-m", "awsemu", "serve", "--port", "0", "--port-file", str(port_file),
         "--quiet", "--no-warm", "--watch-pid", str(sleeper.pid)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.05)
        assert port_file.exists(), "emulator never became ready"
        sleeper.kill()
        sleeper.wait(timeout=10)
        assert server.wait(timeout=30) == 0
        assert not port_file.exists()
    finally:
        for process in (sleeper, server):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
