"""karpenter_node_access in aws-auth mode through real terraform/tofu against the real
kube-apiserver of tests/harness: the node role's mapRoles entry is merged into kube-system/aws-auth
next to the entries already there, drift is repaired, and destroy removes only ours; on a cluster
that authenticates through the EKS API, an EC2_LINUX access entry instead."""

import boto3
import yaml

from conftest import REGION

OTHER = {
    "rolearn": "arn:aws:iam::123456789012:role/managed-node-group",
    "username": "system:node:{{EC2PrivateDNSName}}",
    "groups": ["system:bootstrappers", "system:nodes"],
}
NODE_ROLE_ARN = "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo"

ACCESS = f"""
resource "karpenter_node_access" "nodes" {{
  node_role_arn = "{NODE_ROLE_ARN}"
  mode          = "aws_auth"
}}
"""


def map_roles(cluster) -> list[dict]:
    cm = cluster.get_json("configmap", "aws-auth", "-n", "kube-system")
    return yaml.safe_load(cm["data"]["mapRoles"]) or []


def test_the_node_role_is_merged_into_aws_auth_and_only_it_is_removed_on_destroy(ws, aws, cluster):
    existing = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": {"mapRoles": yaml.safe_dump([OTHER]), "mapUsers": "[]\n"},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(existing))
    try:
        ws.write(ACCESS, aws.endpoint, f'  kubernetes {{ config_path = "{cluster.kubeconfig}" }}\n')
        ws.run("apply", "-auto-approve")
        roles = map_roles(cluster)
        assert roles[0] == OTHER, roles
        ours = [r for r in roles if r["rolearn"] == NODE_ROLE_ARN]
        assert len(ours) == 1 and set(ours[0]["groups"]) == {"system:bootstrappers", "system:nodes"}, roles
        assert ours[0]["username"] == "system:node:{{EC2PrivateDNSName}}", roles

        # Someone removes our entry by hand: the plan shows it and apply puts it back.
        cm = cluster.get_json("configmap", "aws-auth", "-n", "kube-system")
        cm["data"]["mapRoles"] = yaml.safe_dump([OTHER])
        cluster.kubectl("replace", "-f", "-", input=yaml.safe_dump(cm))
        drift = ws.run("plan", "-detailed-exitcode", check=False)
        assert drift.returncode == 2, drift.stdout + drift.stderr
        ws.run("apply", "-auto-approve")
        assert [r["rolearn"] for r in map_roles(cluster)] == [OTHER["rolearn"], NODE_ROLE_ARN]

        ws.run("destroy", "-auto-approve")
        assert map_roles(cluster) == [OTHER]
        cm = cluster.get_json("configmap", "aws-auth", "-n", "kube-system")
        assert cm["data"]["mapUsers"] == "[]\n", cm["data"]
    finally:
        cluster.kubectl("delete", "configmap", "aws-auth", "-n", "kube-system", "--ignore-not-found")


def test_an_aws_auth_config_map_the_provider_created_is_gone_after_destroy(ws, aws, cluster):
    cluster.kubectl("delete", "configmap", "aws-auth", "-n", "kube-system", "--ignore-not-found")
    ws.write(ACCESS, aws.endpoint, f'  kubernetes {{ config_path = "{cluster.kubeconfig}" }}\n')
    try:
        ws.run("apply", "-auto-approve")
        assert [r["rolearn"] for r in map_roles(cluster)] == [NODE_ROLE_ARN]
        ws.run("destroy", "-auto-approve")
        got = cluster.kubectl("get", "configmap", "aws-auth", "-n", "kube-system", check=False)
        assert got.returncode != 0 and "NotFound" in got.stderr, got.stdout + got.stderr
    finally:
        cluster.kubectl("delete", "configmap", "aws-auth", "-n", "kube-system", "--ignore-not-found")


def test_on_a_cluster_using_the_eks_api_the_node_role_gets_an_ec2_linux_access_entry(ws, aws):
    eks = boto3.client("eks", endpoint_url=aws.endpoint, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    eks.create_cluster(name="demo", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": []},
                       accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    # No `mode`: the provider reads the cluster's authentication mode.
    ws.write(f'resource "karpenter_node_access" "nodes" {{\n  node_role_arn = "{NODE_ROLE_ARN}"\n}}\n', aws.endpoint)
    ws.run("apply", "-auto-approve")
    entry = eks.describe_access_entry(clusterName="demo", principalArn=NODE_ROLE_ARN)["accessEntry"]
    assert entry["type"] == "EC2_LINUX", entry
    assert "access_entry" in ws.run("state", "show", "karpenter_node_access.nodes").stdout

    # Deleted out of band: the plan re-creates it.
    eks.delete_access_entry(clusterName="demo", principalArn=NODE_ROLE_ARN)
    drift = ws.run("plan", "-detailed-exitcode", check=False)
    assert drift.returncode == 2 and "will be created" in drift.stdout, drift.stdout + drift.stderr
    ws.run("apply", "-auto-approve")
    assert eks.list_access_entries(clusterName="demo")["accessEntries"] == [NODE_ROLE_ARN]

    ws.run("destroy", "-auto-approve")
    assert eks.list_access_entries(clusterName="demo")["accessEntries"] == []
