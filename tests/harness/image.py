"""The controller image, built by controller/image/build.sh (what `make image` runs) and pushed to
the local registry."""

from __future__ import annotations

import subprocess

from . import paths

BUILD = paths.REPO / "controller" / "image" / "build.sh"


def build(registry: str, profile: str = "dev") -> str:
    """Builds and pushes the image; returns the pushed reference by digest (the script's last line).
    The tests and the demo use the debug build `make test`/`make demo` already made."""
    done = subprocess.run([str(BUILD), "--profile", profile, "--registry", registry],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{BUILD} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout.strip().splitlines()[-1]
