"""Shared pieces of the bootstrap-resource tests: reading what AWS holds (through the emulator's
own clients, `aws.client(...)`, never through our provider)."""

import json
from urllib.parse import unquote

from conftest import REGION


def policy_doc(raw):
    """IAM returns documents URL-encoded (or as dicts from boto3's parser): always a dict."""
    if isinstance(raw, dict):
        return raw
    return json.loads(unquote(raw))


def attached(iam, role):
    return sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"])


def role_tags(iam, role):
    return {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role)["Tags"]}


def default_policy_doc(iam, arn):
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return policy_doc(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])


def statement(doc, sid):
    found = [s for s in doc["Statement"] if s.get("Sid") == sid]
    assert len(found) == 1, f"statement {sid} in {doc}"
    return found[0]


def ours(names, cluster="demo"):
    return sorted(n for n in names if cluster in n)


def leftovers(aws):
    """Every IAM, SQS, EventBridge and CloudFormation object of cluster `demo` still in the emulator."""
    iam = aws.client("iam", REGION)
    left = []
    left += ours(r["RoleName"] for r in iam.list_roles()["Roles"])
    left += ours(p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"])
    left += ours(p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"])
    left += ours(aws.client("sqs", REGION).list_queues().get("QueueUrls", []))
    left += ours(r["Name"] for r in aws.client("events", REGION).list_rules()["Rules"])
    left += ours(
        s["StackName"]
        for s in aws.client("cloudformation", REGION).list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    )
    return left
