"""Measure the emulator: process start to ready, reset, CreateFleet latency (median of N), and SQS
ReceiveMessage / DeleteMessageBatch per call while a 1,000-message backlog drains (p50/p99).

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
        measure_sqs_backlog(boto3.client("sqs"))
    finally:
        emulator.stop()


def _percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure_sqs_backlog(sqs, backlog: int = 1000) -> None:
    url = sqs.create_queue(QueueName="measure-backlog")["QueueUrl"]
    for start in range(0, backlog, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"}
                                                      for i in range(10)])
    receives: list[float] = []
    deletes: list[float] = []
    while True:
        began = time.monotonic()
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages")
        receives.append(time.monotonic() - began)
        if not messages:
            break
        began = time.monotonic()
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(messages)])
        deletes.append(time.monotonic() - began)
    for name, samples in (("ReceiveMessage (10)", receives), ("DeleteMessageBatch (10)", deletes)):
        print(f"SQS {name}, {backlog}-message backlog draining: p50 {_percentile(samples, 50) * 1000:.1f} ms, "
              f"p99 {_percentile(samples, 99) * 1000:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
