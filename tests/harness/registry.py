"""A real OCI registry on loopback (distribution v3, built from the Go module proxy): `make image`
pushes the controller image to it and the real node's containerd pulls from it by digest, as a
node on EKS pulls from ECR."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from . import paths, procs


@dataclass
class Registry:
    address: str  # host:port, the prefix of image references
    proc: procs.Proc

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest the registry serves for repository:reference, or None when it has none."""
        response = requests.head(
            f"http://{self.address}/v2/{repository}/manifests/{reference}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"},
            timeout=10,
        )
        return response.headers.get("Docker-Content-Digest") if response.ok else None


def start(directory: Path) -> Registry:
    directory.mkdir(parents=True, exist_ok=True)
    binary = paths.go_component("registry") / "registry"
    address = f"127.0.0.1:{procs.free_port()}"
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
        "http": {"addr": address},
    }
    (directory / "config.yml").write_text(yaml.safe_dump(config))
    proc = procs.start("registry", [str(binary), "serve", str(directory / "config.yml")], directory)

    def up() -> bool:
        if not proc.alive():
            raise RuntimeError(f"the registry exited:\n{proc.tail()}")
        return requests.get(f"http://{address}/v2/", timeout=2).ok

    procs.wait_for("the registry /v2/", up, 30, interval=0.1)
    return Registry(address, proc)
