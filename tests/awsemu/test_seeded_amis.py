"""The AMI parameters Karpenter resolves, through the emulator process: each names an image that
DescribeImages knows, with the architecture the path promises (patches/seeds.py, eks_amis.py)."""

from __future__ import annotations

import pytest

VERSION = "1.35"
PATHS = {
    f"/aws/service/eks/optimized-ami/{VERSION}/amazon-linux-2023/x86_64/neuron/recommended/image_id": "x86_64",
    f"/aws/service/eks/optimized-ami/{VERSION}/amazon-linux-2023/x86_64/nvidia/recommended/image_id": "x86_64",
    f"/aws/service/eks/optimized-ami/{VERSION}/amazon-linux-2023/arm64/nvidia/recommended/image_id": "arm64",
    f"/aws/service/eks/optimized-ami/{VERSION}/amazon-linux-2-gpu/recommended/image_id": "x86_64",
    f"/aws/service/bottlerocket/aws-k8s-{VERSION}-nvidia/x86_64/latest/image_id": "x86_64",
    f"/aws/service/bottlerocket/aws-k8s-{VERSION}-nvidia/arm64/latest/image_id": "arm64",
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_each_parameter_names_a_known_image_of_its_architecture(aws, path: str) -> None:
    image_id = aws.client("ssm").get_parameter(Name=path)["Parameter"]["Value"]
    (image,) = aws.client("ec2").describe_images(ImageIds=[image_id])["Images"]
    assert image["Architecture"] == PATHS[path]
    assert VERSION in image["Name"]
