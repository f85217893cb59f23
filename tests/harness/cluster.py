"""A real Kubernetes control plane on this machine: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and KWOK playing the kubelet for the nodes the controller launches. The API
server listens on the environment's host address (harness.hostnet) so pods on the real node
(harness.node) reach it through the `kubernetes` Service; everything else stays on loopback.

Binaries come from tests/bin/build-go.sh (built from the Go module proxy once per version)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from . import hostnet, paths, procs
from .pki import Pair, Pki

SERVICE_CIDR = "10.0.0.0/24"
# The label of the real node (harness.node): KWOK leaves nodes carrying it to their kubelet.
REAL_KUBELET_LABEL = "karpenter-rs.test/real-kubelet"
# The label a test's Provisioner gives the nodes of instances the harness boots with a real
# kubelet (harness.instance_node): KWOK leaves those to their kubelet too, but unlike the real
# node they stand for EC2 instances.
BOOTED_INSTANCE_LABEL = "karpenter-rs.test/booted"
# Who a host-process controller is to the API server (a client certificate's CN): a user the
# harness grants exactly the RBAC rules the provider grants the in-cluster controller (harness.rbac).
CONTROLLER_USER = "karpenter-rs-controller"
# The API server audits these users' requests (Metadata level) to dir/audit.log: the RBAC proof.
AUDITED_USERS = (CONTROLLER_USER, "system:serviceaccount:karpenter:karpenter")


def kubeconfig_file(path: Path, server: str, ca: Path, client: Pair, user: str) -> Path:
    """A kubeconfig for `server` that authenticates with `client`'s certificate."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class Cluster:
    """A started control plane. `stop()` stops every process by PID; it is safe to call twice."""

    dir: Path
    server: str
    kubeconfig: Path
    bin_dir: Path
    pki: Pki
    # A kubeconfig that authenticates as CONTROLLER_USER.
    controller_kubeconfig: Path
    procs: list[procs.Proc] = field(default_factory=list)

    @property
    def audit_log(self) -> Path:
        return self.dir / "audit.log"

    @property
    def kubectl_path(self) -> Path:
        return self.bin_dir / "kubectl"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
        )

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def instance_nodes(self) -> list[dict]:
        """Every node that stands for an EC2 instance: all but the real node (harness.node), which
        runs the controller and is never the tests' or the controller's to remove."""
        return self.get_json("nodes", "-l", f"!{REAL_KUBELET_LABEL}")["items"]

    def api(self) -> requests.Session:
        """An HTTP session to the API server as cluster admin, for calls kubectl does not expose
        with their status code (evictions, raw status patches)."""
        session = requests.Session()
        # With trust_env, REQUESTS_CA_BUNDLE (set on some machines) would override our CA.
        session.trust_env = False
        session.verify = str(self.dir / "pki" / "ca.crt")
        session.cert = (str(self.dir / "pki" / "admin.crt"), str(self.dir / "pki" / "admin.key"))
        return session

    def check_alive(self) -> None:
        dead = [p for p in self.procs if not p.alive()]
        if dead:
            raise RuntimeError("; ".join(f"{p.name} exited:\n{p.tail()}" for p in dead))

    def restart(self, *names: str, down: float = 0.0) -> None:
        """SIGKILLs the named control-plane processes (e.g. "etcd", "kube-apiserver"), waits
        `down` seconds, starts them again in the order given, and waits for the API server."""
        chosen = [p for name in names for p in self.procs if p.name == name]
        for p in chosen:
            procs.kill(p)
        time.sleep(down)
        for p in chosen:
            self.procs[self.procs.index(p)] = procs.restart(p)
        session = self.api()
        procs.wait_for("kube-apiserver /readyz after the restart",
                       lambda: session.get(f"{self.server}/readyz", timeout=2).ok, 90, interval=0.25)

    def stop(self) -> None:
        procs.stop_all(self.dir)
        self.procs.clear()


def start(directory: Path, *, kwok: bool = True) -> Cluster:
    """Starts a fresh control plane whose state lives in `directory` (wiped first)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    k8s_bin = paths.go_component("kubernetes")
    etcd_bin = paths.go_component("etcd")
    kwok_bin = paths.go_component("kwok") if kwok else None

    host = hostnet.address()
    pki = Pki(directory / "pki")
    serving = pki.issue("apiserver", "kube-apiserver", server=True, ips=(host,))
    admin = pki.issue("admin", "karpenter-rs-admin", "system:masters")
    cm_client = pki.issue("controller-manager", "system:kube-controller-manager")
    sched_client = pki.issue("scheduler", "system:kube-scheduler")
    front_proxy = pki.issue("front-proxy-client", "front-proxy-client")
    # What the API server shows the real node's kubelet (logs, exec, stats), which authorises it.
    kubelet_client = pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
    sa = pki.service_account_key()

    etcd_port, etcd_peer, api_port = procs.free_port(), procs.free_port(), procs.free_port()
    server = f"https://{host}:{api_port}"
    admin_kc = kubeconfig_file(directory / "admin.kubeconfig", server, pki.ca, admin, "admin")
    cm_kc = kubeconfig_file(directory / "controller-manager.kubeconfig", server, pki.ca, cm_client, "cm")
    sched_kc = kubeconfig_file(directory / "scheduler.kubeconfig", server, pki.ca, sched_client, "scheduler")
    controller_kc = kubeconfig_file(directory / "controller.kubeconfig", server, pki.ca,
                                    pki.issue("controller", CONTROLLER_USER), "controller")
    audit_policy = directory / "audit-policy.yaml"
    audit_policy.write_text(yaml.safe_dump({
        "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
        "rules": [{"level": "Metadata", "users": list(AUDITED_USERS)}, {"level": "None"}],
    }))

    cluster = Cluster(directory, server, admin_kc, k8s_bin, pki, controller_kc)
    try:
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        cluster.procs.append(
            procs.start(
                "etcd",
                [
                    str(etcd_bin / "etcd"),
                    "--name=default",
                    f"--data-dir={directory / 'etcd'}",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                    f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                    # Test data is thrown away with the cluster: durability only costs time here.
                    "--unsafe-no-fsync",
                    "--log-level=warn",
                ],
                directory,
            )
        )
        procs.wait_for("etcd health", lambda: requests.get(f"{etcd_url}/health", timeout=1).ok, 30)

        cluster.procs.append(
            procs.start(
                "kube-apiserver",
                [
                    str(k8s_bin / "kube-apiserver"),
                    f"--etcd-servers={etcd_url}",
                    f"--bind-address={host}",
                    f"--advertise-address={host}",
                    f"--secure-port={api_port}",
                    f"--tls-cert-file={serving.cert}",
                    f"--tls-private-key-file={serving.key}",
                    f"--client-ca-file={pki.ca}",
                    f"--service-account-key-file={sa.cert}",
                    f"--service-account-signing-key-file={sa.key}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--authorization-mode=Node,RBAC",
                    # The aggregation layer's request-header CA: without it every component that
                    # delegates authentication logs a missing-CA error several times a second.
                    f"--requestheader-client-ca-file={pki.ca}",
                    "--requestheader-allowed-names=front-proxy-client",
                    "--requestheader-username-headers=X-Remote-User",
                    "--requestheader-group-headers=X-Remote-Group",
                    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                    f"--proxy-client-cert-file={front_proxy.cert}",
                    f"--proxy-client-key-file={front_proxy.key}",
                    f"--kubelet-client-certificate={kubelet_client.cert}",
                    f"--kubelet-client-key={kubelet_client.key}",
                    # The real node's name resolves nowhere; its InternalIP is the host address.
                    "--kubelet-preferred-address-types=InternalIP,Hostname",
                    "--allow-privileged=true",
                    "--profiling=false",
                    f"--audit-policy-file={audit_policy}",
                    f"--audit-log-path={directory / 'audit.log'}",
                    "--audit-log-format=json",
                ],
                directory,
            )
        )
        ca = str(pki.ca)
        client = (str(admin.cert), str(admin.key))

        def api_ready() -> bool:
            cluster.check_alive()
            return requests.get(f"{server}/readyz", verify=ca, cert=client, timeout=2).ok

        procs.wait_for("kube-apiserver /readyz", api_ready, 90, interval=0.25)

        cluster.procs.append(
            procs.start(
                "kube-controller-manager",
                [
                    str(k8s_bin / "kube-controller-manager"),
                    f"--kubeconfig={cm_kc}",
                    f"--authentication-kubeconfig={cm_kc}",
                    f"--authorization-kubeconfig={cm_kc}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={procs.free_port()}",
                    f"--service-account-private-key-file={sa.key}",
                    f"--root-ca-file={pki.ca}",
                    f"--cluster-signing-cert-file={pki.ca}",
                    f"--cluster-signing-key-file={pki.dir / 'ca.key'}",
                    "--use-service-account-credentials=true",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--leader-elect=false",
                    "--controllers=*",
                ],
                directory,
            )
        )
        cluster.procs.append(
            procs.start(
                "kube-scheduler",
                [
                    str(k8s_bin / "kube-scheduler"),
                    f"--kubeconfig={sched_kc}",
                    f"--authentication-kubeconfig={sched_kc}",
                    f"--authorization-kubeconfig={sched_kc}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={procs.free_port()}",
                    "--leader-elect=false",
                ],
                directory,
            )
        )
        if kwok_bin:
            cluster.procs.append(
                procs.start(
                    "kwok",
                    [
                        str(kwok_bin / "kwok"),
                        f"--kubeconfig={admin_kc}",
                        # Every node but the real one (harness.node) stands for an EC2 instance
                        # the controller (or a test) created; KWOK plays the kubelet for those
                        # but the ones a real kubelet boots (harness.instance_node).
                        f"--manage-nodes-with-label-selector=!{REAL_KUBELET_LABEL},!{BOOTED_INSTANCE_LABEL}",
                        "--node-lease-duration-seconds=40",
                        "--cidr=10.244.0.1/16",
                        "--node-ip=10.0.0.2",
                    ],
                    directory,
                )
            )

        def default_service_account() -> bool:
            cluster.check_alive()
            return cluster.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0

        # Pods cannot be created until the controller-manager made the namespace's service account.
        procs.wait_for("the default service account", default_service_account, 60, interval=0.25)
    except BaseException:
        cluster.stop()
        raise
    return cluster
