"""The extended moto server (tests/awsemu) as a process of the environment."""

from __future__ import annotations

import base64
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests

from . import cluster as cluster_mod
from . import hostnet, paths, procs

REGION = "ap-southeast-1"


@dataclass
class Aws:
    endpoint: str
    proc: procs.Proc

    @property
    def env(self) -> dict[str, str]:
        """What an AWS SDK (ours, boto3, the aws CLI) needs to talk to the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def reset(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()


def start(directory: Path) -> Aws:
    directory.mkdir(parents=True, exist_ok=True)
    port_file = directory / "awsemu.port"
    port_file.unlink(missing_ok=True)
    proc = procs.start(
        "awsemu",
        [sys.executable, "-m", "awsemu", "serve", "--host", hostnet.address(), "--port", "0",
         "--port-file", str(port_file)],
        directory,
        env={"PYTHONPATH": str(paths.REPO / "tests")},
    )

    def port() -> int | None:
        if not proc.alive():
            raise RuntimeError(f"awsemu exited:\n{proc.tail()}")
        text = port_file.read_text().strip() if port_file.exists() else ""
        return int(text) if text else None

    endpoint = f"http://{hostnet.address()}:{procs.wait_for('the AWS emulator port', port, 60)}"
    return Aws(endpoint, proc)


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
