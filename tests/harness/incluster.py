"""The controller as it runs for users: a Pod of the Deployment `karpenter_controller` creates,
on the real node, from the image in the local registry. What the demo and the e2e tests need to
start it with Terraform and to look at it afterwards."""

from __future__ import annotations

import json

import boto3
import requests

from . import cluster as cluster_mod

NAMESPACE = "karpenter"
APP_LABEL = "app.kubernetes.io/name=karpenter"
LEASE = "karpenter-leader-election"
# The API server's --service-account-issuer: what EKS would register as the cluster's IAM OIDC
# provider, and what the projected web identity token carries as `iss`.
ISSUER = "https://kubernetes.default.svc.cluster.local"


def oidc_provider() -> str:
    """The cluster's IAM OIDC provider in the emulator, as an EKS cluster has one; its ARN."""
    iam = boto3.client("iam")
    return iam.create_open_id_connect_provider(
        Url=ISSUER, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]


def terraform_vars(image: str, aws_endpoint: str, oidc_provider_arn: str | None) -> list[str]:
    """-var arguments for examples/spot-fleet: the image, the emulator's endpoint for the pod, and
    IRSA with the token projected by the installation (there is no pod identity webhook here)."""
    args = ["-var", f"controller_image={image}",
            "-var", f"controller_env={json.dumps({'AWS_ENDPOINT_URL': aws_endpoint})}"]
    if oidc_provider_arn:
        args += ["-var", f"oidc_provider_arn={oidc_provider_arn}", "-var", "project_web_identity_token=true"]
    return args


def pods(cluster: cluster_mod.Cluster) -> list[dict]:
    return cluster.get_json("pods", "-n", NAMESPACE, "-l", APP_LABEL)["items"]


def leader(cluster: cluster_mod.Cluster) -> str | None:
    got = cluster.kubectl("get", "lease", LEASE, "-n", NAMESPACE, "-o", "json", check=False)
    return json.loads(got.stdout)["spec"].get("holderIdentity") if got.returncode == 0 else None


def leader_pod(cluster: cluster_mod.Cluster) -> dict:
    holder = leader(cluster)
    found = [p for p in pods(cluster) if p["metadata"]["name"] == holder]
    if not found:
        raise AssertionError(f"the Lease names {holder!r}, which is none of the controller's pods")
    return found[0]


def logs(cluster: cluster_mod.Cluster, pod: str) -> list[dict]:
    """The pod's log through `kubectl logs` (the kubelet serves it), as JSON records."""
    text = cluster.kubectl("logs", "-n", NAMESPACE, pod).stdout
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            records.append({"message": line})
    return records


def message(record: dict) -> str:
    """Log records are flat JSON objects (controller/src/telemetry.rs)."""
    return str(record.get("message", ""))


def metrics(cluster: cluster_mod.Cluster) -> str:
    """The leader's /metrics, from its pod IP (the bridge routes pod IPs to the host)."""
    ip = leader_pod(cluster)["status"]["podIP"]
    return requests.get(f"http://{ip}:8080/metrics", timeout=5).text
