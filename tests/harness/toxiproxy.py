"""toxiproxy (Shopify/toxiproxy v2, built from the Go module proxy) as the chaos suite's fault
injector: one TCP proxy per link the controller uses (API server, AWS emulator), with faults
switched on and off on cue through toxiproxy's HTTP API.

Faults: `cut()` (the proxy refuses connections and drops the open ones: the server is down),
`latency(ms)`, `timeout(ms)` (data stops; the connection closes after ms, 0 = never: a blackhole),
`reset()` (connections reset by peer). Every fault is counted in `Proxy.injected`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harness import paths, procs


@dataclass
class Proxy:
    api: str
    name: str
    listen: str
    injected: list[str] = field(default_factory=list)

    def _toxic(self, kind: str, attributes: dict, stream: str = "downstream") -> None:
        body = {"name": f"{kind}-{stream}", "type": kind, "stream": stream, "attributes": attributes}
        requests.post(f"{self.api}/proxies/{self.name}/toxics", json=body, timeout=5).raise_for_status()
        self.injected.append(f"{kind} {attributes}")

    def latency(self, ms: int) -> None:
        """Every response waits `ms` milliseconds."""
        self._toxic("latency", {"latency": ms, "jitter": 0})

    def timeout(self, ms: int) -> None:
        """Data stops flowing; the connection is closed after `ms` (0: held open forever)."""
        self._toxic("timeout", {"timeout": ms})

    def reset(self) -> None:
        """Connections are reset (TCP RST) as soon as data arrives."""
        self._toxic("reset_peer", {"timeout": 0}, stream="upstream")

    def cut(self) -> None:
        """The link is down: new connections are refused, open ones dropped."""
        self._set_enabled(False)
        self.injected.append("down")

    def heal(self) -> None:
        """Every fault off; the link is up."""
        toxics = requests.get(f"{self.api}/proxies/{self.name}/toxics", timeout=5).json()
        for t in toxics:
            requests.delete(f"{self.api}/proxies/{self.name}/toxics/{t['name']}", timeout=5).raise_for_status()
        self._set_enabled(True)

    def _set_enabled(self, enabled: bool) -> None:
        requests.post(f"{self.api}/proxies/{self.name}", json={"enabled": enabled}, timeout=5).raise_for_status()

    @contextlib.contextmanager
    def down(self):
        self.cut()
        try:
            yield
        finally:
            self.heal()


@dataclass
class Toxiproxy:
    api: str
    proc: procs.Proc

    def proxy(self, name: str, upstream: str, host: str = "127.0.0.1") -> Proxy:
        """A new proxy to `upstream` (host:port) on a free port of `host` (the upstream's own
        address where a TLS certificate names it)."""
        listen = f"{host}:{procs.free_port()}"
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        requests.post(f"{self.api}/proxies", json=body, timeout=5).raise_for_status()
        return Proxy(self.api, name, listen)

    def reset(self) -> None:
        """Every proxy up with no toxic (toxiproxy's own reset)."""
        requests.post(f"{self.api}/reset", timeout=5).raise_for_status()

    def remove_all(self) -> None:
        for name in requests.get(f"{self.api}/proxies", timeout=5).json():
            requests.delete(f"{self.api}/proxies/{name}", timeout=5).raise_for_status()

    def stop(self) -> None:
        procs.stop_pid(self.proc.pid)


def start(state_dir: Path) -> Toxiproxy:
    port = procs.free_port()
    binary = paths.go_component("toxiproxy") / "toxiproxy-server"
    proc = procs.start("toxiproxy", [str(binary), "-host", "127.0.0.1", "-port", str(port)], state_dir)
    api = f"http://127.0.0.1:{port}"

    def up():
        if not proc.alive():
            raise RuntimeError(f"toxiproxy exited:\n{proc.tail()}")
        return requests.get(f"{api}/version", timeout=2).ok
    procs.wait_for("toxiproxy API", up, 30, interval=0.2)
    return Toxiproxy(api, proc)
