"""Runs terraform and tofu against our provider binary through a dev_overrides CLI config.

With dev_overrides, plan/apply/destroy/import need no `terraform init` (init would error);
configurations that use modules need `get` first."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import paths

TERRAFORM = Path("/usr/local/bin/terraform")
MIN_TERRAFORM = (1, 11)
PROVIDER_SOURCE = "karpenter-rs/karpenter"


class MissingTool(RuntimeError):
    pass


def terraform_binary() -> Path:
    found = TERRAFORM if TERRAFORM.exists() else shutil.which("terraform")
    if not found:
        raise MissingTool(
            "terraform is not installed: the provider tests need Terraform >= 1.11 at /usr/local/bin/terraform "
            "or on PATH (install it from your package source; this environment cannot download it)"
        )
    out = subprocess.run([str(found), "version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Terraform v(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < MIN_TERRAFORM:
        raise MissingTool(f"{found} is too old: need Terraform >= 1.11 (protocol 6.8), it says: {out.splitlines()[0]}")
    return Path(found)


def tofu_binary() -> Path:
    return paths.go_component("opentofu") / "tofu"


def cli_config(directory: Path, provider_dir: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cli.tfrc"
    path.write_text(
        "provider_installation {\n"
        f'  dev_overrides {{ "{PROVIDER_SOURCE}" = "{provider_dir}" }}\n'
        "  direct {}\n"
        "}\n"
    )
    return path


@dataclass
class Runner:
    """One CLI (terraform or tofu) bound to a CLI config and extra environment."""

    binary: Path
    cli_config: Path
    env: dict[str, str]
    # Leave out the caller's TF_* and AWS_* variables, so only `env` configures the run.
    hermetic: bool = False

    @property
    def name(self) -> str:
        return self.binary.name

    def environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items()
                     if not (self.hermetic and k.startswith(("TF_", "AWS_")))}
        return {
            **inherited,
            **self.env,
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
        }

    def run(self, workdir: Path, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.binary), *args],
            cwd=workdir,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.name} {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def apply(self, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
        return self.run(workdir, "apply", "-auto-approve", "-no-color", *extra)

    def destroy(self, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
        return self.run(workdir, "destroy", "-auto-approve", "-no-color", *extra)
