"""karpenter_node_role, karpenter_instance_profile, karpenter_controller_policy and
karpenter_controller_role through real terraform/tofu against the AWS emulator: apply, check every
object through boto3, change, drift, import, out-of-band deletion, destroy."""

import json

from bootstrap_support import (
    attached,
    default_policy_doc,
    leftovers,
    policy_doc,
    role_tags,
    statement,
)
from conftest import REGION

BASE = sorted(
    f"arn:aws:iam::aws:policy/{p}"
    for p in [
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonSSMManagedInstanceCore",
    ]
)
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"

STACK = """
resource "karpenter_interruption_queue" "q" {}

resource "karpenter_node_role" "node" {
  tags = { team = "%(team)s" }
  %(node_extra)s
}

resource "karpenter_instance_profile" "node" {
  role_name = karpenter_node_role.node.name
}

resource "karpenter_controller_policy" "ctl" {
  node_role_arn = karpenter_node_role.node.arn
  queue_arn     = karpenter_interruption_queue.q.arn
}

resource "karpenter_controller_role" "ctl" {
  policy_arn = karpenter_controller_policy.ctl.arn
  %(role_extra)s
}
"""
DEFAULT_TAGS = '  default_tags = { owner = "tests" }\n'
IAM_ADDRESSES = [
    ("karpenter_node_role.node", "KarpenterNodeRole-demo"),
    ("karpenter_instance_profile.node", "KarpenterNodeInstanceProfile-demo"),
    ("karpenter_controller_policy.ctl", "KarpenterControllerPolicy-demo"),
    ("karpenter_controller_role.ctl", "KarpenterControllerRole-demo"),
]


def write(ws, aws, team="platform", node_extra="", role_extra=""):
    ws.write(STACK % dict(team=team, node_extra=node_extra, role_extra=role_extra), aws.endpoint, DEFAULT_TAGS)


def converged(ws):
    p = ws.run("plan", "-detailed-exitcode", check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_iam_bootstrap_lifecycle(ws, aws):
    iam = aws.client("iam", REGION)
    write(ws, aws)
    plan = ws.run("plan")
    for name in [n for _, n in IAM_ADDRESSES]:
        assert f'"{name}"' in plan.stdout, f"{name} default not planned:\n{plan.stdout}"
    assert "5 to add" in plan.stdout
    ws.run("apply", "-auto-approve")

    # Node role: EC2 trust, the four base policies, own tags over provider default tags.
    role = iam.get_role(RoleName="KarpenterNodeRole-demo")["Role"]
    trust = policy_doc(role["AssumeRolePolicyDocument"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert attached(iam, "KarpenterNodeRole-demo") == BASE
    assert role_tags(iam, "KarpenterNodeRole-demo") == {"team": "platform", "owner": "tests", "karpenter.sh/terraform-owner": "demo"}

    # Instance profile carries the node role.
    profile = iam.get_instance_profile(InstanceProfileName="KarpenterNodeInstanceProfile-demo")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["KarpenterNodeRole-demo"]

    # Controller policy: PassRole on the node role only, SQS on the queue only, tag-scoped EC2 writes.
    queue_url = aws.client("sqs", REGION).get_queue_url(QueueName="Karpenter-demo")["QueueUrl"]
    queue_arn = aws.client("sqs", REGION).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy_arn = next(
        p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == "KarpenterControllerPolicy-demo"
    )
    doc = default_policy_doc(iam, policy_arn)
    assert statement(doc, "PassOnlyTheNodeRole")["Resource"] == role["Arn"]
    assert statement(doc, "ConsumeTheInterruptionQueue")["Resource"] == queue_arn
    terminate = statement(doc, "TerminateOnlyOwnInstancesAndTemplates")
    assert terminate["Condition"] == {"StringEquals": {"aws:ResourceTag/karpenter.sh/cluster": "demo"}}
    assert statement(doc, "ReadOnlyDescribeInTheRegion")["Condition"]["StringEquals"]["aws:RequestedRegion"] == REGION

    # Controller role: Pod Identity trust, the controller policy attached.
    ctl = iam.get_role(RoleName="KarpenterControllerRole-demo")["Role"]
    ctl_trust = policy_doc(ctl["AssumeRolePolicyDocument"])
    assert ctl_trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert attached(iam, "KarpenterControllerRole-demo") == [policy_arn]

    converged(ws)

    # In-place changes: an extra node policy, other tags, IRSA trust for the controller.
    oidc = iam.create_open_id_connect_provider(
        Url="https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )["OpenIDConnectProviderArn"]
    write(
        ws,
        aws,
        team="infra",
        node_extra=f'additional_policy_arns = ["{S3_READ}"]',
        role_extra=f'oidc_provider_arn = "{oidc}"\n  service_account = "karpenter-controller"',
    )
    plan = ws.run("plan", "-detailed-exitcode", check=False)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert '"platform" -> "infra"' in plan.stdout
    assert S3_READ in plan.stdout
    assert "2 to change" in plan.stdout and "0 to destroy" in plan.stdout
    ws.run("apply", "-auto-approve")
    assert attached(iam, "KarpenterNodeRole-demo") == sorted(BASE + [S3_READ])
    assert role_tags(iam, "KarpenterNodeRole-demo") == {"team": "infra", "owner": "tests", "karpenter.sh/terraform-owner": "demo"}
    ctl_trust = policy_doc(iam.get_role(RoleName="KarpenterControllerRole-demo")["Role"]["AssumeRolePolicyDocument"])
    st = ctl_trust["Statement"][0]
    assert st["Principal"] == {"Federated": oidc}
    assert st["Condition"]["StringEquals"]["oidc.eks.us-east-1.amazonaws.com/id/ABCDEF:sub"] == (
        "system:serviceaccount:karpenter:karpenter-controller"
    )
    converged(ws)

    # Drift: a base policy detached and the controller policy rewritten outside Terraform.
    iam.detach_role_policy(RoleName="KarpenterNodeRole-demo", PolicyArn="arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy")
    iam.create_policy_version(
        PolicyArn=policy_arn,
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        SetAsDefault=True,
    )
    plan = ws.run("plan", "-detailed-exitcode", check=False)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "AmazonEKS_CNI_Policy" in plan.stdout and "policy_json" in plan.stdout
    ws.run("apply", "-auto-approve")
    assert attached(iam, "KarpenterNodeRole-demo") == sorted(BASE + [S3_READ])
    doc = default_policy_doc(iam, policy_arn)
    assert statement(doc, "PassOnlyTheNodeRole")["Resource"] == role["Arn"]
    assert len(iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]) == 1  # old versions pruned
    converged(ws)

    # Import round trip by natural id: forget all four, import by name, nothing to change.
    ws.run("state", "rm", *[a for a, _ in IAM_ADDRESSES])
    for address, name in IAM_ADDRESSES:
        ws.run("import", address, name)
    converged(ws)

    # Out-of-band deletion: refresh notices, the plan re-creates.
    iam.remove_role_from_instance_profile(InstanceProfileName="KarpenterNodeInstanceProfile-demo", RoleName="KarpenterNodeRole-demo")
    iam.delete_instance_profile(InstanceProfileName="KarpenterNodeInstanceProfile-demo")
    plan = ws.run("plan", "-detailed-exitcode", check=False)
    assert plan.returncode == 2 and "1 to add" in plan.stdout, plan.stdout
    ws.run("apply", "-auto-approve")
    profile = iam.get_instance_profile(InstanceProfileName="KarpenterNodeInstanceProfile-demo")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["KarpenterNodeRole-demo"]

    ws.run("destroy", "-auto-approve")
    assert ws.state_list() == []
    assert leftovers(aws) == []


def test_a_profile_whose_role_cannot_be_added_stays_in_state_and_converges(ws, aws):
    hcl = """
resource "karpenter_instance_profile" "p" {
  role_name = "%s"
  timeouts { create = "2s" }
}
"""
    ws.write(hcl % "NoSuchRole-demo", aws.endpoint)
    p = ws.run("apply", "-auto-approve", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "iam:AddRoleToInstanceProfile" in out and "NoSuchRole-demo" in out, out
    # The profile was created: terraform must still know it, and AWS must still have it.
    assert ws.state_list() == ["karpenter_instance_profile.p"]
    aws.client("iam", REGION).get_instance_profile(InstanceProfileName="KarpenterNodeInstanceProfile-demo")

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    aws.client("iam", REGION).create_role(RoleName="NodeRole-demo", AssumeRolePolicyDocument=json.dumps(trust))
    ws.write(hcl % "NodeRole-demo", aws.endpoint)
    ws.run("apply", "-auto-approve")
    converged(ws)
    profile = aws.client("iam", REGION).get_instance_profile(InstanceProfileName="KarpenterNodeInstanceProfile-demo")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["NodeRole-demo"]
    ws.run("destroy", "-auto-approve")
    aws.client("iam", REGION).delete_role(RoleName="NodeRole-demo")
    assert leftovers(aws) == []
