"""`make env-up` / `make env-down`: the local environment for a person to work with by hand.

`up` prints shell-evaluable lines only on stdout (progress goes to stderr), so
`eval "$(make -s env-up)"` leaves KUBECONFIG and the AWS variables set in the calling shell."""

from __future__ import annotations

import argparse
import shlex
import sys

from . import aws, cluster, node, paths, procs, registry

ENV_DIR = paths.WORK / "env"


def up() -> int:
    if any(ENV_DIR.glob("**/*.pid")):
        print("env-up: an environment is already up; run `make env-down` first", file=sys.stderr)
        return 1
    print("env-up: starting the control plane (first run builds it from the Go module proxy)", file=sys.stderr)
    try:
        started = cluster.start(ENV_DIR / "cluster")
        print(f"env-up: kube-apiserver {started.server}", file=sys.stderr)
        reg = registry.start(ENV_DIR / "registry")
        (ENV_DIR / "registry" / "address").write_text(reg.address)
        print(f"env-up: registry {reg.address} (`make image` pushes here)", file=sys.stderr)
        the_node = node.start(started, reg, ENV_DIR / "node")
        print(f"env-up: node {the_node.name} Ready at {the_node.ip} (containerd + kubelet, for the controller)",
              file=sys.stderr)
        emulator = aws.start(ENV_DIR / "aws")
        print(f"env-up: AWS emulator {emulator.endpoint}", file=sys.stderr)
    except BaseException:
        down(quiet=True)
        raise
    exports = {
        "KUBECONFIG": str(started.kubeconfig),
        "PATH": f"{started.bin_dir}:$PATH",
        "KARPENTER_RS_REGISTRY": reg.address,
        **emulator.env(),
    }
    for key, value in exports.items():
        # PATH keeps the caller's value: it is the only line that must expand in their shell.
        rendered = f'"{value}"' if key == "PATH" else shlex.quote(value)
        print(f"export {key}={rendered}")
    (ENV_DIR / "env.sh").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in exports.items() if k != "PATH"))
    return 0


def down(quiet: bool = False) -> int:
    stopped = []
    if (ENV_DIR / "node").exists():
        node.cleanup(ENV_DIR / "node")
        stopped.append("node")
    for directory in (ENV_DIR / "aws", ENV_DIR / "registry", ENV_DIR / "cluster"):
        if directory.exists():
            stopped += procs.stop_all(directory)
    if not quiet:
        print(f"env-down: stopped {', '.join(stopped) if stopped else 'nothing (no environment was up)'}", file=sys.stderr)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m harness")
    parser.add_argument("command", choices=["up", "down"])
    args = parser.parse_args()
    return up() if args.command == "up" else down()


if __name__ == "__main__":
    sys.exit(main())
