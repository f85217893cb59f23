"""Applies and destroys that do not go to plan, through real terraform/tofu against the AWS
emulator: an apply interrupted (Ctrl-C, then SIGKILL before it winds down) while an object it
created (IAM objects, the CloudFormation bootstrap stack) is not yet in state, and a destroy while a third of the AWS calls fail. Each ends with
the world and the state agreeing: one object per resource, nothing left after destroy. What each
found is appended to the chaos report (`state_mismatches`, docs/testing/chaos.md)."""

import json
import os
import signal
import time

import pytest

from bootstrap_support import attached, leftovers
from conftest import REGION
from harness import paths, procs
from slow_proxy import SlowProxy
from test_bootstrap_iam import BASE, DEFAULT_TAGS, IAM_ADDRESSES, STACK
from test_bootstrap_stack import STACK as BOOTSTRAP_STACK

ADDRESSES = ["karpenter_interruption_queue.q", *(a for a, _ in IAM_ADDRESSES)]


def write(ws, endpoint: str) -> None:
    ws.write(STACK % dict(team="platform", node_extra="", role_extra=""), endpoint, DEFAULT_TAGS)


def mismatches(ws, aws) -> list[str]:
    """Where state and AWS disagree: a resource not in state, an object made twice or missing."""
    iam = aws.client("iam", REGION)
    found = [f"not in state: {a}" for a in ADDRESSES if a not in ws.state_list()]
    roles = sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("Karpenter"))
    policies = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    profiles = [(p["InstanceProfileName"], [r["RoleName"] for r in p["Roles"]])
                for p in iam.list_instance_profiles()["InstanceProfiles"]]
    queues = aws.client("sqs", REGION).list_queues().get("QueueUrls", [])
    for what, got, want in [
        ("roles", roles, ["KarpenterControllerRole-demo", "KarpenterNodeRole-demo"]),
        ("policies", policies, ["KarpenterControllerPolicy-demo"]),
        ("instance profiles", profiles, [("KarpenterNodeInstanceProfile-demo", ["KarpenterNodeRole-demo"])]),
        ("queues", len(queues), 1),
    ]:
        if got != want:
            found.append(f"{what}: {got}")
    if "KarpenterNodeRole-demo" in roles and attached(iam, "KarpenterNodeRole-demo") != BASE:
        found.append(f"node role policies: {attached(iam, 'KarpenterNodeRole-demo')}")
    return found


def report(name: str, faults: list[str], state_mismatches: list[str]) -> None:
    with (paths.WORK / "chaos-report.jsonl").open("a") as out:
        out.write(json.dumps({"scenario": name, "faults": len(faults), "detail": faults,
                              "state_mismatches": state_mismatches}) + "\n")


# (the call after which, the call held): the apply is killed while the held call waits, so the
# object the first call made is in AWS and not in state.
KILL_POINTS = {
    "node role created, its policies not attached": ("CreateRole", "AttachRolePolicy"),
    "profile created, its role not added": ("CreateInstanceProfile", "AddRoleToInstanceProfile"),
    "policy created, the controller role not": ("CreatePolicy", "CreateRole"),
}


def kill_when_held(ws, proxy, after: str, held: str) -> None:
    """An apply killed while it waits on `held`, the first such call after `after`."""
    proxy.hold(after=after, action=held)
    apply = ws.popen("apply", "-auto-approve")
    procs.wait_for(f"the apply held at {held}", proxy.held.is_set, 120, interval=0.05)
    # Ctrl-C asks for a graceful stop; SIGKILL before it can finish the held call or write state.
    os.killpg(apply.pid, signal.SIGINT)
    time.sleep(0.5)
    os.killpg(apply.pid, signal.SIGKILL)
    apply.communicate(timeout=60)
    proxy.stop_holding()


def next_apply_takes_over(ws, aws, point: str, mismatched) -> None:
    """The apply after the kill: it takes over what the killed one left (`mismatched()` says where
    state and AWS still disagree), its plan is empty after, and destroy leaves nothing."""
    again = ws.run("apply", "-auto-approve", check=False)
    found = mismatched() if again.returncode == 0 else [f"apply failed: {again.stderr[-500:]}"]
    if ws.run("plan", "-detailed-exitcode", check=False).returncode != 0:
        found.append("the plan after that apply is not empty")
    ws.run("destroy", "-auto-approve", check=False)
    found += [f"left after destroy: {x}" for x in leftovers(aws)]
    report(f"{ws.cli.rsplit('/', 1)[-1]} apply killed: {point}", ["SIGINT", "SIGKILL"], found)
    assert found == [], found
    assert "Took over" in again.stdout + again.stderr, again.stdout + again.stderr


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_an_apply_interrupted_then_killed_midway_converges_on_the_next_with_nothing_duplicated(ws, aws, point):
    proxy = SlowProxy(aws.endpoint)
    try:
        write(ws, proxy.url)
        kill_when_held(ws, proxy, *KILL_POINTS[point])
        recorded = set(ws.state_list())
        assert set(ADDRESSES) - recorded, f"everything was recorded before the kill: {recorded}"

        next_apply_takes_over(ws, aws, point, lambda: mismatches(ws, aws))
    finally:
        proxy.close()


# One CLI: the IAM kill points above show both CLIs recover a killed apply alike.
@pytest.mark.parametrize("cli", ["terraform"], indirect=True)
def test_an_apply_killed_after_create_stack_takes_the_bootstrap_stack_over(ws, aws):
    cloudformation = aws.client("cloudformation", REGION)
    proxy = SlowProxy(aws.endpoint)
    try:
        ws.write(BOOTSTRAP_STACK % dict(retention=600, extra=""), proxy.url, DEFAULT_TAGS)
        kill_when_held(ws, proxy, "CreateStack", "DescribeStacks")
        assert "karpenter_bootstrap_stack.s" not in ws.state_list()

        def mismatched() -> list[str]:
            stacks = [s["StackName"] for s in cloudformation.list_stacks()["StackSummaries"]
                      if s["StackStatus"] != "DELETE_COMPLETE"]
            found = [] if stacks == ["Karpenter-demo"] else [f"stacks: {stacks}"]
            if "karpenter_bootstrap_stack.s" not in ws.state_list():
                found.append("not in state: karpenter_bootstrap_stack.s")
            return found

        next_apply_takes_over(ws, aws, "stack created, not recorded", mismatched)
    finally:
        proxy.close()


def test_destroy_while_a_third_of_the_aws_calls_fail_removes_everything(ws, aws):
    proxy = SlowProxy(aws.endpoint)
    try:
        write(ws, proxy.url)
        ws.run("apply", "-auto-approve")
        assert mismatches(ws, aws) == []
        proxy.fail_every = 3
        destroy = ws.run("destroy", "-auto-approve", check=False)
        found = [] if destroy.returncode == 0 else [f"destroy failed: {destroy.stderr[-500:]}"]
        found += [f"still in state: {a}" for a in ws.state_list()] + [f"left: {x}" for x in leftovers(aws)]
        report(f"{ws.cli.rsplit('/', 1)[-1]} destroy with a third of the calls failing",
               [f"{proxy.failed} injected 503s"], found)
        assert proxy.failed > 0
        assert found == [], found
    finally:
        proxy.close()
