"""Applies and destroys that do not go to plan, through real terraform/tofu against the AWS
emulator: an apply interrupted (Ctrl-C, then SIGKILL before it winds down) while an object it
created is not yet in state, and a destroy while a third of the AWS calls fail. Each ends with
the world and the state agreeing: one object per resource, nothing left after destroy."""

import os
import signal
import time

import pytest

from bootstrap_support import attached, leftovers
from conftest import REGION
from harness import procs
from slow_proxy import SlowProxy
from test_bootstrap_iam import BASE, IAM_ADDRESSES, STACK, DEFAULT_TAGS, converged

ADDRESSES = ["karpenter_interruption_queue.q", *(a for a, _ in IAM_ADDRESSES)]


def write(ws, endpoint: str) -> None:
    ws.write(STACK % dict(team="platform", node_extra="", role_extra=""), endpoint, DEFAULT_TAGS)


def one_of_each(aws) -> None:
    """Exactly one object per resource: nothing was created twice."""
    iam = aws.client("iam", REGION)
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert sorted(r for r in roles if r.startswith("Karpenter")) == [
        "KarpenterControllerRole-demo", "KarpenterNodeRole-demo"], roles
    policies = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert policies == ["KarpenterControllerPolicy-demo"], policies
    profiles = iam.list_instance_profiles()["InstanceProfiles"]
    assert [(p["InstanceProfileName"], [r["RoleName"] for r in p["Roles"]]) for p in profiles] == [
        ("KarpenterNodeInstanceProfile-demo", ["KarpenterNodeRole-demo"])], profiles
    assert len(aws.client("sqs", REGION).list_queues()["QueueUrls"]) == 1
    assert attached(iam, "KarpenterNodeRole-demo") == BASE


# (the call after which, the call held): the apply is killed while the held call waits, so the
# object the first call made is in AWS and not in state.
KILL_POINTS = {
    "node role created, its policies not attached": ("CreateRole", "AttachRolePolicy"),
    "profile created, its role not added": ("CreateInstanceProfile", "AddRoleToInstanceProfile"),
    "policy created, the controller role not": ("CreatePolicy", "CreateRole"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_an_apply_interrupted_then_killed_midway_converges_on_the_next_with_nothing_duplicated(ws, aws, point):
    proxy = SlowProxy(aws.endpoint)
    try:
        write(ws, proxy.url)
        after, held = KILL_POINTS[point]
        proxy.hold(after=after, action=held)
        apply = ws.popen("apply", "-auto-approve")
        procs.wait_for(f"the apply held at {held}", proxy.held.is_set, 120, interval=0.05)
        # Ctrl-C asks for a graceful stop; SIGKILL before it can finish the held call or write state.
        os.killpg(apply.pid, signal.SIGINT)
        time.sleep(0.5)
        os.killpg(apply.pid, signal.SIGKILL)
        apply.communicate(timeout=60)
        proxy.stop_holding()
        recorded = set(ws.state_list())
        assert set(ADDRESSES) - recorded, f"everything was recorded before the kill: {recorded}"

        again = ws.run("apply", "-auto-approve")
        assert "Took over" in again.stdout + again.stderr, again.stdout + again.stderr
        assert sorted(ws.state_list()) == sorted(ADDRESSES)
        converged(ws)
        one_of_each(aws)
        ws.run("destroy", "-auto-approve")
        assert leftovers(aws) == []
    finally:
        proxy.close()


def test_destroy_while_a_third_of_the_aws_calls_fail_removes_everything(ws, aws):
    proxy = SlowProxy(aws.endpoint)
    try:
        write(ws, proxy.url)
        ws.run("apply", "-auto-approve")
        one_of_each(aws)
        proxy.fail_every = 3
        ws.run("destroy", "-auto-approve")
        assert proxy.failed > 0
        assert ws.state_list() == []
        assert leftovers(aws) == []
    finally:
        proxy.close()
