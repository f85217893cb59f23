"""`make bench` figures for the controller image and the in-cluster installation:

  bench image size_mib=... layers_mib=... build_s=...
  bench in_cluster apply_to_ready_s=... rss_mib=...

image: `controller/image/build.sh --profile release` (what `make image` runs) with the release
binary already built, pushed to the local registry; size_mib is the unpacked root filesystem,
layers_mib what a node downloads (compressed layers), build_s the script's wall time.
in_cluster: `terraform apply` of examples/spot-fleet on a fresh local environment with the real
node; apply returns once the controller Deployment has rolled out, so apply_to_ready_s is the
apply's wall time from its start to every controller replica Ready. rss_mib is the leading
controller container's memory as the kubelet reports it (stats/summary, rssBytes) after it has led
for 10 s with no work yet (the instance catalog loads with the first batch of pending pods).

usage: python bench/in_cluster.py PATH/TO/target/release
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import aws as aws_mod  # noqa: E402
from harness import cluster as cluster_mod  # noqa: E402
from harness import demo, incluster, node, paths, procs, registry, terraform  # noqa: E402

CLUSTER = "bench"


def image_figures(reg: registry.Registry) -> str:
    began = time.monotonic()
    done = subprocess.run([str(paths.REPO / "controller" / "image" / "build.sh"), "--profile", "release",
                           "--registry", reg.address], stdout=subprocess.PIPE, text=True, check=True)
    build_s = time.monotonic() - began
    ref = done.stdout.strip().splitlines()[-1]
    digest = ref.split("@")[1]
    manifest = requests.get(f"http://{reg.address}/v2/karpenter-controller/manifests/{digest}",
                            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10).json()
    layers = sum(layer["size"] for layer in manifest["layers"]) / 2**20
    rootfs = Path(os.environ.get("CARGO_TARGET_DIR", paths.REPO / "target")) / "image" / "release" / "rootfs"
    size = sum(f.stat().st_size for f in rootfs.rglob("*") if f.is_file()) / 2**20
    print(f"bench image size_mib={size:.1f} layers_mib={layers:.1f} build_s={build_s:.1f} platform=linux/amd64",
          flush=True)
    return ref


def container_rss_mib(cluster: cluster_mod.Cluster, node_name: str, pod: str) -> float:
    summary = json.loads(cluster.kubectl("get", "--raw", f"/api/v1/nodes/{node_name}/proxy/stats/summary").stdout)
    for p in summary["pods"]:
        if p["podRef"]["name"] == pod:
            for c in p["containers"]:
                if c["name"] == "controller":
                    return c["memory"]["rssBytes"] / 2**20
    raise RuntimeError(f"the kubelet reports no stats for {pod}")


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    release = Path(sys.argv[1]).resolve()
    state = paths.WORK / "bench-in-cluster"
    node.cleanup(state / "node")
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    the_node = None
    try:
        cluster = cluster_mod.start(state / "cluster")
        reg = registry.start(state / "registry")
        the_node = node.start(cluster, reg, state / "node")
        aws = aws_mod.start(state / "aws")
        os.environ.update(aws.env())
        aws_mod.make_network(CLUSTER, demo.ZONES)
        aws_mod.register_eks_cluster(CLUSTER, cluster)
        oidc = incluster.oidc_provider()
        ref = image_figures(reg)

        workdir = state / "spot-fleet"
        shutil.copytree(paths.REPO / "examples" / "spot-fleet", workdir)
        tf = terraform.Runner(terraform.terraform_binary(), terraform.cli_config(state / "tf", release),
                              {"KUBECONFIG": str(cluster.kubeconfig)})
        tf_vars = ["-var", f"cluster_name={CLUSTER}", "-var", f"cluster_endpoint={cluster.server}",
                   *incluster.terraform_vars(ref, aws.endpoint, oidc)]
        began = time.monotonic()
        tf.apply(workdir, *tf_vars)
        apply_to_ready = time.monotonic() - began
        leader = procs.wait_for("a leader", lambda: incluster.leader(cluster), 60)
        time.sleep(10)
        rss = container_rss_mib(cluster, the_node.name, leader)
        print(f"bench in_cluster apply_to_ready_s={apply_to_ready:.1f} rss_mib={rss:.1f} replicas=2 build=release",
              flush=True)
        tf.destroy(workdir, *tf_vars)
    finally:
        if the_node:
            the_node.stop()
        for directory in (state / "aws", state / "registry", state / "cluster"):
            procs.stop_all(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
