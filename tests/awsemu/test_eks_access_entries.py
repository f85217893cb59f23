"""Unit test of the EKS access-entry extension, through boto3 against moto in-process."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from awsemu.patches import eks_access_entries

ROLE = "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo"


@pytest.fixture
def eks():
    eks_access_entries.install()
    with mock_aws():
        client = boto3.client("eks", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        vpc = {"subnetIds": []}
        client.create_cluster(name="api", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig=vpc,
                              accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
        client.create_cluster(name="legacy", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig=vpc)
        yield client


def test_a_cluster_keeps_its_authentication_mode_and_defaults_to_config_map(eks) -> None:
    assert eks.describe_cluster(name="api")["cluster"]["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    assert eks.describe_cluster(name="legacy")["cluster"]["accessConfig"]["authenticationMode"] == "CONFIG_MAP"


def test_an_ec2_linux_entry_is_created_described_listed_and_deleted(eks) -> None:
    entry = eks.create_access_entry(clusterName="api", principalArn=ROLE, type="EC2_LINUX")["accessEntry"]
    assert (entry["type"], entry["username"]) == ("EC2_LINUX", "system:node:{{EC2PrivateDNSName}}")
    assert eks.describe_access_entry(clusterName="api", principalArn=ROLE)["accessEntry"]["principalArn"] == ROLE
    assert eks.list_access_entries(clusterName="api")["accessEntries"] == [ROLE]
    with pytest.raises(ClientError) as dup:
        eks.create_access_entry(clusterName="api", principalArn=ROLE, type="EC2_LINUX")
    assert dup.value.response["Error"]["Code"] == "ResourceInUseException"
    eks.delete_access_entry(clusterName="api", principalArn=ROLE)
    with pytest.raises(ClientError) as gone:
        eks.describe_access_entry(clusterName="api", principalArn=ROLE)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_an_unknown_cluster_is_not_found(eks) -> None:
    with pytest.raises(ClientError) as err:
        eks.create_access_entry(clusterName="nope", principalArn=ROLE, type="EC2_LINUX")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
