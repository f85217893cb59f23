"""EC2 DryRun through the emulator process: DryRunOperation where moto alone would answer with data
or act, and IAM authorisation before it (patches/dry_run.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
# Karpenter's start-up check and its EC2NodeClass validation dry-run these (the launch template and
# subnet of the CreateFleet probe are placeholders that do not exist, as Karpenter's are).
PROBES = {
    "describe_instance_types": {},
    "describe_instances": {},
    "describe_images": {"Owners": ["amazon"]},
    "describe_subnets": {},
    "describe_security_groups": {},
    "describe_launch_templates": {},
    "create_fleet": {
        "Type": "instant",
        "TargetCapacitySpecification": {"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
        "LaunchTemplateConfigs": [{
            "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1234567890abcdef0", "Version": "1"},
            "Overrides": [{"InstanceType": "t3.micro", "SubnetId": "subnet-1234567890abcdef0"}],
        }],
    },
    "create_launch_template": {"LaunchTemplateName": "dry-run-probe", "LaunchTemplateData": {}},
    "terminate_instances": {"InstanceIds": ["i-1234567890abcdef0"]},
}


def dry_run_error(client, operation: str, **params) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        getattr(client, operation)(DryRun=True, **params)
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("operation", sorted(PROBES))
def test_a_dry_run_answers_dry_run_operation(aws, operation: str) -> None:
    ec2 = aws.client("ec2")
    assert dry_run_error(ec2, operation, **PROBES[operation]) == ("DryRunOperation", 412)


def test_a_dry_run_changes_nothing_and_without_the_flag_the_call_answers(aws) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    # moto's CreateSubnet ignores DryRun and would create the subnet
    assert dry_run_error(ec2, "create_subnet", VpcId=vpc, CidrBlock="10.9.1.0/24")[0] == "DryRunOperation"
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"] == []
    assert dry_run_error(ec2, "create_launch_template", **PROBES["create_launch_template"])[0] == "DryRunOperation"
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    types = ec2.describe_instance_types(InstanceTypes=["m5.large"], DryRun=False)["InstanceTypes"]
    assert [t["InstanceType"] for t in types] == ["m5.large"]


def session_with(aws, actions: list[str]) -> boto3.Session:
    iam, sts = aws.client("iam"), aws.client("sts")
    role = iam.create_role(RoleName="dry-run", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    iam.put_role_policy(RoleName="dry-run", PolicyName="ec2", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="dry-run")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=aws.region)


def test_a_principal_without_the_permission_is_refused_before_the_dry_run_answers(aws) -> None:
    ec2 = session_with(aws, ["ec2:DescribeInstances"]).client("ec2", endpoint_url=aws.endpoint)
    assert dry_run_error(ec2, "describe_instance_types") == ("UnauthorizedOperation", 403)
    assert dry_run_error(ec2, "create_fleet", **PROBES["create_fleet"]) == ("UnauthorizedOperation", 403)
    assert dry_run_error(ec2, "describe_instances") == ("DryRunOperation", 412)


def test_a_principal_with_the_permission_gets_dry_run_operation(aws) -> None:
    ec2 = session_with(aws, ["ec2:DescribeInstanceTypes"]).client("ec2", endpoint_url=aws.endpoint)
    assert dry_run_error(ec2, "describe_instance_types") == ("DryRunOperation", 412)
