"""The local environment every end-to-end benchmark starts from: a fresh control plane and
emulator under `paths.WORK/<name>`, the tagged network and EKS description, the CRD and namespaces,
and the controller as a host process; stopped again on leaving the `with` block."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from e2e.test_provisioning import CLUSTER, NAMESPACE, REGION, ZONES
from harness import aws as aws_mod
from harness import cluster as cluster_mod
from harness import paths, procs


def kubectl_apply(cluster: cluster_mod.Cluster, obj: dict) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))


@dataclass
class Environment:
    state: Path
    cluster: cluster_mod.Cluster
    subnets: dict[str, str]

    def start_controller(self, binary: Path, *flags: str) -> tuple[procs.Proc, int]:
        """The controller (with extra flags), once it answers /readyz; and its metrics port."""
        port = procs.free_port()
        argv = [str(binary), "run", "--kubeconfig", str(self.cluster.kubeconfig), "--namespace", NAMESPACE,
                "--listen", f"127.0.0.1:{port}", "--cluster-name", CLUSTER, *flags]
        proc = procs.start("controller", argv, self.state, env={"RUST_LOG": "info,kube=warn", "POD_NAME": "bench"})

        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"controller exited:\n{proc.tail()}")
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).ok
        procs.wait_for("controller /readyz", ready, 90)
        return proc, port


@contextlib.contextmanager
def environment(name: str, binary: Path, *namespaces: str):
    state = paths.WORK / name
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    try:
        cluster = cluster_mod.start(state / "cluster")
        aws = aws_mod.start(state / "aws")
        os.environ.update({**aws.env(), "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION})
        subnets = aws_mod.make_network(CLUSTER, ZONES, REGION)
        aws_mod.register_eks_cluster(CLUSTER, cluster, REGION)
        manifests = subprocess.run([str(binary), "manifests"], check=True, capture_output=True, text=True).stdout
        cluster.kubectl("apply", "-f", "-", input=manifests)
        cluster.kubectl("wait", "--for=condition=Established", "crd/provisioners.karpenter.sh", "--timeout=60s")
        for ns in (NAMESPACE, *namespaces):
            cluster.kubectl("create", "namespace", ns)
        yield Environment(state, cluster, subnets)
    finally:
        for directory in (state, state / "aws", state / "cluster"):
            if directory.exists():
                procs.stop_all(directory)
