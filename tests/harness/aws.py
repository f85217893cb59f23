"""The extended moto server (tests/awsemu) as a process of the environment, and what an
environment seeds into it."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import boto3
import requests

from awsemu.client import DEFAULT_REGION, Emulator

from . import cluster as cluster_mod
from . import hostnet

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
