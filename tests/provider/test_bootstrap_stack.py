"""karpenter_bootstrap_stack through real terraform/tofu against the AWS emulator's
CloudFormation: the stack and every object it made, checked through boto3."""

import json

import pytest

from bootstrap_support import leftovers, policy_doc, statement
from conftest import REGION

STACK = """
resource "karpenter_bootstrap_stack" "s" {
  message_retention_seconds = %(retention)s
  %(extra)s
}
output "outputs" { value = karpenter_bootstrap_stack.s.outputs }
"""


def write(ws, aws, retention=600, extra=""):
    ws.write(STACK % dict(retention=retention, extra=extra), aws.endpoint, '  default_tags = { owner = "tests" }\n')


def converged(ws):
    p = ws.run("plan", "-detailed-exitcode", check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def rules(aws):
    return sorted(r["Name"] for r in aws.client("events", REGION).list_rules()["Rules"])


def test_stack_lifecycle(ws, aws):
    cfn, iam, sqs = aws.client("cloudformation", REGION), aws.client("iam", REGION), aws.client("sqs", REGION)
    write(ws, aws)
    plan = ws.run("plan")
    assert '"Karpenter-demo"' in plan.stdout and "template_body" in plan.stdout
    ws.run("apply", "-auto-approve")

    stack = cfn.describe_stacks(StackName="Karpenter-demo")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert {"Key": "owner", "Value": "tests"} in stack["Tags"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    tf_outputs = json.loads(ws.run("output", "-json").stdout)["outputs"]["value"]
    assert tf_outputs == outputs

    # Every object of the stack, looked at directly.
    node = iam.get_role(RoleName="KarpenterNodeRole-demo")["Role"]
    assert outputs["NodeRoleArn"] == node["Arn"]
    profile = iam.get_instance_profile(InstanceProfileName=outputs["InstanceProfileName"])["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["KarpenterNodeRole-demo"]
    url = sqs.get_queue_url(QueueName="Karpenter-demo")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["MessageRetentionPeriod"] == "600"
    assert outputs["InterruptionQueueArn"] == attrs["QueueArn"]
    assert rules(aws) == sorted(
        f"Karpenter-demo-{k}"
        for k in ["spot-interruption", "rebalance-recommendation", "scheduled-change", "instance-state-change",
                  "capacity-reservation-interruption"]
    )
    targets = aws.client("events", REGION).list_targets_by_rule(Rule="Karpenter-demo-spot-interruption")["Targets"]
    assert [t["Arn"] for t in targets] == [attrs["QueueArn"]]
    ctl = iam.get_role(RoleName="KarpenterControllerRole-demo")["Role"]
    assert outputs["ControllerRoleArn"] == ctl["Arn"]
    assert policy_doc(ctl["AssumeRolePolicyDocument"])["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    doc = policy_doc(
        iam.get_role_policy(RoleName="KarpenterControllerRole-demo", PolicyName="KarpenterControllerPolicy-demo")["PolicyDocument"]
    )
    assert statement(doc, "PassOnlyTheNodeRole")["Resource"] == node["Arn"]
    assert statement(doc, "ConsumeTheInterruptionQueue")["Resource"] == attrs["QueueArn"]
    assert statement(doc, "DiscoverTheClusterEndpoint")["Resource"] == f"arn:aws:eks:{REGION}:123456789012:cluster/demo"
    # moto's CloudFormation ignores a role's ManagedPolicyArns, so the node role's four managed
    # policies are checked in the template CloudFormation holds rather than on the role.
    body = cfn.get_template(StackName="Karpenter-demo")["TemplateBody"]
    body = body if isinstance(body, dict) else json.loads(body)
    assert sorted(body["Resources"]["NodeRole"]["Properties"]["ManagedPolicyArns"]) == sorted(
        f"arn:aws:iam::aws:policy/{p}"
        for p in ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly",
                  "AmazonSSMManagedInstanceCore"]
    )

    converged(ws)

    # Change: longer retention, fewer rules -> one in-place stack update.
    write(ws, aws, retention=900, extra='interruption_kinds = ["spot_interruption", "scheduled_change"]')
    plan = ws.run("plan", "-detailed-exitcode", check=False)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "600 -> 900" in plan.stdout and "1 to change" in plan.stdout
    ws.run("apply", "-auto-approve")
    assert cfn.describe_stacks(StackName="Karpenter-demo")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert attrs["MessageRetentionPeriod"] == "900"
    assert rules(aws) == ["Karpenter-demo-scheduled-change", "Karpenter-demo-spot-interruption"]
    converged(ws)

    # Import round trip by stack name.
    ws.run("state", "rm", "karpenter_bootstrap_stack.s")
    ws.run("import", "karpenter_bootstrap_stack.s", "Karpenter-demo")
    converged(ws)

    # Out-of-band deletion: the plan re-creates the stack.
    cfn.delete_stack(StackName="Karpenter-demo")
    plan = ws.run("plan", "-detailed-exitcode", check=False)
    assert plan.returncode == 2 and "1 to add" in plan.stdout, plan.stdout
    ws.run("apply", "-auto-approve")
    assert cfn.describe_stacks(StackName="Karpenter-demo")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"

    ws.run("destroy", "-auto-approve")
    assert ws.state_list() == []
    assert leftovers(aws) == []


def test_a_stack_that_cannot_be_created_reports_why(ws, aws):
    # A role with the stack's node role name already exists: creating the stack must fail.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    aws.client("iam", REGION).create_role(RoleName="KarpenterNodeRole-demo", AssumeRolePolicyDocument=json.dumps(trust))
    write(ws, aws)
    p = ws.run("apply", "-auto-approve", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "cloudformation:CreateStack" in out or "CloudFormation create of stack" in out, out
    assert "KarpenterNodeRole-demo" in out, out
    # Whatever CloudFormation recorded is in state, so destroy cleans it up.
    ws.run("destroy", "-auto-approve")
    aws.client("iam", REGION).delete_role(RoleName="KarpenterNodeRole-demo")
    assert leftovers(aws) == []


@pytest.mark.parametrize("kinds", ['["earthquake"]'])
def test_stack_input_errors_name_the_attribute(ws, aws, kinds):
    write(ws, aws, retention=5, extra=f'name = "1-bad"\n  interruption_kinds = {kinds}')
    p = ws.run("plan", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "message_retention_seconds = 5" in out and "Must be a whole number from 60 to 1209600" in out
    assert "interruption_kinds" in out and '"earthquake" is not an interruption kind' in out
    assert 'name = "1-bad"' in out and "must start with a letter" in out
    assert aws.client("cloudformation", REGION).list_stacks()["StackSummaries"] == []
