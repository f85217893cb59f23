"""pytest fixtures over the local environment. A session starts each part once, on first use,
and stops it by PID at the end of the session, also when tests fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import cluster as cluster_mod
from . import paths, terraform


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
