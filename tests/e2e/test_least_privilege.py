"""Least privilege, proven: every action of the controller policy the provider installs is needed.

Every host-process scenario signs as a role session holding exactly that policy
(test_provisioning.start_controller; a refusal fails the scenario at teardown). Here one scenario
does everything the controller does with AWS — launches from the EKS image (SSM) and from an
amiSelector image, with the node role's instance profile, prices on-demand capacity, discovers the
cluster endpoint, handles a spot interruption from its queue (named, as users name it), terminates, and collects a stale
launch template — and the emulator's audit of what it authorised is re-decided with each action
taken out of each statement in turn (awsemu.iam_policy.decide, the emulator's own evaluation): each
removal must leave some request of the scenario refused, and the test names it. One removal is also
made for real, to show a refused request fails the scenario rather than being absorbed.
"""

from __future__ import annotations

import copy

import boto3
import pytest
import requests

from awsemu import iam_policy
from harness import aws as aws_harness
from harness import procs, rbac
from harness.cluster import CONTROLLER_USER
from test_interruption import app, instance_of, instance_state, make_queue, metric, put_event
from test_provisioning import CLUSTER, NAMESPACE, REGION, apply, env, events, nodes, provisioner  # noqa: F401

PRINCIPAL = f"assumed-role/KarpenterController-{CLUSTER}/"
PROFILE = f"KarpenterNodeInstanceProfile-{CLUSTER}"
EKS_IMAGE = "/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id"


def pod_for(name: str, namespace: str, provisioner_name: str, cpu: str = "500m") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "nodeSelector": {"karpenter.sh/provisioner-name": provisioner_name},
                     "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": cpu, "memory": "512Mi"}}}]}}


def running(cluster, namespace: str) -> list[dict]:
    return [p for p in cluster.get_json("pods", "-n", namespace)["items"] if p["status"].get("phase") == "Running"]


def golden_image() -> str:
    """An image of ours (tagged team=ml) for an amiSelector, made by the harness as root."""
    ec2 = boto3.client("ec2", region_name=REGION)
    base = boto3.client("ssm", region_name=REGION).get_parameter(Name=EKS_IMAGE)["Parameter"]["Value"]
    builder = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1, InstanceType="m5.large")["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=builder, Name="golden-1")["ImageId"]
    ec2.create_tags(Resources=[image], Tags=[{"Key": "team", "Value": "ml"}])
    ec2.terminate_instances(InstanceIds=[builder])
    return image


def stale_launch_template() -> str:
    """A launch template of the cluster's, an hour old, that no instance uses: GC must delete it."""
    ec2 = boto3.client("ec2", region_name=REGION)
    name = f"karpenter-rs/{CLUSTER}/stale"
    ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"InstanceType": "m5.large"},
        TagSpecifications=[{"ResourceType": "launch-template",
                            "Tags": [{"Key": "karpenter.sh/cluster", "Value": CLUSTER}]}])
    endpoint = boto3.client("ec2", region_name=REGION).meta.endpoint_url
    requests.put(f"{endpoint}/_awsemu/launch-templates/{REGION}/{name}/created",
                 json={"secondsAgo": 3600}, timeout=30).raise_for_status()
    return name


def template_exists(name: str) -> bool:
    ec2 = boto3.client("ec2", region_name=REGION)
    found = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [name]}])
    return bool(found["LaunchTemplates"])


def provisioners() -> list[dict]:
    default = provisioner("default", ["spot"])
    default["spec"]["provider"]["instanceProfile"] = PROFILE
    golden = provisioner("golden", ["spot"])
    golden["spec"]["provider"].update({
        "instanceProfile": PROFILE, "amiFamily": "Custom", "amiSelector": {"team": "ml"},
        "userData": "#!/bin/bash\n/opt/golden/join-cluster\n"})
    return [default, golden]


def without(policy: dict, sid: str, action: str) -> dict:
    """The policy with `action` taken out of statement `sid` (the statement gone if it was its last)."""
    out = copy.deepcopy(policy)
    kept = []
    for statement in out["Statement"]:
        if statement.get("Sid") == sid:
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            statement["Action"] = [a for a in actions if a != action]
            if not statement["Action"]:
                continue
        kept.append(statement)
    out["Statement"] = kept
    return out


def grants(policy: dict) -> list[tuple[str, str]]:
    """(statement Sid, action) for every Allow of the policy."""
    out = []
    for statement in policy["Statement"]:
        assert statement.get("Effect") == "Allow" and statement.get("Sid"), statement
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        out += [(statement["Sid"], a) for a in actions]
    return out


def as_check(record: dict) -> iam_policy.Check:
    return iam_policy.Check(record["action"], record["resource"],
                            {k: tuple(v) for k, v in record["context"].items()})


def test_every_action_of_the_controller_policy_is_needed_by_a_request_the_controller_makes(cluster, aws, env):
    ns = env["namespace"]
    audited_from = rbac.audit_offset(cluster)
    url = make_queue()
    stale = stale_launch_template()
    golden_image()
    for p in provisioners():
        apply(cluster, p)
    # An earlier test's controller left its Lease: without it, this one must create its own.
    cluster.kubectl("delete", "lease", "karpenter-leader-election", "-n", NAMESPACE, "--ignore-not-found")
    # By name, as users configure it (Karpenter's setting is a name): resolved with GetQueueUrl.
    controller = env["start"](interruption_queue=url.rsplit("/", 1)[-1])
    plain = app("plain", ns, 1, cpu="500m", memory="512Mi")
    plain["spec"]["template"]["spec"]["nodeSelector"] = {"karpenter.sh/provisioner-name": "default"}
    apply(cluster, plain)
    apply(cluster, pod_for("golden", ns, "golden"))
    # Nothing fits it: the controller says so again and again (an event series, patched).
    apply(cluster, pod_for("too-big", ns, "default", cpu="1000"))
    procs.wait_for("both pods Running", lambda: len(running(cluster, ns)) == 2, 180)
    launched = nodes(cluster)
    assert len(launched) == 2, [n["metadata"]["name"] for n in launched]
    victim = next(n for n in launched if n["metadata"]["labels"]["karpenter.sh/provisioner-name"] == "default")
    instance = instance_of(victim)
    put_event("EC2 Spot Instance Interruption Warning", {"instance-id": instance, "instance-action": "terminate"}, instance)
    procs.wait_for("the interrupted instance terminated",
                   lambda: instance_state(instance) in ("shutting-down", "terminated"), 120)
    procs.wait_for("the interruption message deleted",
                   lambda: metric(controller.metrics(), "karpenter_interruption_deleted_messages_total") == 1, 60)
    procs.wait_for("the stale launch template collected", lambda: not template_exists(stale), 120)
    procs.wait_for("the evicted pod Running on the replacement", lambda: [
        p for p in running(cluster, ns) if p["metadata"]["labels"].get("app") == "plain"
        and p["spec"]["nodeName"] != victim["metadata"]["name"]], 180)
    procs.wait_for("an event series patched", lambda: [e for e in rbac.audit_events(cluster, audited_from)
                                                      if e["verb"] == "patch" and "/events/" in e["requestURI"]], 120, interval=1)

    audit = aws_harness.iam_audit(PRINCIPAL)
    assert not [c for c in audit if c["decision"] != "allow"], "the policy refused the controller"
    allowed = [as_check(c) for c in audit if c["decision"] == "allow"]
    policy = boto3.client("iam").get_role_policy(
        RoleName=f"KarpenterController-{CLUSTER}", PolicyName="controller")["PolicyDocument"]
    table, unused = [], []
    for sid, action in grants(policy):
        reduced = [without(policy, sid, action)]
        needed = next((c for c in allowed if iam_policy.decide(reduced, c) is not iam_policy.Decision.ALLOW), None)
        if needed is None:
            unused.append(f"{sid}: {action}")
        else:
            table.append(f"{sid:40} {action:36} needed by {needed.action} on {needed.resource}")
    print("\n".join(["least privilege: each grant and a request refused without it"] + table))
    assert not unused, f"no request of the scenario needs these grants: {unused}"

    # The same for the cluster: each (group, resource, verb) the provider's rules grant was used.
    events = rbac.audit_events(cluster, audited_from)
    assert events, f"no request of {CONTROLLER_USER} in the API server's audit log"
    assert not rbac.forbidden(events)
    rules_table, unused = [], []
    for grant in rbac.grants(rbac.provider_rules(), NAMESPACE):
        needed = next((e for e in events if grant.needed_by(e)), None)
        if needed is None:
            unused.append(str(grant))
        else:
            rules_table.append(f"{str(grant):60} used by {needed['verb']} {needed['requestURI']}")
    print("\n".join(["RBAC: each granted verb and a request that used it"] + rules_table))
    assert not unused, f"no request of the scenario used these granted verbs: {unused}"


@pytest.mark.refusals_expected
def test_without_iam_pass_role_the_launch_is_refused_and_says_so(cluster, aws, env):
    """The audit's "needed by" is a real failure: without iam:PassRole for the node role, a launch
    with its instance profile is refused, the pod's event quotes AWS, and no instance exists."""
    ns = env["namespace"]

    def no_pass_role(policy: dict) -> dict:
        return without(policy, "PassOnlyTheNodeRole", "iam:PassRole")

    apply(cluster, provisioners()[0])
    env["start"](policy_edit=no_pass_role)
    apply(cluster, pod_for("plain", ns, "default"))

    def refused() -> list[dict]:
        return [e for e in events(cluster, ns, "LaunchFailed") if "iam:PassRole" in (e.get("message") or "")]

    event = procs.wait_for("a launch refused for lack of iam:PassRole", refused, 120)[0]
    assert "UnauthorizedOperation" in event["message"], event
    assert not nodes(cluster)
    assert {c["action"] for c in aws_harness.controller_refusals(CLUSTER)} == {"iam:PassRole"}
