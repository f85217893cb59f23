"""One real node for the local environment: containerd and runc (built from the Go module proxy),
the CNI plugins (Debian package), the kubelet and kube-proxy from the same Kubernetes build as
the control plane, and the pause image built here from the Kubernetes source.

It registers as a system node: labelled `karpenter-rs.test/real-kubelet=true` (KWOK leaves it to
its kubelet) and tainted `CriticalAddonsOnly=true:NoSchedule`, so only system pods that tolerate
the taint (the controller's Deployment does) run on it and workloads stay Pending for the
controller, which never manages a node without its provisioner label.

The node is machine-wide state (cgroups under /kubepods, kube-proxy's iptables chains, the CNI
bridge), so one runs at a time per machine: a lock file says whose it is. Everything it creates
lives under its directory or is removed by `cleanup()`, which also runs before a start, so a
killed run never leaves the next one a broken machine."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import cluster as cluster_mod
from . import hostnet, paths, procs
from .registry import Registry

NAME = "krs-system-0"
POD_CIDR = "10.88.0.0/24"
BRIDGE = "krs-cni0"
TAINT = {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}
LABELS = {cluster_mod.REAL_KUBELET_LABEL: "true", "node.kubernetes.io/role": "system"}
# runc comes from the Go module proxy (tests/env/go/runc): Debian's runc 1.1.5 fails to start any
# container under containerd 2.4 here ("can't get final child's PID from pipe: EOF") and Debian's
# crun 1.8 refuses the runtime-spec version containerd 2.4 writes. libseccomp is runc's.
DEBIAN_PACKAGES = ("libseccomp-dev", "containernetworking-plugins", "iptables", "conntrack")
CNI_BIN = Path("/usr/lib/cni")
PAUSE_TAG = "3.10.1"
LOCK = Path("/run/karpenter-rs-node.lock")
CGROUP_ROOT = Path("/sys/fs/cgroup")


class NodeError(RuntimeError):
    pass


@dataclass
class Node:
    name: str
    dir: Path
    ip: str
    lock: int
    procs: list[procs.Proc] = field(default_factory=list)

    def check_alive(self) -> None:
        dead = [p for p in self.procs if not p.alive()]
        if dead:
            raise NodeError("; ".join(f"{p.name} exited:\n{p.tail()}" for p in dead))

    def stop(self) -> None:
        cleanup(self.dir)
        os.close(self.lock)


def _run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, **kwargs)


def pause_binary() -> Path:
    """`pause` compiled from build/pause/linux/pause.c of the Kubernetes module the control plane
    is built from, statically, as its Makefile does; once per Kubernetes version."""
    wrapper = paths.REPO / "tests" / "env" / "go" / "kubernetes"
    source = Path(_run("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes", cwd=wrapper,
                       env={**os.environ, "GOFLAGS": "-mod=mod"}).stdout.strip())
    version = source.name.split("@")[-1]
    out = paths.CACHE / "bin" / f"pause-{version}" / "pause"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        _run("gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{PAUSE_TAG}-karpenter-rs",
             "-o", f"{out}.tmp", str(source / "build" / "pause" / "linux" / "pause.c"))
        os.replace(f"{out}.tmp", out)
    return out


def buildah(*args: str) -> list[str]:
    """buildah with the storage controller/image/build.sh uses (in the cache, vfs)."""
    return ["buildah", "--root", str(paths.CACHE / "buildah" / "storage"), "--runroot",
            str(paths.CACHE / "buildah" / "run"), "--storage-driver", "vfs", *args]


def push_pause_image(registry: Registry, directory: Path) -> str:
    """The sandbox image, as the upstream pause Dockerfile builds it, pushed to the registry."""
    context = directory / "pause-image"
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy(pause_binary(), context / "pause")
    (context / "Containerfile").write_text('FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n')
    name = f"localhost/pause:{PAUSE_TAG}"
    _run(*buildah("bud", "--quiet", "--timestamp", "0", "--isolation", "chroot", "-t", name, str(context)))
    ref = f"{registry.address}/pause:{PAUSE_TAG}"
    _run(*buildah("push", "--quiet", "--tls-verify=false", name, f"docker://{ref}"))
    return ref


def containerd_config(directory: Path, registry: Registry, sandbox: str, runc: Path) -> Path:
    hosts = directory / "containerd" / "certs.d" / registry.address
    hosts.mkdir(parents=True, exist_ok=True)
    # Plain HTTP on loopback, as a registry mirror inside a VPC would be TLS: pulls only.
    (hosts / "hosts.toml").write_text(
        f'server = "http://{registry.address}"\n\n[host."http://{registry.address}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )
    config = directory / "containerd" / "config.toml"
    config.write_text(f"""version = 3
root = "{directory / 'containerd' / 'root'}"
state = "{directory / 'containerd' / 'state'}"

[grpc]
  address = "{directory / 'containerd.sock'}"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{sandbox}"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "{directory / 'containerd' / 'certs.d'}"

[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # These machines withhold CAP_SYS_RESOURCE even from root, so no process may lower its
  # oom_score_adj: containers get no lower score than containerd's own instead of failing.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{CNI_BIN}"]
    conf_dir = "{directory / 'cni'}"
""")
    return config


def cni_config(directory: Path, bridge: str = BRIDGE, pod_cidr: str = POD_CIDR) -> None:
    """A bridge on the machine with host-local addresses; pods reach the host address (API
    server, AWS emulator) through the bridge's gateway, so no masquerading is needed."""
    (directory / "cni").mkdir(parents=True, exist_ok=True)
    conflist = {
        "cniVersion": "1.0.0",
        "name": "krs",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(directory / "cni-ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (directory / "cni" / "10-krs.conflist").write_text(json.dumps(conflist, indent=2))


def _kubeconfig(cluster: cluster_mod.Cluster, path: Path, cn: str, org: str | None) -> Path:
    pair = cluster.pki.issue(path.stem, cn, org)
    return cluster_mod.kubeconfig_file(path, cluster.server, cluster.pki.ca, pair, cn)


def _kubelet_config(cluster: cluster_mod.Cluster, directory: Path, ip: str) -> Path:
    serving = cluster.pki.issue("kubelet-serving", NAME, server=True, ips=(ip,), dns=(NAME,))
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # This machine mounts cgroup v1, which kubelet 1.35 refuses unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{directory / 'containerd.sock'}",
        "address": ip,
        "port": procs.free_port(),
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": procs.free_port(),
        "tlsCertFile": str(serving.cert),
        "tlsPrivateKeyFile": str(serving.key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(cluster.pki.ca)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": "cluster.local",
        "registerWithTaints": [TAINT],
        "failSwapOn": False,
        "maxPods": 30,
        "podLogsDir": str(directory / "pod-logs"),
        "serializeImagePulls": False,
        # A shared build machine's disk is often fuller than a node's: evict only when it is
        # really out of room, and never collect the images the tests pushed.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "nodeStatusReportFrequency": "10s",
    }
    path = directory / "kubelet-config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _still_running(directory: Path) -> bool:
    pid_file = directory / "kubelet.pid"
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def _take_machine(directory: Path) -> int:
    """The machine-wide lock: held by the process that started the node, and, once that process
    has gone (`make env-up` returns while its node runs), the previous owner's kubelet still
    counts as holding the machine."""
    lock = hold_lock(LOCK, "another local environment's node runs on this machine")
    previous = LOCK.read_text().strip().split("\t")[-1]
    if previous and Path(previous) != directory and _still_running(Path(previous)):
        os.close(lock)
        raise NodeError(f"the node of {previous} still runs on this machine; stop it first (`make env-down`)")
    claim(lock, directory)
    return lock


def hold_lock(path: Path, busy: str) -> int:
    """Holds the lock file `path` for as long as the returned descriptor stays open; if another
    process holds it, fails saying `busy` and who holds it."""
    lock = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        owner = path.read_text().strip() or "another process"
        raise NodeError(f"{busy} ({owner}); stop it first") from None
    return lock


def claim(lock: int, directory: Path) -> None:
    """Writes into a held lock file who holds it: this process, for `directory`."""
    os.ftruncate(lock, 0)
    os.write(lock, f"pid {os.getpid()}\t{directory}".encode())


def start(cluster: cluster_mod.Cluster, registry: Registry, directory: Path) -> Node:
    """Starts the node and returns once it is Ready."""
    ip = hostnet.ensure()
    lock = _take_machine(directory)
    node = Node(NAME, directory, ip, lock)
    try:
        cleanup(directory)
        subprocess.run([str(paths.REPO / "tests" / "bin" / "apt-install.sh"), *DEBIAN_PACKAGES], check=True)
        directory.mkdir(parents=True, exist_ok=True)
        k8s_bin = paths.go_component("kubernetes")
        containerd_bin = paths.go_component("containerd")
        runc = paths.go_component("runc") / "runc"
        sandbox = push_pause_image(registry, directory)
        cni_config(directory)
        config = containerd_config(directory, registry, sandbox, runc)
        node.procs.append(procs.start(
            "containerd", [str(containerd_bin / "containerd"), "--config", str(config), "--log-level", "warn"],
            directory,
            # containerd finds its shim on PATH.
            env={"PATH": f"{containerd_bin}:{os.environ['PATH']}"},
        ))
        procs.wait_for("containerd's socket", lambda: node.check_alive() or (directory / "containerd.sock").exists(), 30)

        kubelet_kc = _kubeconfig(cluster, directory / "kubelet.kubeconfig", f"system:node:{NAME}", "system:nodes")
        labels = ",".join(f"{k}={v}" for k, v in LABELS.items())
        node.procs.append(procs.start(
            "kubelet",
            [str(k8s_bin / "kubelet"), f"--config={_kubelet_config(cluster, directory, ip)}",
             f"--kubeconfig={kubelet_kc}", f"--hostname-override={NAME}", f"--node-ip={ip}",
             f"--root-dir={directory / 'kubelet'}", f"--node-labels={labels}", "--v=1"],
            directory,
        ))
        proxy_kc = _kubeconfig(cluster, directory / "kube-proxy.kubeconfig", "system:kube-proxy", None)
        node.procs.append(procs.start(
            "kube-proxy",
            [str(k8s_bin / "kube-proxy"), f"--kubeconfig={proxy_kc}", f"--hostname-override={NAME}",
             "--proxy-mode=iptables", f"--cluster-cidr={POD_CIDR}",
             # Leave the machine's conntrack sysctls alone: nothing here needs them raised.
             "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
             "--conntrack-tcp-timeout-close-wait=0",
             f"--healthz-bind-address=127.0.0.1:{procs.free_port()}",
             f"--metrics-bind-address=127.0.0.1:{procs.free_port()}"],
            directory,
        ))

        def ready() -> bool:
            node.check_alive()
            cluster.check_alive()
            got = cluster.kubectl("get", "node", NAME, "-o", "json", check=False)
            if got.returncode != 0:
                return False
            conditions = json.loads(got.stdout).get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        procs.wait_for(f"node {NAME} Ready", ready, 120, interval=0.5)
    except BaseException:
        node.stop()
        raise
    return node


# --- cleanup --------------------------------------------------------------------------------------


def kubepods_pids(parent: str = "") -> set[int]:
    """Processes in the pods' cgroups of the kubelet whose cgroupRoot is `parent` ("" = /)."""
    pids: set[int] = set()
    for tasks in CGROUP_ROOT.glob(f"*/{parent}kubepods*/**/cgroup.procs"):
        try:
            pids.update(int(p) for p in tasks.read_text().split())
        except (OSError, ValueError):
            pass
    return pids


def kill(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def shim_pids(directory: Path) -> set[int]:
    """containerd's runc shims of this node (they outlive containerd by design)."""
    sock = str(directory / "containerd.sock")
    found = set()
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc_dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and sock.encode() in argv:
            found.add(int(proc_dir.name))
    return found


def unmount_under(directory: Path) -> None:
    prefix = str(directory.resolve()) + "/"
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def remove_cgroups(parent: str = "") -> None:
    for top in CGROUP_ROOT.glob(f"*/{parent}kubepods*"):
        for cg in sorted((p for p in top.glob("**/") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                cg.rmdir()
            except OSError:
                pass


def cleanup(directory: Path) -> None:
    """Stops the node's processes and removes every trace of it on the machine: containers (by
    their cgroups and shims), mounts under its directory, kube-proxy's iptables chains, the CNI
    bridge and the pods' cgroups. Safe to call when nothing runs."""
    if directory.exists():
        procs.stop_all(directory)
    for _ in range(3):
        kill(kubepods_pids())
        kill(shim_pids(directory))
        time.sleep(0.2)
    unmount_under(directory)
    k8s_bin = paths.CACHE / "bin"
    proxies = sorted(k8s_bin.glob("kubernetes-*/kube-proxy"))
    if proxies:
        subprocess.run([str(proxies[-1]), "--cleanup"], capture_output=True)
    subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True)
    remove_cgroups()
