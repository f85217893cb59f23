"""The provider through the real terraform/tofu CLI: plan, apply, refresh, import, destroy,
unknown values between resources, diagnostics with attribute paths, Ctrl-C during apply."""

import json
import os
import signal
import subprocess


from conftest import REGION, ROOT

from harness import procs
from slow_proxy import SlowProxy

QUEUE_AND_RULE = """
resource "karpenter_interruption_queue" "q" {
  message_retention_seconds = %(retention)s
  tags = { team = "platform" }
}

resource "karpenter_interruption_rule" "spot" {
  kind      = "spot_interruption"
  queue_arn = karpenter_interruption_queue.q.arn
}
"""


def queue_url(aws, name="Karpenter-demo"):
    return aws.client("sqs", REGION).get_queue_url(QueueName=name)["QueueUrl"]


def test_binary_run_by_hand_explains_itself_and_fails(provider_dir):
    env = {k: v for k, v in os.environ.items() if k != "TF_PLUGIN_MAGIC_COOKIE"}
    p = subprocess.run(
        [str(provider_dir / "terraform-provider-karpenter")], env=env, capture_output=True, text=True, timeout=30
    )
    assert p.returncode != 0
    assert "is a Terraform plugin" in p.stderr
    assert "dev_overrides" in p.stderr
    assert p.stdout == ""


def test_full_lifecycle(ws, aws):
    ws.write(QUEUE_AND_RULE % {"retention": 300}, aws.endpoint)

    # The rule's queue_arn is unknown at plan time and flows in from the queue at apply.
    plan = ws.run("plan")
    assert "queue_arn     = (known after apply)" in plan.stdout or "queue_arn = (known after apply)" in plan.stdout.replace("  ", " ")
    assert '"Karpenter-demo"' in plan.stdout  # name default planned from cluster_name
    assert "2 to add" in plan.stdout

    ws.run("apply", "-auto-approve")
    url = queue_url(aws)
    attrs = aws.client("sqs", REGION).get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["MessageRetentionPeriod"] == "300"
    policy = json.loads(attrs["Policy"])
    principals = policy["Statement"][0]["Principal"]["Service"]
    assert sorted(principals) == ["events.amazonaws.com", "sqs.amazonaws.com"]
    assert policy["Statement"][1]["Effect"] == "Deny"
    assert aws.client("sqs", REGION).list_queue_tags(QueueUrl=url)["Tags"] == {"team": "platform"}
    rule = aws.client("events", REGION).describe_rule(Name="Karpenter-demo-spot-interruption")
    assert json.loads(rule["EventPattern"])["detail-type"] == ["EC2 Spot Instance Interruption Warning"]
    targets = aws.client("events", REGION).list_targets_by_rule(Rule="Karpenter-demo-spot-interruption")["Targets"]
    assert [t["Arn"] for t in targets] == [attrs["QueueArn"]]

    # Converged: a second plan (with refresh) has nothing to do.
    assert ws.run("plan", "-detailed-exitcode").returncode == 0
    ws.run("apply", "-refresh-only", "-auto-approve")

    # In-place update shows as a diff and applies.
    ws.write(QUEUE_AND_RULE % {"retention": 600}, aws.endpoint)
    plan = ws.run("plan", "-detailed-exitcode", check=False)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "300 -> 600" in plan.stdout
    assert "1 to change" in plan.stdout
    ws.run("apply", "-auto-approve")
    attrs = aws.client("sqs", REGION).get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["MessageRetentionPeriod"] == "600"

    # Import round trip: forget both, import by natural id, and nothing needs changing.
    ws.run("state", "rm", "karpenter_interruption_rule.spot", "karpenter_interruption_queue.q")
    ws.run("import", "karpenter_interruption_queue.q", "Karpenter-demo")
    ws.run("import", "karpenter_interruption_rule.spot", "Karpenter-demo-spot-interruption")
    plan = ws.run("plan", "-detailed-exitcode", check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr

    # Out-of-band deletion: refresh notices and the plan re-creates.
    aws.client("events", REGION).remove_targets(Rule="Karpenter-demo-spot-interruption", Ids=["KarpenterInterruptionQueueTarget"])
    aws.client("events", REGION).delete_rule(Name="Karpenter-demo-spot-interruption")
    plan = ws.run("plan", "-detailed-exitcode", check=False)
    assert plan.returncode == 2
    assert "1 to add" in plan.stdout
    ws.run("apply", "-auto-approve")

    ws.run("destroy", "-auto-approve")
    assert ws.state_list() == []
    assert aws.client("sqs", REGION).list_queues().get("QueueUrls", []) == []
    assert aws.client("events", REGION).list_rules()["Rules"] == []


def test_validation_errors_name_the_attribute(ws, aws):
    ws.write(
        """
resource "karpenter_interruption_queue" "q" {
  message_retention_seconds = 5
}
resource "karpenter_interruption_rule" "r" {
  kind      = "earthquake"
  queue_arn = "not-an-arn"
}
""",
        aws.endpoint,
    )
    p = ws.run("plan", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    # Terraform shows the offending line of each attribute the diagnostic points at.
    assert "message_retention_seconds = 5" in out and "Must be a whole number from 60 to 1209600" in out
    assert 'kind      = "earthquake"' in out and "Must be one of `spot_interruption`" in out
    assert 'queue_arn = "not-an-arn"' in out and "Invalid ARN" in out
    assert aws.client("sqs", REGION).list_queues().get("QueueUrls", []) == []


def test_ctrl_c_during_apply_keeps_the_queue_and_next_apply_converges(ws, aws):
    proxy = SlowProxy(aws.endpoint)
    try:
        ws.write(QUEUE_AND_RULE % {"retention": 300}, proxy.url)
        # After the policy is set, the provider waits for SQS to show it; hold those reads.
        proxy.hold(after="SetQueueAttributes", action="GetQueueAttributes")
        apply = ws.popen("apply", "-auto-approve")
        procs.wait_for("the apply to wait on the new queue", proxy.held.is_set, 120, interval=0.05)
        # Ctrl-C reaches the whole process group, the provider included.
        os.killpg(apply.pid, signal.SIGINT)
        out, _ = apply.communicate(timeout=120)
        proxy.stop_holding()
        assert apply.returncode != 0, out
        assert "Interrupted while waiting for the queue" in out, out
        assert "karpenter_interruption_queue.q" in ws.state_list()
        assert queue_url(aws)  # the queue exists in AWS and terraform knows it

        ws.run("apply", "-auto-approve")
        assert ws.run("plan", "-detailed-exitcode").returncode == 0
        assert len(aws.client("sqs", REGION).list_queues()["QueueUrls"]) == 1
    finally:
        proxy.close()


def test_docs_are_generated_from_the_schema(provider_dir, tmp_path):
    subprocess.run(
        [str(provider_dir / "terraform-provider-karpenter"), "docs", "--out", str(tmp_path)], check=True, timeout=30
    )
    for rel in ["index.md", "resources/interruption_queue.md", "resources/interruption_rule.md"]:
        assert (tmp_path / rel).read_text() == (ROOT / "docs" / rel).read_text(), f"docs/{rel} is stale"
