"""The local environment's host address: what the API server, the AWS emulator and the node's
kubelet listen on, so that pods on the real node can reach them.

Pods live in network namespaces of their own, where 127.0.0.1 is the pod itself, and the kubelet
refuses a loopback node IP. So the harness gives the machine one private address, 10.99.0.1/32, on
an interface it creates: `krs0`, one end of a veth pair whose other end (`krs0p`) stays beside it
(these kernels have no dummy interface type; a veth pair serves the same here). Traffic to it never
leaves the machine: the kernel delivers it locally, exactly like loopback. Creating the interface
needs root (CAP_NET_ADMIN); without it the environment stays on 127.0.0.1 and the real node cannot
start."""

from __future__ import annotations

import functools
import os
import subprocess

INTERFACE = "krs0"
PEER = "krs0p"
HOST_IP = "10.99.0.1"
LOOPBACK = "127.0.0.1"


class Unavailable(RuntimeError):
    """The host address cannot be set up on this machine (not root, or no iproute2)."""


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


def ensure() -> str:
    """Creates the interface with HOST_IP when missing (idempotent); returns HOST_IP."""
    if HOST_IP in _ip("-4", "-o", "addr", "show", "dev", INTERFACE).stdout:
        return HOST_IP
    if os.geteuid() != 0:
        raise Unavailable(f"creating interface {INTERFACE} with {HOST_IP} needs root")
    steps = [
        ("link", "add", INTERFACE, "type", "veth", "peer", "name", PEER),
        ("addr", "add", f"{HOST_IP}/32", "dev", INTERFACE),
        ("link", "set", PEER, "up"),
        ("link", "set", INTERFACE, "up"),
    ]
    for step in steps:
        done = _ip(*step)
        if done.returncode != 0 and "File exists" not in done.stderr:
            raise Unavailable(f"ip {' '.join(step)}: {done.stderr.strip()}")
    return HOST_IP


@functools.cache
def address() -> str:
    """The address the environment's servers bind: HOST_IP where it can be had, else loopback."""
    try:
        return ensure()
    except (Unavailable, FileNotFoundError):
        return LOOPBACK
