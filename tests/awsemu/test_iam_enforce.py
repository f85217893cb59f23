"""IAM enforcement in the emulator, through boto3 against the emulator process, with the controller
policy the provider installs (printed by `terraform-provider-karpenter controller-policy`).

Every call below is signed by a role session from STS, as the in-cluster controller's are; the
harness's own calls are signed by keys IAM does not know (the account's root) and are not limited.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import requests
import pytest
from botocore.exceptions import ClientError

from harness import paths

CLUSTER = "iam-test"
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
CLUSTER_TAG = [{"Key": "karpenter.sh/cluster", "Value": CLUSTER}]


def provider_binary() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", paths.REPO / "target"))
    binary = target / "debug" / "terraform-provider-karpenter"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `cargo build -p terraform-provider-karpenter` first")
    return binary


def controller_policy(region: str, account: str, node_role_arn: str, queue_arn: str) -> dict:
    out = subprocess.run(
        [str(provider_binary()), "controller-policy", "--cluster", CLUSTER, "--region", region,
         "--account", account, "--node-role-arn", node_role_arn, "--queue-arn", queue_arn],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


class World:
    """Root-made resources and a controller session limited to the provider's policy."""

    def __init__(self, region: str, policy_edit=None):
        self.region = region
        root = {name: boto3.client(name, region_name=region) for name in ("iam", "sts", "sqs", "ec2")}
        self.root = root
        account = root["sts"].get_caller_identity()["Account"]
        node_role = root["iam"].create_role(RoleName=f"KarpenterNodeRole-{CLUSTER}",
                                            AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
        root["iam"].create_instance_profile(InstanceProfileName=f"KarpenterNode-{CLUSTER}")
        root["iam"].add_role_to_instance_profile(InstanceProfileName=f"KarpenterNode-{CLUSTER}",
                                                 RoleName=node_role["RoleName"])
        self.other_role = root["iam"].create_role(RoleName="SomeAdminRole",
                                                  AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
        root["iam"].create_instance_profile(InstanceProfileName="SomeAdmin")
        root["iam"].add_role_to_instance_profile(InstanceProfileName="SomeAdmin", RoleName="SomeAdminRole")
        self.queue_url = root["sqs"].create_queue(QueueName=f"Karpenter-{CLUSTER}")["QueueUrl"]
        self.other_queue_url = root["sqs"].create_queue(QueueName="someone-elses")["QueueUrl"]
        queue_arn = f"arn:aws:sqs:{region}:{account}:Karpenter-{CLUSTER}"
        policy = controller_policy(region, account, node_role["Arn"], queue_arn)
        if policy_edit is not None:
            policy = policy_edit(policy)
        controller_role = root["iam"].create_role(RoleName=f"KarpenterController-{CLUSTER}",
                                                  AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
        arn = root["iam"].create_policy(PolicyName=f"KarpenterController-{CLUSTER}",
                                        PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
        root["iam"].attach_role_policy(RoleName=controller_role["RoleName"], PolicyArn=arn)
        creds = root["sts"].assume_role(RoleArn=controller_role["Arn"], RoleSessionName="controller")["Credentials"]
        self.session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=region,
        )
        vpc = root["ec2"].create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        zone = root["ec2"].describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        self.subnet = root["ec2"].create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        self.image = root["ec2"].describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def client(self, name: str):
        return self.session.client(name)

    def launch_template(self, name: str, profile: str, tagged: bool = True) -> str:
        data = {"ImageId": self.image, "IamInstanceProfile": {"Name": profile}}
        if tagged:
            data["TagSpecifications"] = [{"ResourceType": "network-interface", "Tags": CLUSTER_TAG}]
        kwargs = {"TagSpecifications": [{"ResourceType": "launch-template", "Tags": CLUSTER_TAG}]} if tagged else {}
        return self.client("ec2").create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data,
                                                         **kwargs)["LaunchTemplate"]["LaunchTemplateName"]

    def create_fleet(self, template: str, tags: list[dict] = CLUSTER_TAG) -> dict:
        spec = [{"ResourceType": t, "Tags": tags} for t in ("instance", "volume", "fleet")] if tags else []
        return self.client("ec2").create_fleet(
            Type="instant",
            LaunchTemplateConfigs=[{
                "LaunchTemplateSpecification": {"LaunchTemplateName": template, "Version": "$Latest"},
                "Overrides": [{"InstanceType": "m5.large", "SubnetId": self.subnet}],
            }],
            TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
            TagSpecifications=spec,
        )


def refused(call, code: str) -> str:
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == code, err.value.response
    return err.value.response["Error"]["Message"]


@pytest.fixture
def world(aws):
    return World(aws.region)


def test_the_controller_policy_allows_what_the_controller_does(world) -> None:
    ec2 = world.client("ec2")
    for describe in (ec2.describe_instances, ec2.describe_subnets, ec2.describe_security_groups,
                     ec2.describe_instance_types, ec2.describe_launch_templates):
        describe()
    ec2.describe_spot_price_history(MaxResults=5)
    template = world.launch_template("karpenter-rs/iam-test/a", f"KarpenterNode-{CLUSTER}")
    fleet = world.create_fleet(template)
    instance = fleet["Instances"][0]["InstanceIds"][0]
    ec2.terminate_instances(InstanceIds=[instance])
    ec2.delete_launch_template(LaunchTemplateName=template)
    sqs = world.client("sqs")
    assert sqs.get_queue_url(QueueName=f"Karpenter-{CLUSTER}")["QueueUrl"] == world.queue_url
    world.root["sqs"].send_message(QueueUrl=world.queue_url, MessageBody="{}")
    messages = sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=1).get("Messages", [])
    assert messages
    sqs.delete_message_batch(QueueUrl=world.queue_url, Entries=[
        {"Id": "0", "ReceiptHandle": messages[0]["ReceiptHandle"]}])
    world.client("ssm").get_parameter(Name="/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id")
    world.client("pricing").get_products(ServiceCode="AmazonEC2", MaxResults=1)


def test_resources_without_the_cluster_tag_are_refused_and_the_refusal_names_them(world) -> None:
    ec2 = world.client("ec2")
    # The harness (root) launches an instance the controller does not own.
    foreign = world.root["ec2"].run_instances(ImageId=world.image, MinCount=1, MaxCount=1,
                                              InstanceType="m5.large")["Instances"][0]["InstanceId"]
    message = refused(lambda: ec2.terminate_instances(InstanceIds=[foreign]), "UnauthorizedOperation")
    assert f"instance/{foreign}" in message and "ec2:TerminateInstances" in message
    assert "assumed-role/KarpenterController-iam-test/controller" in message
    # An untagged launch template cannot be created, nor an untagged fleet launched.
    refused(lambda: world.launch_template("untagged", f"KarpenterNode-{CLUSTER}", tagged=False),
            "UnauthorizedOperation")
    template = world.launch_template("karpenter-rs/iam-test/b", f"KarpenterNode-{CLUSTER}")
    message = refused(lambda: world.create_fleet(template, tags=[]), "UnauthorizedOperation")
    assert "fleet/*" in message or "instance/*" in message
    # Another team's instance profile may not be passed.
    other = world.launch_template("karpenter-rs/iam-test/c", "SomeAdmin")
    message = refused(lambda: world.create_fleet(other), "UnauthorizedOperation")
    assert "iam:PassRole" in message and world.other_role["Arn"] in message
    assert world.root["ec2"].describe_instances(Filters=[
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"][0]["Instances"][0]["InstanceId"] == foreign


def test_other_queues_regions_and_services_are_refused(world, aws) -> None:
    # SQS speaks JSON (as the Rust SDK does): AccessDeniedException; query services: AccessDenied.
    message = refused(lambda: world.client("sqs").receive_message(QueueUrl=world.other_queue_url),
                      "AccessDeniedException")
    assert "sqs:ReceiveMessage" in message and "someone-elses" in message
    elsewhere = world.session.client("ec2", region_name="eu-west-1")
    refused(elsewhere.describe_instances, "UnauthorizedOperation")
    refused(lambda: world.client("iam").create_user(UserName="mallory"), "AccessDenied")
    refused(lambda: world.client("ssm").get_parameter(Name="/team/secret"), "AccessDeniedException")


def test_an_explicit_deny_wins_over_an_allow(aws) -> None:
    def deny_terminate(policy: dict) -> dict:
        policy["Statement"].append({"Effect": "Deny", "Action": "ec2:TerminateInstances", "Resource": "*"})
        return policy

    world = World(aws.region, deny_terminate)
    template = world.launch_template("karpenter-rs/iam-test/d", f"KarpenterNode-{CLUSTER}")
    instance = world.create_fleet(template)["Instances"][0]["InstanceIds"][0]
    message = refused(lambda: world.client("ec2").terminate_instances(InstanceIds=[instance]),
                      "UnauthorizedOperation")
    assert "explicit deny" in message


def test_a_request_with_a_wrong_signature_is_refused(world) -> None:
    creds = world.session.get_credentials()
    forged = boto3.client("ec2", region_name=world.region, aws_access_key_id=creds.access_key,
                          aws_secret_access_key="not-the-secret", aws_session_token=creds.token)
    refused(forged.describe_instances, "AuthFailure")


def test_a_rest_service_is_authorised_by_its_resource(world) -> None:
    """EKS speaks REST (GET /clusters/NAME): its signature covers an empty payload, and the check
    is on the cluster's ARN, so the policy's DescribeCluster of its own cluster passes and another
    cluster is refused."""
    world.root["eks"] = boto3.client("eks", region_name=world.region)
    world.root["eks"].create_cluster(name=CLUSTER, roleArn=world.other_role["Arn"], resourcesVpcConfig={})
    world.root["eks"].create_cluster(name="other", roleArn=world.other_role["Arn"], resourcesVpcConfig={})
    eks = world.client("eks")
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["name"] == CLUSTER
    message = refused(lambda: eks.describe_cluster(name="other"), "AccessDeniedException")
    assert "cluster/other" in message, message


def test_the_pricing_api_is_authorised_and_every_decision_is_in_the_audit(aws) -> None:
    def without_pricing(policy: dict) -> dict:
        policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "ReadPrices"]
        return policy

    world = World(aws.region, without_pricing)
    requests.delete(f"{aws.endpoint}/_awsemu/iam-audit", timeout=10).raise_for_status()
    message = refused(lambda: world.client("pricing").get_products(ServiceCode="AmazonEC2", MaxResults=1),
                      "AccessDeniedException")
    assert "pricing:GetProducts" in message
    world.client("ec2").describe_subnets()
    audit = requests.get(f"{aws.endpoint}/_awsemu/iam-audit",
                         params={"principal": f"assumed-role/KarpenterController-{CLUSTER}/"}, timeout=10).json()
    decided = {(c["action"], c["decision"]) for c in audit["checks"]}
    assert decided == {("pricing:GetProducts", "implicit-deny"), ("ec2:DescribeSubnets", "allow")}, decided
    # The harness's root calls are not principals' and are not recorded.
    assert all("KarpenterController" in c["principal"] for c in
               requests.get(f"{aws.endpoint}/_awsemu/iam-audit", timeout=10).json()["checks"])
