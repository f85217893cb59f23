"""One launched instance booted for real: the kubelet of an EC2 instance the controller launched,
configured by nodeadm from that instance's user data, running on this machine beside the system
node (harness.node) with a containerd of its own.

Where each part comes from:
- The instance metadata service is amazon-ec2-metadata-mock serving the instance as the AWS
  emulator describes it (id, type, zone, region, private address, image) and the user data EC2
  holds for it (DescribeInstanceAttribute userData, copied from the launch template at launch).
- nodeadm's own code runs the config phase of `nodeadm init` on it (`krs-nodeadm-check
  configure`, tests/env/go/nodeadm-check): NodeConfig from the user data, instance details from
  the metadata service, validation, then the kubelet daemon writes the kubelet configuration and
  its drop-in, the kubeconfig, the cluster CA and the kubelet's arguments where it writes them on
  a node. It runs in a private mount namespace with overlays on /etc and /var/lib, so what it
  writes lands under this node's directory and the machine's own files are untouched. The run
  phase of `nodeadm init` (systemd starting the daemons) has no systemd to talk to here: the
  harness starts the kubelet itself, from exactly those files and arguments, with the changes in
  `HARNESS_DROP_IN` and `_kubelet_argv`, each for a reason given there.
- The instance's private address is put on the machine (a /32 on the host interface), as EC2 puts
  it on the instance's network interface: the kubelet refuses a node IP the machine does not have.

The kubelet finds the Node object the controller created for the instance (named by its private
DNS name, the hostname an EC2 instance has) and takes it over, as on EC2. One instance node runs
at a time per machine (its own lock): its cgroup root, bridge and pod range are fixed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import yaml

from . import cluster as cluster_mod
from . import hostnet, node, paths, procs
from .registry import Registry

BRIDGE = "krs-cni1"
POD_CIDR = "10.88.1.0/24"
# The system node's kubelet owns /kubepods; this one's pods live under a cgroup root of its own.
CGROUP_PARENT = "krs-instance"
LOCK = Path("/run/karpenter-rs-instance-node.lock")

# Machine facts that differ from an AL2023 instance, laid over nodeadm's configuration as the last
# kubelet drop-in. Everything else (max pods, reservations, eviction thresholds, cluster DNS,
# taints, provider ID, authentication) is nodeadm's, from the user data.
HARNESS_DROP_IN = {
    # No systemd on this machine, and it mounts cgroup v1 (kubelet 1.35 refuses v1 unless told).
    "cgroupDriver": "cgroupfs",
    "failCgroupV1": False,
    "cgroupRoot": f"/{CGROUP_PARENT}",
    # AL2023 sets the kernel parameters the kubelet insists on under this flag; a shared build
    # machine does not, and they are machine-wide.
    "protectKernelDefaults": False,
    # Nothing approves kubelet serving-certificate requests here: the harness issues one.
    "serverTLSBootstrap": False,
}


class InstanceNodeError(RuntimeError):
    pass


@dataclass
class InstanceNode:
    name: str
    instance_id: str
    ip: str
    dir: Path
    lock: int
    # What nodeadm wrote: the kubelet configuration, its drop-in and the kubelet's arguments.
    kubelet_config: dict = field(default_factory=dict)
    kubelet_drop_in: dict = field(default_factory=dict)
    kubelet_args: list[str] = field(default_factory=list)
    procs: list[procs.Proc] = field(default_factory=list)

    def check_alive(self) -> None:
        dead = [p for p in self.procs if not p.alive()]
        if dead:
            raise InstanceNodeError("; ".join(f"{p.name} exited:\n{p.tail()}" for p in dead))

    def flag(self, name: str) -> str | None:
        """The value nodeadm gave the kubelet flag --name, if it gave one."""
        prefix = f"--{name}="
        return next((a[len(prefix):] for a in self.kubelet_args if a.startswith(prefix)), None)

    def stop(self) -> None:
        cleanup(self.dir, self.ip)
        os.close(self.lock)


def _instance(ec2, instance_id: str) -> dict:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]


def _metadata_config(instance: dict, region: str, user_data_b64: str) -> dict:
    """amazon-ec2-metadata-mock's configuration for this instance (its defaults fill the rest)."""
    zone = instance["Placement"]["AvailabilityZone"]
    mac = "02:00:00:00:00:01"
    return {
        "metadata": {"values": {
            "instance-id": instance["InstanceId"],
            "instance-type": instance["InstanceType"],
            "ami-id": instance["ImageId"],
            "local-ipv4": instance["PrivateIpAddress"],
            "local-hostname": instance["PrivateDnsName"],
            "hostname": instance["PrivateDnsName"],
            "mac": mac,
            "placement-availability-zone": zone,
            "placement-region": region,
            "services-domain": "amazonaws.com",
        }},
        "dynamic": {"values": {"instance-identity-document": {
            "instanceId": instance["InstanceId"],
            "instanceType": instance["InstanceType"],
            "imageId": instance["ImageId"],
            "availabilityZone": zone,
            "region": region,
            "privateIp": instance["PrivateIpAddress"],
            "architecture": instance.get("Architecture", "x86_64"),
            "version": "2017-09-30",
        }}},
        "userdata": {"values": {"userdata": user_data_b64}},
    }


def _run_nodeadm(directory: Path, imds: str) -> Path:
    """nodeadm's config phase with its writes to /etc and /var/lib confined to overlays under
    `directory`; returns the directory standing for the instance's root file system."""
    root = directory / "root"
    work = directory / "overlay-work"
    mounts = []
    for top in ("etc", "var/lib"):
        upper = root / top
        upper.mkdir(parents=True, exist_ok=True)
        (work / top).mkdir(parents=True, exist_ok=True)
        mounts.append(f"mount -t overlay overlay -o lowerdir=/{top},upperdir={upper},workdir={work / top} /{top}")
    checker = paths.go_component("nodeadm-check") / "krs-nodeadm-check"
    kubelet_dir = paths.go_component("kubernetes")
    # nodeadm only checks that the ECR credential provider exists; nothing here pulls from ECR.
    provider_stub = directory / "ecr-credential-provider"
    provider_stub.write_text("")
    script = " && ".join([*mounts, f"exec {shlex.quote(str(checker))} configure"])
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
        capture_output=True, text=True,
        env={**os.environ, "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds,
             "ECR_CREDENTIAL_PROVIDER_BIN_PATH": str(provider_stub),
             # nodeadm asks `kubelet --version` which configuration layout to write.
             "PATH": f"{kubelet_dir}:{os.environ['PATH']}"},
    )
    if out.returncode != 0:
        raise InstanceNodeError(f"nodeadm refused the instance's user data: {out.stderr.strip()}")
    return root


def _environment(path: Path) -> dict[str, str]:
    """The systemd EnvironmentFile nodeadm writes (NAME="value" lines)."""
    env = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        env[name] = value.strip('"')
    return env


def _relocated(root: Path, value: str) -> str:
    """A path nodeadm wrote on the instance, as found under `root` here."""
    return str(root / value.lstrip("/")) if value.startswith(("/etc/", "/var/lib/")) else value


def _kubeconfig(cluster: cluster_mod.Cluster, root: Path, name: str, directory: Path) -> Path:
    """nodeadm's kubeconfig (API server endpoint and CA from the user data) with its user swapped:
    on EKS the kubelet authenticates with `aws eks get-token`, which the aws-iam-authenticator
    webhook of EKS's API server checks; the local API server trusts client certificates, so the
    node gets one for system:node:<name>, as EKS maps the node role to."""
    config = yaml.safe_load((root / "var/lib/kubelet/kubeconfig").read_text())
    for entry in config["clusters"]:
        entry["cluster"]["certificate-authority"] = _relocated(root, entry["cluster"]["certificate-authority"])
    pair = cluster.pki.issue("instance-kubelet", f"system:node:{name}", "system:nodes")
    for entry in config["users"]:
        entry["user"] = {"client-certificate": str(pair.cert), "client-key": str(pair.key)}
    path = directory / "kubelet.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def _kubelet_argv(started: InstanceNode, cluster: cluster_mod.Cluster, root: Path) -> list[str]:
    """nodeadm's kubelet arguments, with its paths under `root`, and these changes: the kubeconfig
    (see `_kubeconfig`); no image credential provider (nothing is pulled from ECR); the
    machine-specific drop-in last; the hostname EC2 gives the instance, which this machine does not
    have; a root directory of its own beside the system node's kubelet."""
    kubelet_bin = paths.go_component("kubernetes") / "kubelet"
    argv = [str(kubelet_bin)]
    for arg in started.kubelet_args:
        name, _, value = arg.partition("=")
        if name in ("--image-credential-provider-bin-dir", "--image-credential-provider-config"):
            continue
        if name == "--kubeconfig":
            value = str(_kubeconfig(cluster, root, started.name, started.dir))
        argv.append(f"{name}={_relocated(root, value)}" if value else name)
    if started.flag("config-dir") is None:
        raise InstanceNodeError("nodeadm wrote no kubelet drop-in directory; the harness needs one for its machine facts")
    return [*argv, f"--hostname-override={started.name}", f"--root-dir={started.dir / 'kubelet'}", "--v=1"]


def _harness_drop_in(started: InstanceNode, cluster: cluster_mod.Cluster, root: Path, drop_in_dir: Path) -> None:
    serving = cluster.pki.issue("instance-kubelet-serving", started.name, server=True, ips=(started.ip,),
                                dns=(started.name,))
    client_ca = started.kubelet_config["authentication"]["x509"]["clientCAFile"]
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        **HARNESS_DROP_IN,
        # The files nodeadm wrote, where they landed here.
        "authentication": {"x509": {"clientCAFile": _relocated(root, client_ca)}},
        "containerRuntimeEndpoint": f"unix://{started.dir / 'containerd.sock'}",
        # The system node's kubelet may hold the default ports.
        "address": started.ip,
        "port": procs.free_port(),
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": procs.free_port(),
        "tlsCertFile": str(serving.cert),
        "tlsPrivateKeyFile": str(serving.key),
        "podLogsDir": str(started.dir / "pod-logs"),
    }
    (drop_in_dir / "99-krs-harness.conf").write_text(json.dumps(config, indent=2))


def _cgroup_root() -> None:
    """The kubelet requires its cgroup root to exist; a v1 cpuset child starts with no CPUs or
    memory nodes, so it gets its parent's."""
    for hierarchy in node.CGROUP_ROOT.iterdir():
        if hierarchy.name == "unified" or not hierarchy.is_dir():
            continue
        cg = hierarchy / CGROUP_PARENT
        cg.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (hierarchy / name).exists():
                (cg / name).write_text((hierarchy / name).read_text())


def _take_lock(directory: Path) -> int:
    lock = node.hold_lock(LOCK, "another instance node runs on this machine")
    node.claim(lock, directory)
    return lock


def boot(cluster: cluster_mod.Cluster, registry: Registry, region: str, instance_id: str,
         directory: Path) -> InstanceNode:
    """Boots the instance: metadata service, nodeadm, containerd, kubelet. Returns once the
    kubelet has started (the caller waits for what it expects of the Node)."""
    ec2 = boto3.client("ec2", region_name=region)
    instance = _instance(ec2, instance_id)
    user_data = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]
    if not user_data.get("Value"):
        raise InstanceNodeError(f"EC2 holds no user data for {instance_id}")
    ip = instance["PrivateIpAddress"]
    started = InstanceNode(instance["PrivateDnsName"], instance_id, ip, directory, _take_lock(directory))
    try:
        cleanup(directory, ip)
        directory.mkdir(parents=True, exist_ok=True)
        hostnet.ensure()
        subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", hostnet.INTERFACE], check=True, capture_output=True)

        config = directory / "metadata.json"
        config.write_text(json.dumps(_metadata_config(instance, region, user_data["Value"])))
        port = procs.free_port()
        mock = paths.go_component("ec2-metadata-mock") / "ec2-metadata-mock"
        started.procs.append(procs.start("imds", [str(mock), "-c", str(config), "-n", "127.0.0.1", "-p", str(port)],
                                         directory))
        imds = f"http://127.0.0.1:{port}"
        procs.wait_for("the instance metadata service", lambda: started.check_alive() or _answers(imds), 30)

        root = _run_nodeadm(directory, imds)
        started.kubelet_config = json.loads((root / "etc/kubernetes/kubelet/config.json").read_text())
        environment = _environment(root / "etc/eks/kubelet/environment")
        started.kubelet_args = shlex.split(environment.get("NODEADM_KUBELET_ARGS", ""))
        drop_in_dir = Path(_relocated(root, started.flag("config-dir") or "/etc/kubernetes/kubelet/config.json.d"))
        drop_ins = sorted(drop_in_dir.glob("*.conf"))
        started.kubelet_drop_in = json.loads(drop_ins[0].read_text()) if drop_ins else {}

        sandbox = node.push_pause_image(registry, directory)
        node.cni_config(directory, BRIDGE, POD_CIDR)
        containerd_config = node.containerd_config(directory, registry, sandbox, paths.go_component("runc") / "runc")
        containerd_bin = paths.go_component("containerd")
        started.procs.append(procs.start(
            "containerd", [str(containerd_bin / "containerd"), "--config", str(containerd_config), "--log-level", "warn"],
            directory, env={"PATH": f"{containerd_bin}:{os.environ['PATH']}"}))
        procs.wait_for("containerd's socket", lambda: started.check_alive() or (directory / "containerd.sock").exists(), 30)

        _cgroup_root()
        _harness_drop_in(started, cluster, root, drop_in_dir)
        # nodeadm's environment file sets what the kubelet reads from its environment.
        kubelet_env = {k: v for k, v in environment.items() if k != "NODEADM_KUBELET_ARGS"}
        started.procs.append(procs.start("kubelet", _kubelet_argv(started, cluster, root), directory, env=kubelet_env))
    except BaseException:
        started.stop()
        raise
    return started


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/latest/meta-data/instance-id", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def cleanup(directory: Path, ip: str | None = None) -> None:
    """Stops the instance's processes and removes its traces: pod processes and shims, mounts
    under its directory, its bridge, cgroups and the private address. Safe when nothing runs."""
    if directory.exists():
        procs.stop_all(directory)
    for _ in range(3):
        node.kill(node.kubepods_pids(f"{CGROUP_PARENT}/"))
        node.kill(node.shim_pids(directory))
    node.unmount_under(directory)
    subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True)
    node.remove_cgroups(f"{CGROUP_PARENT}/")
    for hierarchy in node.CGROUP_ROOT.glob(f"*/{CGROUP_PARENT}"):
        try:
            hierarchy.rmdir()
        except OSError:
            pass
    if ip:
        subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", hostnet.INTERFACE], capture_output=True)
