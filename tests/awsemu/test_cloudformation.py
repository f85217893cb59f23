"""Unit tests of the CloudFormation extensions (rollback on a failed create, inline role policies
as JSON), through boto3 against moto in-process."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from awsemu.patches import cfn_inline_policies, cfn_rollback, cfn_sqs_update

TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
POLICY = {"Version": "2012-10-17", "Statement": [{"Sid": "Only", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
TEMPLATE = {
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q-demo"}},
        "Role": {
            "Type": "AWS::IAM::Role",
            "DependsOn": "Queue",
            "Properties": {"RoleName": "Role-demo", "AssumeRolePolicyDocument": TRUST,
                           "Policies": [{"PolicyName": "inline", "PolicyDocument": POLICY}]},
        },
    },
    "Outputs": {"RoleArn": {"Value": {"Fn::GetAtt": ["Role", "Arn"]}}},
}


@pytest.fixture
def aws():
    cfn_rollback.install()
    cfn_inline_policies.install()
    with mock_aws():
        kw = dict(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        yield {s: boto3.client(s, **kw) for s in ("cloudformation", "iam", "sqs")}


def test_inline_role_policies_come_back_as_json(aws) -> None:
    aws["cloudformation"].create_stack(StackName="s", TemplateBody=json.dumps(TEMPLATE), Capabilities=["CAPABILITY_NAMED_IAM"])
    doc = aws["iam"].get_role_policy(RoleName="Role-demo", PolicyName="inline")["PolicyDocument"]
    assert doc == POLICY  # boto3 parses JSON documents; a Python repr would stay a string


def test_a_failed_resource_rolls_the_stack_back(aws) -> None:
    cfn = aws["cloudformation"]
    aws["iam"].create_role(RoleName="Role-demo", AssumeRolePolicyDocument=json.dumps(TRUST))
    stack_id = cfn.create_stack(StackName="s", TemplateBody=json.dumps(TEMPLATE), Capabilities=["CAPABILITY_NAMED_IAM"])["StackId"]

    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    assert stack["StackId"] == stack_id and stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Outputs" not in stack or stack["Outputs"] == []
    events = cfn.describe_stack_events(StackName="s")["StackEvents"]
    (failed,) = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed["LogicalResourceId"] == "Role" and failed["ResourceType"] == "AWS::IAM::Role"
    assert "Role-demo" in failed["ResourceStatusReason"] and "EntityAlreadyExists" in failed["ResourceStatusReason"]
    assert aws["sqs"].list_queues().get("QueueUrls", []) == []  # the queue made before was rolled back

    cfn.delete_stack(StackName="s")
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    aws["iam"].get_role(RoleName="Role-demo")  # not the stack's: kept


def test_a_stack_update_changes_queue_attributes_in_place(aws) -> None:
    cfn_sqs_update.install()
    cfn, sqs = aws["cloudformation"], aws["sqs"]
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue",
                                        "Properties": {"QueueName": "q-demo", "MessageRetentionPeriod": 600}}}}
    cfn.create_stack(StackName="s", TemplateBody=json.dumps(template))
    url = sqs.get_queue_url(QueueName="q-demo")["QueueUrl"]
    template["Resources"]["Queue"]["Properties"].update(MessageRetentionPeriod=900, DelaySeconds=5)
    cfn.update_stack(StackName="s", TemplateBody=json.dumps(template))
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["MessageRetentionPeriod"], attrs["DelaySeconds"]) == ("900", "5")
    assert sqs.get_queue_url(QueueName="q-demo")["QueueUrl"] == url  # the same queue, not a new one
