"""What launched instances boot with, checked by the programs that read it on a real node.

The controller (a local process, as in test_provisioning) launches for pending pods; the launch
template's user data is read back from EC2 and given to its consumer: for AL2023, nodeadm's own
code (tests/env/go/nodeadm-check: the user-data provider that parses the MIME document and merges
its NodeConfig parts, then the validation `nodeadm init` applies), which prints the NodeConfig a
node would end up with; for Bottlerocket, a TOML parser and the documented settings keys. The
cluster coordinates come from EKS DescribeCluster, which the emulator answers for the local
control plane (harness.aws.register_eks_cluster). One launched instance really boots: a real
kubelet configured by nodeadm from that instance's user data (harness.instance_node) takes over the
Node the controller created and runs the pod it was launched for.
"""

from __future__ import annotations

import base64
import email
import json
import os
import subprocess
import tomllib

import boto3

from harness import cluster as cluster_mod
from harness import instance_node, paths, procs
from harness import node as node_mod
from test_provisioning import REGION, apply, env, events, nodes, parse_cpu, parse_mem, provisioner  # noqa: F401

# settings.kubernetes keys Bottlerocket documents for aws-k8s variants (the ones we write).
BOTTLEROCKET_KUBERNETES_KEYS = {
    "cluster-name", "api-server", "cluster-certificate", "cluster-dns-ip", "max-pods", "node-labels",
    "node-taints",
}


def pod(name: str, namespace: str, tolerate: str | None = None) -> dict:
    spec: dict = {"terminationGracePeriodSeconds": 0, "containers": [
        {"name": "app", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}]}
    if tolerate:
        spec["tolerations"] = [{"key": tolerate, "operator": "Exists"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def launched_user_data() -> tuple[str, str]:
    """(image id, decoded user data) of the one launch template the controller created."""
    ec2 = boto3.client("ec2", region_name=REGION)
    templates = ec2.describe_launch_templates(
        Filters=[{"Name": "tag-key", "Values": ["karpenter.sh/cluster"]}])["LaunchTemplates"]
    assert len(templates) == 1, templates
    version = ec2.describe_launch_template_versions(
        LaunchTemplateId=templates[0]["LaunchTemplateId"])["LaunchTemplateVersions"][0]
    data = version["LaunchTemplateData"]
    return data["ImageId"], base64.b64decode(data["UserData"]).decode()


def nodeadm_view(user_data: str, tmp_path) -> dict:
    checker = paths.go_component("nodeadm-check") / "krs-nodeadm-check"
    path = tmp_path / "user-data"
    path.write_text(user_data)
    out = subprocess.run([str(checker), str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ssm_image(parameter: str) -> str:
    return boto3.client("ssm", region_name=REGION).get_parameter(Name=parameter)["Parameter"]["Value"]


def wait_for_node(cluster) -> dict:
    return procs.wait_for("a node launched", lambda: (nodes(cluster) or [None])[0], 120)


def test_an_al2023_node_boots_with_a_node_config_nodeadm_accepts_and_the_users_script_first(
        cluster, aws, env, tmp_path):
    ns = env["namespace"]
    env["start"]()
    p = provisioner("boot", ["spot"])
    p["spec"]["labels"] = {"team": "a"}
    p["spec"]["taints"] = [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]
    p["spec"]["startupTaints"] = [{"key": "example.com/booting", "effect": "NoExecute"}]
    p["spec"]["provider"]["userData"] = "#!/bin/bash\necho hello from the provisioner\n"
    p["spec"]["kubeletConfiguration"] = {
        "maxPods": 20, "systemReserved": {"cpu": "100m"}, "evictionHard": {"memory.available": "5%"},
        "imageGCHighThresholdPercent": 90, "imageGCLowThresholdPercent": 70}
    apply(cluster, p)
    apply(cluster, pod("web", ns, tolerate="dedicated"))
    node = wait_for_node(cluster)

    image, user_data = launched_user_data()
    assert image == ssm_image("/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id")
    parts = email.message_from_string(user_data).get_payload()
    assert [part.get_content_type() for part in parts] == ["text/x-shellscript", "application/node.eks.aws"]
    assert parts[0].get_payload() == "#!/bin/bash\necho hello from the provisioner\n"

    config = nodeadm_view(user_data, tmp_path)["spec"]
    assert config["cluster"] == {
        "name": "e2e",
        "apiServerEndpoint": cluster.server,
        "certificateAuthority": base64.b64encode(cluster.pki.ca.read_bytes()).decode(),
        "cidr": cluster_mod.SERVICE_CIDR,
    }
    kubelet = config["kubelet"]
    assert kubelet["config"]["clusterDNS"] == ["10.0.0.10"]
    for key, value in p["spec"]["kubeletConfiguration"].items():
        assert kubelet["config"][key] == value, key
    # What the node reports holding follows from the same settings: 20 pods, 100m less cpu.
    assert node["status"]["allocatable"]["pods"] == "20"
    assert node["status"]["capacity"]["pods"] == "20"
    assert kubelet["config"]["registerWithTaints"] == [
        {"key": "dedicated", "value": "web", "effect": "NoSchedule"},
        {"key": "example.com/booting", "effect": "NoExecute"},
    ]
    assert kubelet["flags"] == ["--node-labels=karpenter.sh/provisioner-name=boot,team=a"]
    # The Node the controller registered says which image it runs, for drift checks.
    assert node["metadata"]["annotations"]["karpenter.k8s.aws/image-id"] == image


def test_a_bottlerocket_node_boots_with_toml_settings_merged_over_the_users(cluster, aws, env):
    ns = env["namespace"]
    env["start"]()
    p = provisioner("rocket", ["spot"])
    p["spec"]["provider"]["amiFamily"] = "Bottlerocket"
    p["spec"]["provider"]["userData"] = (
        '[settings.kubernetes]\ncluster-name = "not-this"\n\n[settings.host-containers.admin]\nenabled = true\n')
    p["spec"]["taints"] = [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]
    apply(cluster, p)
    apply(cluster, pod("web", ns, tolerate="dedicated"))
    wait_for_node(cluster)

    image, user_data = launched_user_data()
    assert image == ssm_image("/aws/service/bottlerocket/aws-k8s-1.35/x86_64/latest/image_id")
    settings = tomllib.loads(user_data)["settings"]
    kubernetes = settings["kubernetes"]
    assert set(kubernetes) <= BOTTLEROCKET_KUBERNETES_KEYS, set(kubernetes) - BOTTLEROCKET_KUBERNETES_KEYS
    assert kubernetes["cluster-name"] == "e2e"
    assert kubernetes["api-server"] == cluster.server
    assert base64.b64decode(kubernetes["cluster-certificate"]) == cluster.pki.ca.read_bytes()
    assert kubernetes["cluster-dns-ip"] == "10.0.0.10"
    assert kubernetes["node-labels"] == {"karpenter.sh/provisioner-name": "rocket"}
    assert kubernetes["node-taints"] == {"dedicated": ["web:NoSchedule"]}
    assert settings["host-containers"]["admin"]["enabled"] is True


def test_a_provisioner_that_cannot_bootstrap_is_refused_and_nothing_launches(cluster, aws, env):
    ns = env["namespace"]
    # The API server refuses AL2 with the reason (the CRD's rule), naming the field.
    p = provisioner("old", ["spot"])
    p["spec"]["provider"]["amiFamily"] = "AL2"
    refused = cluster.kubectl("apply", "-f", "-", input=json.dumps(p), check=False)
    assert refused.returncode != 0
    assert "spec.provider.amiFamily" in refused.stderr and "end of support" in refused.stderr, refused.stderr

    # TOML the controller cannot merge is refused by the controller, on the Provisioner.
    env["start"]()
    p = provisioner("bad-toml", ["spot"])
    p["spec"]["provider"]["amiFamily"] = "Bottlerocket"
    p["spec"]["provider"]["userData"] = "[settings.kubernetes\nbroken ="
    apply(cluster, p)
    apply(cluster, pod("web", ns))

    def warned() -> list[dict]:
        return [e for e in events(cluster, "default", "InvalidProvisioner")
                if e["involvedObject"]["name"] == "bad-toml"]

    warning = procs.wait_for("an InvalidProvisioner event", warned, 60)[0]
    assert "spec.provider.userData: not valid TOML" in warning["message"], warning

    # Reservations no instance type in the catalog can hold: only the controller, which has the
    # catalog, can tell; it refuses the Provisioner and names what runs out.
    p = provisioner("no-room", ["spot"])
    p["spec"]["kubeletConfiguration"] = {"systemReserved": {"cpu": "2000"}}
    apply(cluster, p)

    def no_room() -> list[dict]:
        return [e for e in events(cluster, "default", "InvalidProvisioner")
                if e["involvedObject"]["name"] == "no-room"]

    warning = procs.wait_for("an InvalidProvisioner event for no-room", no_room, 60)[0]
    assert "spec.kubeletConfiguration: leaves no allocatable cpu on any instance type" in warning["message"], warning
    assert not nodes(cluster)
    assert not boto3.client("ec2", region_name=REGION).describe_instances(
        Filters=[{"Name": "tag-key", "Values": ["karpenter.sh/cluster"]}])["Reservations"]


def test_without_the_clusters_coordinates_nothing_is_launched_and_the_pod_says_why(cluster, aws, env):
    ns = env["namespace"]
    boto3.client("eks", region_name=REGION).delete_cluster(name="e2e")
    env["start"]()
    apply(cluster, provisioner("boot", ["spot"]))
    apply(cluster, pod("web", ns))

    def failed() -> list[dict]:
        return [e for e in events(cluster, ns, "LaunchFailed") if "NodeBootstrap" in (e.get("message") or "")]

    event = procs.wait_for("a LaunchFailed NodeBootstrap event", failed, 60)[0]
    assert "DescribeCluster" in event["message"] and "clusterEndpoint" in event["message"], event
    assert not nodes(cluster)


def test_custom_launches_the_newest_image_the_ami_selector_matches_with_the_users_data_verbatim(
        cluster, aws, env):
    ns = env["namespace"]
    ec2 = boto3.client("ec2", region_name=REGION)
    base = ssm_image("/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id")
    builder = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1, InstanceType="m5.large")["Instances"][0]["InstanceId"]
    images = []
    for name in ("golden-1", "golden-2"):
        image = ec2.create_image(InstanceId=builder, Name=name)["ImageId"]
        ec2.create_tags(Resources=[image], Tags=[{"Key": "team", "Value": "ml"}])
        images.append(image)
    ec2.terminate_instances(InstanceIds=[builder])
    newest = max(ec2.describe_images(ImageIds=images)["Images"], key=lambda i: (i["CreationDate"], i["ImageId"]))

    env["start"]()
    p = provisioner("golden", ["spot"])
    p["spec"]["provider"]["amiFamily"] = "Custom"
    p["spec"]["provider"]["amiSelector"] = {"team": "ml", "aws::name": "golden-*"}
    p["spec"]["provider"]["userData"] = "#!/bin/bash\n/opt/golden/join-cluster\n"
    apply(cluster, p)
    apply(cluster, pod("web", ns))
    node = wait_for_node(cluster)
    image, user_data = launched_user_data()
    assert image == newest["ImageId"]
    assert user_data == "#!/bin/bash\n/opt/golden/join-cluster\n"
    assert node["metadata"]["annotations"]["karpenter.k8s.aws/image-id"] == image


def test_an_ami_selector_that_matches_nothing_launches_nothing_and_says_so(cluster, aws, env):
    ns = env["namespace"]
    env["start"]()
    p = provisioner("nothing", ["spot"])
    p["spec"]["provider"]["amiSelector"] = {"team": "nobody"}
    apply(cluster, p)
    apply(cluster, pod("web", ns))

    def failed() -> list[dict]:
        return [e for e in events(cluster, ns, "LaunchFailed") if "amiSelector" in (e.get("message") or "")]

    event = procs.wait_for("a LaunchFailed event naming the amiSelector", failed, 60)[0]
    assert "matches no available image for x86_64" in event["message"], event
    assert not nodes(cluster)


def reserved(node: dict, resource: str) -> int:
    """What the node's kubelet keeps from pods: capacity - allocatable, in bytes."""
    status = node["status"]
    return parse_mem(status["capacity"][resource]) - parse_mem(status["allocatable"][resource])


def test_a_launched_instance_boots_from_its_user_data_on_a_real_kubelet_as_the_node_the_controller_expects(
        cluster, aws, env, registry_server, tmp_path):
    ns = env["namespace"]
    env["start"]()
    p = provisioner("real", ["spot"])
    # A type with as many vCPUs as this machine: the kubelet reports the machine it runs on, and
    # nodeadm reserves CPU for the cores it finds there.
    p["spec"]["requirements"].append(
        {"key": "karpenter.k8s.aws/instance-cpu", "operator": "In", "values": [str(os.cpu_count())]})
    # The instance's private address goes on this machine: keep it out of the service range,
    # which the first zone's subnet overlaps.
    for r in p["spec"]["requirements"]:
        if r["key"] == "topology.kubernetes.io/zone":
            r["values"] = ["ap-southeast-1b"]
    p["spec"]["labels"] = {"team": "a", cluster_mod.BOOTED_INSTANCE_LABEL: "true"}
    p["spec"]["taints"] = [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]
    p["spec"]["kubeletConfiguration"] = {"maxPods": 17}
    apply(cluster, p)
    workload = pod("web", ns, tolerate="dedicated")
    workload["spec"]["containers"][0]["image"] = f"{registry_server.address}/pause:{node_mod.PAUSE_TAG}"
    workload["spec"]["containers"][0]["resources"]["requests"] = {"cpu": "100m", "memory": "64Mi"}
    apply(cluster, workload)
    expected = wait_for_node(cluster)
    name = expected["metadata"]["name"]
    instance_id = expected["spec"]["providerID"].rsplit("/", 1)[-1]

    booted = instance_node.boot(cluster, registry_server, REGION, instance_id, tmp_path / "instance")
    try:
        # What nodeadm made of the user data is what the controller registered.
        assert booted.name == name
        assert booted.kubelet_config["providerID"] == expected["spec"]["providerID"]
        assert booted.kubelet_drop_in["registerWithTaints"] == [
            t for t in expected["spec"]["taints"] if not t["key"].startswith("node.kubernetes.io/")]
        labels = dict(kv.split("=", 1) for kv in (booted.flag("node-labels") or "").split(","))
        assert labels == {"karpenter.sh/provisioner-name": "real", "team": "a",
                          cluster_mod.BOOTED_INSTANCE_LABEL: "true"}
        assert all(expected["metadata"]["labels"][k] == v for k, v in labels.items())
        assert booted.flag("node-ip") == booted.ip

        def ready() -> dict | None:
            booted.check_alive()
            got = cluster.get_json("node", name)
            conditions = got["status"].get("conditions", [])
            running = got["status"].get("nodeInfo", {}).get("kubeletVersion")
            return got if running and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None

        real = procs.wait_for(f"the kubelet of {instance_id} Ready as {name}", ready, 180, interval=0.5)
        # The kubelet reports this machine; what it keeps from pods follows from the same numbers
        # the scheduler assumed for the instance type (this machine has as many cores).
        assert real["spec"]["providerID"] == expected["spec"]["providerID"]
        assert real["status"]["allocatable"]["pods"] == expected["status"]["allocatable"]["pods"] == "17"
        assert parse_cpu(real["status"]["allocatable"]["cpu"]) == parse_cpu(expected["status"]["allocatable"]["cpu"])
        assert reserved(real, "memory") == reserved(expected, "memory")
        # Ephemeral storage: 1Gi kube-reserved plus the 10% eviction threshold of the disk.
        for n in (real, expected):
            capacity = parse_mem(n["status"]["capacity"]["ephemeral-storage"])
            assert abs(reserved(n, "ephemeral-storage") - capacity // 10 - (1 << 30)) <= 1 << 20, n["status"]

        def running() -> dict | None:
            booted.check_alive()
            got = cluster.get_json("pod", "web", "-n", ns)
            return got if got["status"].get("phase") == "Running" else None

        ran = procs.wait_for("the pod running on the booted instance", running, 120, interval=0.5)
        assert ran["spec"]["nodeName"] == name
        assert ran["status"]["podIP"].startswith(instance_node.POD_CIDR.rsplit(".", 1)[0] + ".")
    finally:
        cluster.kubectl("delete", "pod", "web", "-n", ns, "--grace-period=0", "--force", check=False)
        booted.stop()
