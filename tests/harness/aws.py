"""The extended moto server (tests/awsemu) as a process of the environment, and what an
environment seeds into it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Callable

import boto3
import requests

from awsemu.client import DEFAULT_REGION, Emulator

from . import cluster as cluster_mod
from . import hostnet, paths

REGION = DEFAULT_REGION


def start(directory: Path) -> Emulator:
    """The emulator of a local environment, on the host address, outliving this process."""
    return Emulator.start(host=hostnet.address(), directory=directory)


def make_network(cluster: str, zones: tuple[str, ...], region: str | None = None) -> dict[str, str]:
    """What an EKS cluster's VPC has: one subnet per zone and a node security group, all tagged
    `karpenter.sh/discovery=<cluster>` for the Provisioner's selectors. Returns zone -> subnet id."""
    ec2 = boto3.client("ec2", region_name=region)
    tags = [{"Key": "karpenter.sh/discovery", "Value": cluster}]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = {}
    for i, zone in enumerate(zones):
        subnets[zone] = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i * 16}.0/20", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[subnets[zone]], Tags=tags)
    sg = ec2.create_security_group(GroupName=f"{cluster}-nodes", Description="nodes", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[sg], Tags=tags)
    return subnets


def register_eks_cluster(name: str, kube, region: str | None = None) -> None:
    """Make EKS DescribeCluster of `name` answer with the local control plane's coordinates (its
    API server URL, CA bundle and Service CIDR), so the controller discovers them as on EKS."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    body = {
        "region": region or os.environ.get("AWS_REGION") or boto3.session.Session().region_name,
        "endpoint": kube.server,
        "certificateAuthority": base64.b64encode(kube.pki.ca.read_bytes()).decode(),
        "serviceIpv4Cidr": cluster_mod.SERVICE_CIDR,
    }
    response = requests.put(f"{endpoint}/_awsemu/eks-clusters/{name}", json=body, timeout=30)
    response.raise_for_status()


def controller_role_env(cluster: str, region: str, queue: str | None = None,
                        policy_edit: Callable[[dict], dict] | None = None) -> dict[str, str]:
    """Credentials for a host-process controller that hold exactly what the in-cluster one holds:
    a session of role KarpenterController-<cluster> whose only policy is the one the provider
    installs (`terraform-provider-karpenter controller-policy`), for the node role
    KarpenterNodeRole-<cluster> (its instance profile KarpenterNodeInstanceProfile-<cluster>) and
    the interruption queue. The emulator authorises every call the session signs against that
    policy (awsemu/patches/iam_enforce.py), so a scenario the controller passes this way needs no
    permission the provider does not grant. `policy_edit` changes the document first (tests that
    remove a permission). Called again, it replaces the policy and starts a new session."""
    iam = boto3.client("iam", region_name=region)
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    node_role = f"KarpenterNodeRole-{cluster}"
    profile = f"KarpenterNodeInstanceProfile-{cluster}"
    controller_role = f"KarpenterController-{cluster}"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    existing = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    for role in (node_role, controller_role):
        if role not in existing:
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    if profile not in {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}:
        iam.create_instance_profile(InstanceProfileName=profile)
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=node_role)
    # The controller's interruption_queue setting: a URL or a name.
    queue = queue.rstrip("/").rsplit("/", 1)[-1] if queue else f"Karpenter-{cluster}"
    policy = json.loads(subprocess.run(
        [str(paths.cargo_binary("terraform-provider-karpenter")), "controller-policy", "--cluster", cluster,
         "--region", region, "--account", account,
         "--node-role-arn", f"arn:aws:iam::{account}:role/{node_role}",
         "--queue-arn", f"arn:aws:sqs:{region}:{account}:{queue}"],
        check=True, capture_output=True, text=True).stdout)
    if policy_edit is not None:
        policy = policy_edit(policy)
    iam.put_role_policy(RoleName=controller_role, PolicyName="controller", PolicyDocument=json.dumps(policy))
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{controller_role}", RoleSessionName="controller")["Credentials"]
    return {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"]}


def controller_refusals(cluster: str) -> list[dict]:
    """What the emulator refused the controller's role session (controller_role_env) so far."""
    return [c for c in iam_audit(f"assumed-role/KarpenterController-{cluster}/") if c["decision"] != "allow"]


def iam_audit(principal_contains: str) -> list[dict]:
    """Every authorisation the emulator decided for principals whose ARN contains the string."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    response = requests.get(f"{endpoint}/_awsemu/iam-audit", params={"principal": principal_contains}, timeout=30)
    response.raise_for_status()
    return response.json()["checks"]
