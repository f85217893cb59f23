"""Fixtures for driving terraform-provider-karpenter through the real terraform and tofu against
the extended moto server (tests/awsemu) on loopback. Nothing here imitates terraform or AWS."""

import os
import subprocess
from pathlib import Path

import pytest

from awsemu.client import DEFAULT_REGION
from harness import terraform as tf_harness

ROOT = Path(__file__).resolve().parents[2]
SOURCE = tf_harness.PROVIDER_SOURCE
REGION = DEFAULT_REGION  # the emulator's, as in every suite


@pytest.fixture(scope="session")
def provider_dir() -> Path:
    """Directory holding the debug provider binary, built if needed."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "debug" / "terraform-provider-karpenter"
    if os.environ.get("KARPENTER_PROVIDER_NO_BUILD") != "1":
        subprocess.run(
            ["cargo", "build", "-q", "-p", "terraform-provider-karpenter"], cwd=ROOT, check=True
        )
    if not binary.exists():
        pytest.fail(f"provider binary missing at {binary}; run cargo build -p terraform-provider-karpenter")
    return binary.parent


@pytest.fixture(params=["terraform", "tofu"])
def cli(request) -> str:
    """Every provider test runs with the machine's terraform and with OpenTofu built from the Go
    module proxy (harness.terraform builds it on first use; a missing terraform fails, never skips)."""
    if request.param == "terraform":
        return str(tf_harness.terraform_binary())
    return str(tf_harness.tofu_binary())


class Workspace:
    """A root module directory whose main.tf configures our provider against the emulator, run
    by one CLI through harness.terraform (dev_overrides to the debug build)."""

    def __init__(self, cli: str, path: Path, provider_dir: Path):
        self.path = path
        self.runner = tf_harness.Runner(
            Path(cli),
            tf_harness.cli_config(path, provider_dir),
            {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_EC2_METADATA_DISABLED": "true"},
            hermetic=True,
        )

    @property
    def cli(self) -> str:
        return str(self.runner.binary)

    def write(self, hcl: str, endpoint: str, extra_provider: str = "", region: str = REGION):
        (self.path / "main.tf").write_text(
            "terraform {\n"
            f'  required_providers {{ karpenter = {{ source = "{SOURCE}" }} }}\n'
            "}\n"
            'provider "karpenter" {\n'
            f'  region       = "{region}"\n'
            '  cluster_name = "demo"\n'
            f'  aws {{ endpoint_url = "{endpoint}" }}\n'
            f"{extra_provider}"
            "}\n" + hcl
        )

    def run(self, *args, check=True, timeout=300):
        argv = list(args) if args[0] in ("state", "version") else [*args, "-no-color"]
        return self.runner.run(self.path, *argv, check=check, timeout=timeout)

    def popen(self, *args):
        return subprocess.Popen(
            [self.cli, *args, "-no-color"],
            cwd=self.path,
            env=self.runner.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def state_list(self):
        p = self.run("state", "list", check=False)
        return [l for l in p.stdout.splitlines() if l.strip()]


@pytest.fixture
def ws(cli, provider_dir, tmp_path):
    return Workspace(cli, tmp_path, provider_dir)
