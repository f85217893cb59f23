"""pytest fixtures over the local environment. A session starts each part once, on first use,
and stops it by PID at the end of the session, also when tests fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import cluster as cluster_mod
from . import image, node, paths, procs, registry, terraform


@pytest.fixture(scope="session")
def run_dir() -> Path:
    directory = paths.WORK / f"pytest-{os.getpid()}"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def cluster(run_dir: Path):
    started = cluster_mod.start(run_dir / "cluster")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def provider_dir() -> Path:
    """Directory holding the debug build of terraform-provider-karpenter (built by `make test` first)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", paths.REPO / "target"))
    return target / "debug"


@pytest.fixture(scope="session", params=["terraform", "tofu"])
def tf(request, run_dir: Path, provider_dir: Path) -> terraform.Runner:
    """Each provider test runs once with terraform and once with tofu."""
    binary = terraform.terraform_binary() if request.param == "terraform" else terraform.tofu_binary()
    config = terraform.cli_config(run_dir / "tf", provider_dir)
    return terraform.Runner(binary, config, {})


@pytest.fixture(scope="session")
def registry_server(run_dir: Path):
    """The local OCI registry (distribution v3) on loopback."""
    started = registry.start(run_dir / "registry")
    try:
        yield started
    finally:
        procs.stop_pid(started.proc.pid)


@pytest.fixture(scope="session")
def controller_image(registry_server) -> str:
    """The controller image built from the debug binary by controller/image/build.sh (the path
    `make image` takes) and pushed to the local registry; its reference by digest."""
    return image.build(registry_server.address, profile="dev")


@pytest.fixture(scope="session")
def real_node(cluster, registry_server, run_dir: Path):
    """The real node (containerd + runc + CNI + kubelet + kube-proxy) joined to the session's
    cluster; the controller's pods run on it."""
    started = node.start(cluster, registry_server, run_dir / "node")
    try:
        yield started
    finally:
        started.stop()
