"""Fixtures for driving terraform-provider-karpenter through the real terraform (and tofu, when
built) against a real moto server on loopback. Nothing here imitates terraform or AWS."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KARPENTER_RS_CACHE", Path.home() / ".cache" / "karpenter-rs"))
SOURCE = "karpenter-rs/karpenter"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, timeout=30.0, interval=0.05):
    """Polls cond() until truthy; fails naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


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


def cli_binaries():
    found = []
    tf = shutil.which("terraform") or "/usr/local/bin/terraform"
    found.append(pytest.param(tf, id="terraform"))
    tofu = shutil.which("tofu") or next(iter(sorted(CACHE.glob("**/bin/tofu"))), None)
    if tofu:
        found.append(pytest.param(str(tofu), id="tofu"))
    else:
        found.append(
            pytest.param(None, id="tofu", marks=pytest.mark.skip(reason=f"tofu not built under {CACHE}"))
        )
    return found


@pytest.fixture(params=cli_binaries())
def cli(request) -> str:
    path = request.param
    if not (path and os.access(path, os.X_OK)):
        pytest.fail(f"{request.node.callspec.id} binary not found at {path!r}: these tests need it installed")
    return path


@pytest.fixture(scope="session")
def moto():
    """A moto server on a free loopback port for the whole session; reset per test."""
    exe = ROOT / ".venv" / "bin" / "moto_server"
    if not exe.exists():
        subprocess.run([str(ROOT / "tests" / "bin" / "venv.sh")], check=True)
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            pytest.fail(f"moto_server exited with {proc.returncode}")
        try:
            return requests.get(url + "/moto-api/", timeout=1).status_code < 500
        except requests.RequestException:
            return False

    wait_for(up, "moto_server to answer", timeout=60)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def aws(moto):
    requests.post(moto + "/moto-api/reset", timeout=10)
    kw = dict(
        endpoint_url=moto,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return {"url": moto, "sqs": boto3.client("sqs", **kw), "events": boto3.client("events", **kw)}


class Workspace:
    """A root module directory plus the environment terraform needs to use our dev build."""

    def __init__(self, cli: str, path: Path, provider_dir: Path):
        self.cli = cli
        self.path = path
        rc = path / "cli.tfrc"
        rc.write_text(
            'provider_installation {\n'
            f'  dev_overrides {{ "{SOURCE}" = "{provider_dir}" }}\n'
            "  direct {}\n"
            "}\n"
        )
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))
        }
        self.env.update(
            TF_CLI_CONFIG_FILE=str(rc),
            CHECKPOINT_DISABLE="1",
            TF_IN_AUTOMATION="1",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_EC2_METADATA_DISABLED="true",
        )

    def write(self, hcl: str, endpoint: str, extra_provider: str = ""):
        (self.path / "main.tf").write_text(
            "terraform {\n"
            f'  required_providers {{ karpenter = {{ source = "{SOURCE}" }} }}\n'
            "}\n"
            'provider "karpenter" {\n'
            f'  region       = "{REGION}"\n'
            '  cluster_name = "demo"\n'
            f'  aws {{ endpoint_url = "{endpoint}" }}\n'
            f"{extra_provider}"
            "}\n" + hcl
        )

    def run(self, *args, check=True, timeout=300):
        p = subprocess.run(
            [self.cli, *args, "-no-color"] if args[0] not in ("state", "version") else [self.cli, *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and p.returncode != 0:
            sys.stderr.write(p.stdout + p.stderr)
            pytest.fail(f"{self.cli} {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        return p

    def popen(self, *args):
        return subprocess.Popen(
            [self.cli, *args, "-no-color"],
            cwd=self.path,
            env=self.env,
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
