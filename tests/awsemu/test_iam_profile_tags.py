"""Unit test of the ListInstanceProfileTags extension, through boto3 against moto in-process."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from awsemu.patches import iam_profile_tags


@pytest.fixture
def iam():
    iam_profile_tags.install()
    with mock_aws():
        yield boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_tags_from_create_tag_and_untag_are_listed_sorted_by_key(iam) -> None:
    iam.create_instance_profile(InstanceProfileName="p", Tags=[{"Key": "b", "Value": "2"}])
    iam.tag_instance_profile(InstanceProfileName="p", Tags=[{"Key": "a", "Value": "1"}, {"Key": "c", "Value": "3"}])
    iam.untag_instance_profile(InstanceProfileName="p", TagKeys=["c"])
    out = iam.list_instance_profile_tags(InstanceProfileName="p")
    assert out["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert out["IsTruncated"] is False and "Marker" not in out


def test_pages_with_marker(iam) -> None:
    iam.create_instance_profile(InstanceProfileName="p", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(3)])
    first = iam.list_instance_profile_tags(InstanceProfileName="p", MaxItems=2)
    assert [t["Key"] for t in first["Tags"]] == ["k0", "k1"] and first["IsTruncated"] is True
    rest = iam.list_instance_profile_tags(InstanceProfileName="p", Marker=first["Marker"])
    assert [t["Key"] for t in rest["Tags"]] == ["k2"] and rest["IsTruncated"] is False


def test_unknown_profile_is_no_such_entity(iam) -> None:
    with pytest.raises(ClientError) as err:
        iam.list_instance_profile_tags(InstanceProfileName="missing")
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"
