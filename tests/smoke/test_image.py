"""The controller image that `make image` builds (controller/image/build.sh), read back from the
local registry it was pushed to: reproducible, minimal, non-root, labelled. That the real node's
containerd pulls and runs it is proven by tests/e2e/test_in_cluster.py."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile

import requests

from harness import image, paths

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def fetch(registry: str, path: str, accept: str | None = None) -> requests.Response:
    response = requests.get(f"http://{registry}/v2/karpenter-controller/{path}",
                            headers={"Accept": accept} if accept else {}, timeout=30)
    response.raise_for_status()
    return response


def test_two_builds_of_one_commit_push_one_digest(registry_server, controller_image):
    again = image.build(registry_server.address, profile="dev")
    assert again == controller_image
    repository, digest = controller_image.split("@")
    assert repository == f"{registry_server.address}/karpenter-controller"
    assert registry_server.manifest_digest("karpenter-controller", digest) == digest


def test_the_image_runs_the_controller_as_user_65532_with_labels_and_nothing_but_its_files(
        registry_server, controller_image):
    digest = controller_image.split("@")[1]
    manifest = fetch(registry_server.address, f"manifests/{digest}", OCI_MANIFEST).json()
    assert manifest["mediaType"] == OCI_MANIFEST
    config = fetch(registry_server.address, f"blobs/{manifest['config']['digest']}").json()
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    run = config["config"]
    assert run["User"] == "65532:65532"
    assert run["Entrypoint"] == ["/usr/local/bin/karpenter-controller"] and run["Cmd"] == ["run"]
    labels = run["Labels"]
    revision = subprocess.run(["git", "-C", str(paths.REPO), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    assert labels["org.opencontainers.image.revision"].startswith(revision)
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert config["created"].startswith("1970-01-01"), "a fixed timestamp keeps the digest reproducible"

    files: dict[str, tarfile.TarInfo] = {}
    for layer in manifest["layers"]:
        blob = fetch(registry_server.address, f"blobs/{layer['digest']}").content
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
            files.update({m.name.lstrip("./"): m for m in tar.getmembers() if not m.isdir()})
    assert "usr/local/bin/karpenter-controller" in files
    assert "etc/ssl/certs/ca-certificates.crt" in files
    assert any(name.startswith("lib") and "libc.so" in name for name in files), sorted(files)
    # No shell, no package manager, no other program.
    programs = [n for n, m in files.items() if m.mode & 0o111 and not n.split("/")[-1].startswith("ld-linux")]
    assert programs == ["usr/local/bin/karpenter-controller"], programs
    assert all(m.mtime == 0 and m.uid == 0 for m in files.values())
    assert "etc/passwd" in files and "etc/group" in files
