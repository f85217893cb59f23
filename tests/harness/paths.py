"""Where things live: the repository, the build cache and per-run work directories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KARPENTER_RS_CACHE", Path.home() / ".cache" / "karpenter-rs"))
WORK = REPO / "tests" / ".work"


def go_component(name: str) -> Path:
    """Directory with the binaries of a Go component, built once per version by tests/bin/build-go.sh."""
    out = subprocess.run(
        [str(REPO / "tests" / "bin" / "build-go.sh"), name],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout.strip()
    return Path(out.splitlines()[-1])


def cargo_binary(name: str, profile: str = "debug") -> Path:
    """A binary of this workspace, which `make test` builds before pytest runs."""
    binary = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / profile / name
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: run `cargo build --bins` first")
    return binary
