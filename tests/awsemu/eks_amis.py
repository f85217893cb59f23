"""The EKS optimized AMIs we register and the SSM parameters that name them (pure data).

AWS publishes the recommended EKS node AMI per Kubernetes version and architecture under
/aws/service/eks/optimized-ami/... (and Bottlerocket under /aws/service/bottlerocket/...). Controllers
resolve those paths, then launch the AMI; so the emulator needs both the parameter and an AMI that
DescribeImages knows with the right architecture. Ids are derived from the image name (stable across
runs and resets).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

KUBERNETES_VERSIONS = tuple(f"1.{minor}" for minor in range(28, 36))
RELEASE_DATE = "20261101"
EKS_AMI_OWNER = "602401143452"


@dataclass(frozen=True)
class EksAmi:
    parameter_prefix: str  # without the trailing /image_id
    name: str
    architecture: str
    release_version: str
    description: str

    @property
    def ami_id(self) -> str:
        return "ami-" + hashlib.sha256(self.name.encode()).hexdigest()[:17]

    def parameters(self) -> dict[str, str]:
        """Parameter name -> value, including the JSON 'recommended' parent AWS also publishes."""
        p = self.parameter_prefix
        return {
            f"{p}/image_id": self.ami_id,
            f"{p}/image_name": self.name,
            f"{p}/release_version": self.release_version,
            p: json.dumps(
                {
                    "schema_version": "3",
                    "image_id": self.ami_id,
                    "image_name": self.name,
                    "release_version": self.release_version,
                }
            ),
        }


def _variants(version: str) -> list[EksAmi]:
    base = f"/aws/service/eks/optimized-ami/{version}"
    release = f"{version}.0-{RELEASE_DATE}"
    out = []
    for arch in ("x86_64", "arm64"):
        out.append(EksAmi(
            f"{base}/amazon-linux-2023/{arch}/standard/recommended",
            f"amazon-eks-node-al2023-{arch}-standard-{version}-v{RELEASE_DATE}", arch, release,
            f"EKS-optimized Kubernetes node based on Amazon Linux 2023, ({arch}, k8s: {version})",
        ))
        out.append(EksAmi(
            f"{base}/amazon-linux-2023/{arch}/nvidia/recommended",
            f"amazon-eks-node-al2023-{arch}-nvidia-{version}-v{RELEASE_DATE}", arch, release,
            f"EKS-optimized accelerated node based on Amazon Linux 2023, ({arch}, k8s: {version})",
        ))
        for flavour in ("", "-nvidia"):
            out.append(EksAmi(
                f"/aws/service/bottlerocket/aws-k8s-{version}{flavour}/{arch}/latest",
                f"bottlerocket-aws-k8s-{version}{flavour}-{arch}-v1.50.0", arch, "1.50.0",
                f"Bottlerocket for aws-k8s-{version}{flavour} ({arch})",
            ))
    # Neuron (Inferentia, Trainium) images exist for x86_64 only, as AWS publishes them.
    out.append(EksAmi(
        f"{base}/amazon-linux-2023/x86_64/neuron/recommended",
        f"amazon-eks-node-al2023-x86_64-neuron-{version}-v{RELEASE_DATE}", "x86_64", release,
        f"EKS-optimized Neuron node based on Amazon Linux 2023, (x86_64, k8s: {version})",
    ))
    out.append(EksAmi(
        f"{base}/amazon-linux-2/recommended",
        f"amazon-eks-node-{version}-v{RELEASE_DATE}", "x86_64", release,
        f"EKS Kubernetes Worker AMI with AmazonLinux2 image, (k8s: {version})",
    ))
    out.append(EksAmi(
        f"{base}/amazon-linux-2-arm64/recommended",
        f"amazon-eks-arm64-node-{version}-v{RELEASE_DATE}", "arm64", release,
        f"EKS Kubernetes Worker AMI with AmazonLinux2 image, (k8s: {version}, arm64)",
    ))
    out.append(EksAmi(
        f"{base}/amazon-linux-2-gpu/recommended",
        f"amazon-eks-gpu-node-{version}-v{RELEASE_DATE}", "x86_64", release,
        f"EKS Kubernetes Worker AMI with AmazonLinux2 image and GPU support, (k8s: {version})",
    ))
    return out


ALL: tuple[EksAmi, ...] = tuple(a for v in KUBERNETES_VERSIONS for a in _variants(v))
