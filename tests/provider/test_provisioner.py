"""karpenter_provisioner and karpenter_controller through real terraform/tofu against the real
kube-apiserver of tests/harness and the AWS emulator of tests/awsemu: the seed's spot-fleet in
HCL equals the seed's YAML applied with kubectl, drift and import, rejection of invalid objects
at plan and by the API server, and a destroy that leaves nothing behind."""

import json
import re
import time
from pathlib import Path

import pytest
from conftest import REGION

from harness import paths, procs
from test_interrupted_apply import report



# The seed's Provisioner, verbatim, with its ${CLUSTER_NAME} placeholder.
SEED_YAML = (Path(__file__).resolve().parents[1] / "data" / "seed-spot-fleet.yaml").read_text()

CONTROLLER = """
resource "karpenter_controller" "ctl" {
  image              = "registry.invalid/karpenter-rs/controller:test"
  # These tests are about the objects; the controller itself runs in tests/e2e.
  wait_for_rollout   = false
  interruption_queue = "Karpenter-demo"
  interruption_actions = { rebalance_recommendation = "replace-and-cordon" }
  timeouts { delete = "2m" }
}
"""

SPOT_FLEET = """
resource "karpenter_provisioner" "spot_fleet" {
  name = "spot-fleet"
  requirement {
    key      = "node.kubernetes.io/instance-type"
    operator = "In"
    values   = ["m5.large", "m5.2xlarge"]
  }
  requirement {
    key      = "topology.kubernetes.io/zone"
    operator = "In"
    values   = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]
  }
  requirement {
    key      = "karpenter.sh/capacity-type"
    operator = "In"
    values   = ["spot"]
  }
  aws { subnet_selector = { "karpenter.sh/discovery" = "demo" } }
  ttl_seconds_until_expired = 2592000
  depends_on = [karpenter_controller.ctl]
}
"""


def kube_block(cluster):
    return f'  kubernetes {{ config_path = "{cluster.kubeconfig}" }}\n'


def write(ws, aws, cluster, hcl):
    ws.write(hcl, aws.endpoint, kube_block(cluster))


def spec_of(cluster, name):
    return cluster.get_json("provisioner", name)["spec"]


def exists(cluster, *args):
    return cluster.kubectl("get", *args, check=False).returncode == 0


def test_zones_outside_the_provider_region_are_warned_about_at_plan(ws, aws, cluster):
    # The seed's zones are ap-southeast-1's; a provider configured for another region says so.
    ws.write(CONTROLLER + SPOT_FLEET, aws.endpoint, kube_block(cluster), region="us-east-1")
    planned = ws.run("plan")
    assert "Zones not in the region" in planned.stdout + planned.stderr, planned.stdout


def test_the_seed_spot_fleet_in_hcl_is_the_seed_yaml_applied_with_kubectl(ws, aws, cluster):
    write(ws, aws, cluster, CONTROLLER + SPOT_FLEET)
    applied = ws.run("apply", "-auto-approve")
    # The seed's own advice, at plan time: 2 types x 3 zones is too few spot pools. Its zones are
    # the emulator region's, so nothing is said about them.
    assert "Few spot capacity pools" in applied.stdout + applied.stderr
    assert "Zones not in the region" not in applied.stdout + applied.stderr
    from_hcl = spec_of(cluster, "spot-fleet")
    managed = cluster.get_json("provisioner", "spot-fleet", "--show-managed-fields")["metadata"]["managedFields"]
    assert [m["manager"] for m in managed] == ["terraform-provider-karpenter"]

    # No change without drift; drift made with kubectl shows in the plan and apply restores it.
    assert ws.run("plan", "-detailed-exitcode", check=False).returncode == 0
    cluster.kubectl("patch", "provisioner", "spot-fleet", "--type=merge", "-p", '{"spec":{"ttlSecondsUntilExpired":60}}')
    drift = ws.run("plan", "-detailed-exitcode", check=False)
    assert drift.returncode == 2, drift.stdout + drift.stderr
    assert re.search(r"ttl_seconds_until_expired\s*=\s*60\s*->\s*2592000", drift.stdout), drift.stdout
    ws.run("apply", "-auto-approve")
    assert spec_of(cluster, "spot-fleet")["ttlSecondsUntilExpired"] == 2592000

    # Import by name gives the same state: no change planned afterwards.
    ws.run("state", "rm", "karpenter_provisioner.spot_fleet")
    ws.run("import", "karpenter_provisioner.spot_fleet", "spot-fleet")
    assert ws.run("plan", "-detailed-exitcode", check=False).returncode == 0

    # Remove it through Terraform, then apply the seed's YAML unchanged (CLUSTER_NAME substituted).
    write(ws, aws, cluster, CONTROLLER)
    ws.run("apply", "-auto-approve")
    assert not exists(cluster, "provisioner", "spot-fleet")
    cluster.kubectl("apply", "-f", "-", input=SEED_YAML.replace("${CLUSTER_NAME}", "demo"))
    assert spec_of(cluster, "spot-fleet") == from_hcl
    cluster.kubectl("delete", "provisioner", "spot-fleet")

    ws.run("destroy", "-auto-approve")
    assert not exists(cluster, "crd", "provisioners.karpenter.sh")


INVALID = """
resource "karpenter_provisioner" "bad" {
  name = "bad"
  requirement {
    key      = "karpenter.sh/capacity-type"
    operator = "In"
    values   = ["preemptible"]
  }
  requirement {
    key      = "topology.kubernetes.io/zone"
    operator = "Maybe"
    values   = ["us-east-1a"]
  }
  aws {
    subnet_selector = { "karpenter.sh/discovery" = "demo" }
    ami_family      = "AL2"
  }
  kubelet_configuration {
    max_pods      = 0
    eviction_hard = { "memory.available" = "lots" }
  }
  ttl_seconds_after_empty = -5
}
"""


def test_an_invalid_provisioner_is_rejected_at_plan_and_by_the_api_server(ws, aws, cluster):
    write(ws, aws, cluster, INVALID)
    plan = ws.run("plan", check=False)
    out = plan.stdout + plan.stderr
    assert plan.returncode == 1, out
    # Each error names the Kubernetes field and points at the HCL line of the attribute.
    assert "spec.requirements[0].values[0]" in out, out
    assert "spec.requirements[1].operator" in out, out
    assert "spec.ttlSecondsAfterEmpty" in out, out
    assert 'operator = "Maybe"' in out, out
    assert 'values   = ["preemptible"]' in out, out
    assert "spec.provider.amiFamily: AL2 is not supported" in out and "end of support" in out, out
    assert "spec.kubeletConfiguration.maxPods: must be between 1 and 1000" in out, out
    assert "spec.kubeletConfiguration.evictionHard[memory.available]" in out, out
    assert "max_pods      = 0" in out, out

    # The same object sent directly is refused by the API server's CRD schema.
    write(ws, aws, cluster, CONTROLLER)
    ws.run("apply", "-auto-approve")
    def bad(requirement: dict, **spec) -> str:
        return json.dumps({
            "apiVersion": "karpenter.sh/v1alpha5",
            "kind": "Provisioner",
            "metadata": {"name": "bad"},
            "spec": {"requirements": [requirement], **spec},
        })

    # The API server runs the CRD's CEL rules only on objects that pass the OpenAPI schema, so the
    # schema errors (operator, negative TTL) and the CEL error (capacity type) are sent apart.
    sent = cluster.kubectl(
        "apply", "-f", "-", check=False,
        input=bad({"key": "topology.kubernetes.io/zone", "operator": "Maybe", "values": ["us-east-1a"]},
                  ttlSecondsAfterEmpty=-5),
    )
    assert sent.returncode != 0
    assert "spec.requirements[0].operator" in sent.stderr and "Maybe" in sent.stderr, sent.stderr
    assert "spec.ttlSecondsAfterEmpty" in sent.stderr, sent.stderr
    sent = cluster.kubectl(
        "apply", "-f", "-", check=False,
        input=bad({"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["preemptible"]}),
    )
    assert sent.returncode != 0
    assert '"spot" or "on-demand"' in sent.stderr, sent.stderr
    assert not exists(cluster, "provisioner", "bad")
    ws.run("destroy", "-auto-approve")
    assert not exists(cluster, "crd", "provisioners.karpenter.sh")


def tagged_instances(ec2):
    r = ec2.describe_instances(
        Filters=[
            {"Name": "tag:karpenter.sh/cluster", "Values": ["demo"]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped", "shutting-down"]},
        ]
    )
    return [i["InstanceId"] for res in r["Reservations"] for i in res["Instances"]]


def tagged_launch_templates(ec2):
    r = ec2.describe_launch_templates(Filters=[{"Name": "tag:karpenter.sh/cluster", "Values": ["demo"]}])
    return [t["LaunchTemplateId"] for t in r["LaunchTemplates"]]


def test_destroy_with_the_controller_stopped_leaves_no_instance_template_provisioner_or_crd(ws, aws, cluster):
    ec2 = aws.client("ec2", REGION)
    write(ws, aws, cluster, CONTROLLER + SPOT_FLEET)
    ws.run("apply", "-auto-approve")

    # What a controller would have left running: instances and a launch template tagged for the
    # cluster, and a Node with its termination finalizer. No controller runs to clean them up.
    tags = [
        {"Key": "karpenter.sh/cluster", "Value": "demo"},
        {"Key": "kubernetes.io/cluster/demo", "Value": "owned"},
        {"Key": "karpenter.sh/provisioner-name", "Value": "spot-fleet"},
    ]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    lt = ec2.create_launch_template(
        LaunchTemplateName="karpenter-demo-test",
        LaunchTemplateData={"ImageId": image, "InstanceType": "m5.large"},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": tags[:2]}],
    )
    ec2.run_instances(
        ImageId=image,
        InstanceType="m5.large",
        MinCount=3,
        MaxCount=3,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    # An untagged instance is not ours and must survive.
    other = ec2.run_instances(ImageId=image, InstanceType="m5.large", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert len(tagged_instances(ec2)) == 3
    assert tagged_launch_templates(ec2) == [lt["LaunchTemplate"]["LaunchTemplateId"]]
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "ip-10-0-0-1.ec2.internal",
            "labels": {"karpenter.sh/provisioner-name": "spot-fleet"},
            "finalizers": ["karpenter.sh/termination"],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(node))

    destroyed = ws.run("destroy", "-auto-approve")
    assert "deleted while no controller is running" in destroyed.stdout + destroyed.stderr

    assert tagged_instances(ec2) == []
    assert tagged_launch_templates(ec2) == []
    assert not exists(cluster, "crd", "provisioners.karpenter.sh")
    assert not exists(cluster, "node", "ip-10-0-0-1.ec2.internal")
    assert not exists(cluster, "clusterrole", "karpenter")
    state = ec2.describe_instances(InstanceIds=[other])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"
    assert ws.state_list() == []


# One CLI: what is tested is the provider's destroy, which both drive the same way (the suite's
# time budget is spent elsewhere).
@pytest.mark.parametrize("cli", ["terraform"], indirect=True)
def test_a_controller_killed_mid_destroy_leaves_destroy_to_finish_with_nothing_left(ws, aws, cluster, tmp_path):
    """The controller is draining the Provisioner's node (a PodDisruptionBudget holds it) when it
    is SIGKILLed and not restarted: destroy notices its Lease is no longer renewed, stops waiting
    for it (it waited for the whole 15-minute timeout and failed before), terminates the
    instance itself and removes the Node, the Provisioner and the installation."""
    ec2 = aws.client("ec2", REGION)
    write(ws, aws, cluster, CONTROLLER + SPOT_FLEET)
    ws.run("apply", "-auto-approve")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, InstanceType="m5.large", MinCount=1, MaxCount=1,
                                 Placement={"AvailabilityZone": "ap-southeast-1a"},
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                     {"Key": "karpenter.sh/cluster", "Value": "demo"},
                                     {"Key": "karpenter.sh/provisioner-name", "Value": "spot-fleet"}]}],
                                 )["Instances"][0]["InstanceId"]
    # Names of this run's own: the other CLI's run may still be winding its namespace down.
    cli = ws.cli.rsplit("/", 1)[-1]
    node = f"ip-10-0-0-{2 if cli == 'terraform' else 3}.ap-southeast-1.compute.internal"
    ns = f"mid-destroy-{cli}"
    held = [
        {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": node, "finalizers": ["karpenter.sh/termination"],
            "labels": {"karpenter.sh/provisioner-name": "spot-fleet", "kubernetes.io/hostname": node}},
         "spec": {"providerID": f"aws:///ap-southeast-1a/{instance}"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "held", "namespace": ns, "labels": {"app": "held"}},
         "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                  "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "held", "namespace": ns},
         "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "held"}}}},
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": held}))
    controller = procs.start("mid-destroy-controller", [
        str(paths.cargo_binary("karpenter-controller")), "run", "--kubeconfig", str(cluster.kubeconfig),
        "--namespace", "karpenter", "--listen", f"127.0.0.1:{procs.free_port()}", "--cluster-name", "demo",
    ], tmp_path, {"RUST_LOG": "info,kube=warn", "POD_NAME": "mid-destroy"})
    try:
        procs.wait_for("the controller holding the Lease", lambda: cluster.kubectl(
            "get", "lease", "karpenter-leader-election", "-n", "karpenter", "-o", "jsonpath={.spec.holderIdentity}",
            check=False).stdout == "mid-destroy", 60)
        destroy = ws.popen("destroy", "-auto-approve")

        def draining() -> bool:
            got = cluster.kubectl("get", "node", node, "-o", "json", check=False)
            return got.returncode == 0 and bool(json.loads(got.stdout)["metadata"].get("deletionTimestamp"))

        procs.wait_for("the controller draining the node", draining, 120)
        # Killed once destroy has seen it alive and waits for its drain (a Lease renewal takes 2 s).
        time.sleep(15)
        procs.kill(controller)
        out, _ = destroy.communicate(timeout=600)
    finally:
        procs.stop_pid(controller.pid)
        cluster.kubectl("delete", "namespace", ns, "--timeout=120s", check=False)
    left = [f"instance {i}" for i in tagged_instances(ec2)] + [f"state: {r}" for r in ws.state_list()]
    left += [f"{kind} {name}" for kind, name in (("node", node), ("provisioner", "spot-fleet")) if exists(cluster, kind, name)]
    report(f"{cli} controller killed mid-destroy", ["SIGKILL"], left)
    assert destroy.returncode == 0, out
    assert "The controller stopped while draining Provisioner spot-fleet" in out, out
    assert not left


@pytest.mark.parametrize("kind", ["bad-kind"])
def test_an_unknown_interruption_kind_is_rejected_with_its_path(ws, aws, cluster, kind):
    write(ws, aws, cluster, CONTROLLER.replace("rebalance_recommendation", kind))
    plan = ws.run("plan", check=False)
    out = plan.stdout + plan.stderr
    assert plan.returncode == 1
    assert "Unknown interruption kind" in out and kind in out, out


@pytest.mark.parametrize("extra, summary, where", [
    ('  env = { AWS_REGION = "us-east-1" }', "Environment variable set by the installation", 'AWS_REGION = "us-east-1"'),
    ("  project_web_identity_token = true", "Web identity token without a role", "project_web_identity_token = true"),
])
def test_controller_settings_that_cannot_work_are_refused_at_plan_naming_the_attribute(ws, aws, cluster, extra,
                                                                                       summary, where):
    write(ws, aws, cluster, CONTROLLER.replace('  timeouts { delete = "2m" }', f'{extra}\n  timeouts {{ delete = "2m" }}'))
    plan = ws.run("plan", check=False)
    out = plan.stdout + plan.stderr
    assert plan.returncode == 1
    assert summary in out and where in out, out


def test_the_imds_monitor_daemonset_comes_and_goes_with_its_attribute(ws, aws, cluster):
    with_monitor = CONTROLLER.replace('  timeouts { delete = "2m" }', '  imds_monitor = true\n  timeouts { delete = "2m" }')
    write(ws, aws, cluster, with_monitor)
    ws.run("apply", "-auto-approve")
    ds = cluster.get_json("daemonset", "karpenter-imds-monitor", "-n", "karpenter")
    pod = ds["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["imds-monitor"]
    assert pod["containers"][0]["image"] == "registry.invalid/karpenter-rs/controller:test"
    assert pod["hostNetwork"] is True
    assert exists(cluster, "clusterrole", "karpenter-imds-monitor")
    assert ws.run("plan", "-detailed-exitcode", check=False).returncode == 0

    # Turned off, an update removes exactly the monitor's objects.
    write(ws, aws, cluster, CONTROLLER)
    ws.run("apply", "-auto-approve")
    assert not exists(cluster, "daemonset", "karpenter-imds-monitor", "-n", "karpenter")
    assert not exists(cluster, "clusterrole", "karpenter-imds-monitor")
    assert not exists(cluster, "serviceaccount", "karpenter-imds-monitor", "-n", "karpenter")
    assert exists(cluster, "deployment", "karpenter", "-n", "karpenter")
    ws.run("destroy", "-auto-approve")
    assert not exists(cluster, "deployment", "karpenter", "-n", "karpenter")
