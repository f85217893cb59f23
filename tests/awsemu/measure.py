"""Measure the emulator: process start to ready, reset, and CreateFleet latency (median of N).

    PYTHONPATH=tests .venv/bin/python -m awsemu.measure [N]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import boto3

from .client import Emulator


def main(n: int = 20) -> None:
    emulator = Emulator.start()
    try:
        os.environ.update(emulator.env())
        print(f"start to ready: {emulator.started_in_s:.2f}s")
        resets = []
        for _ in range(n):
            began = time.monotonic()
            emulator.reset()
            resets.append(time.monotonic() - began)
        print(f"reset: median {statistics.median(resets) * 1000:.0f} ms, max {max(resets) * 1000:.0f} ms")
        ec2 = boto3.client("ec2")
        iam = boto3.client("iam")
        rebuilds = []
        for _ in range(max(n // 4, 3)):
            began = time.monotonic()
            emulator.reset()
            ec2.describe_vpcs()
            iam.list_roles()
            rebuilds.append(time.monotonic() - began)
        print(f"reset + first EC2 and IAM calls (backends rebuilt): median "
              f"{statistics.median(rebuilds) * 1000:.0f} ms")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        zones = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
                   for i, z in enumerate(zones)]
        ami = boto3.client("ssm").get_parameter(
            Name="/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id"
        )["Parameter"]["Value"]
        lt = ec2.create_launch_template(LaunchTemplateName="measure", LaunchTemplateData={"ImageId": ami})[
            "LaunchTemplate"]["LaunchTemplateId"]
        types = ["m5.large", "m5.xlarge", "c5.large", "c5.xlarge", "r5.large", "m6i.large", "c6i.large",
                 "m6a.large", "c6a.large", "r6i.large", "t3.large", "t3a.large", "m7i.large", "c7i.large",
                 "r7i.large", "m5a.large", "c5a.large", "r5a.large", "m6g.large", "c6g.large"]
        overrides = [{"InstanceType": t, "SubnetId": s} for t in types for s in subnets]
        emulator.add_fault("InsufficientInstanceCapacity", capacity_type="spot", instance_type="m6g.large")
        latencies = []
        for _ in range(n):
            began = time.monotonic()
            ec2.create_fleet(
                Type="instant",
                TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "spot"},
                SpotOptions={"AllocationStrategy": "price-capacity-optimized"},
                LaunchTemplateConfigs=[{"LaunchTemplateSpecification": {"LaunchTemplateId": lt, "Version": "$Latest"},
                                        "Overrides": overrides}],
            )
            latencies.append(time.monotonic() - began)
        print(f"CreateFleet ({len(overrides)} overrides, spot, 1 instance): median "
              f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    finally:
        emulator.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
