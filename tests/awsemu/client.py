"""Test-side handle to an emulator process: start it, wait until ready, reset it, inject faults, stop it.

This module never imports moto: tests talk to the server over HTTP only, like the controller will.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

TESTS_DIR = Path(__file__).resolve().parent.parent
DEFAULT_REGION = "ap-southeast-1"
START_DEADLINE_S = 90.0
STOP_DEADLINE_S = 10.0
HTTP_TIMEOUT_S = 30.0


class EmulatorError(RuntimeError):
    pass


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Emulator:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    region: str = DEFAULT_REGION
    host: str = "127.0.0.1"
    started_in_s: float = 0.0
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def start(cls, log_path: Path | None = None, deadline_s: float = START_DEADLINE_S,
              region: str = DEFAULT_REGION, host: str = "127.0.0.1",
              directory: Path | None = None) -> "Emulator":
        """Start `python -m awsemu serve` on `host` and return once its port file names a port that
        answers. Pods of the real node reach it only on a non-loopback host (harness.hostnet).

        Without `directory` the server is this process's: it stops when this process exits. With
        one, it outlives this process (the local environment of `make env-up`): its log and
        `awsemu.pid` are written there, and `harness.procs.stop_all(directory)` stops it."""
        workdir = directory or Path(tempfile.mkdtemp(prefix="awsemu-"))
        workdir.mkdir(parents=True, exist_ok=True)
        port_file = workdir / "awsemu.port"
        port_file.unlink(missing_ok=True)
        log_path = log_path or workdir / "awsemu.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
        watch = [] if directory else ["--watch-pid", str(os.getpid())]
        began = time.monotonic()
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "awsemu", "serve", "--host", host, "--port", "0",
                 "--port-file", str(port_file), "--quiet", *watch],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=str(TESTS_DIR),
                start_new_session=directory is not None,
            )
        if directory:
            (directory / "awsemu.pid").write_text(str(process.pid))
        else:
            atexit.register(_kill_quietly, process)
        try:
            port = _wait_for_port(process, port_file, log_path, began + deadline_s)
            emulator = cls(process=process, port=port, log_path=log_path, region=region, host=host)
            emulator._wait_healthy(began + deadline_s)
        except BaseException:
            _kill_quietly(process)
            raise
        emulator.started_in_s = time.monotonic() - began
        return emulator

    def _wait_healthy(self, deadline: float) -> None:
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if self._session.get(f"{self.endpoint}/_awsemu/health", timeout=5).ok:
                    return
            except requests.RequestException as err:
                last = err
            time.sleep(0.05)
        raise EmulatorError(f"emulator on port {self.port} never became healthy: {last}")

    def stop(self) -> None:
        """SIGTERM, wait, SIGKILL if it will not go; only this process, by its PID."""
        _kill_quietly(self.process)
        self._session.close()

    def env(self) -> dict[str, str]:
        """What an AWS SDK (ours, boto3, the aws CLI) needs to talk to the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    def client(self, service: str, region: str | None = None):
        """A boto3 client of this emulator (dummy credentials), in `region` or the emulator's."""
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=region or self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self._session.request(method, f"{self.endpoint}{path}", timeout=HTTP_TIMEOUT_S, **kwargs)
        if response.status_code >= 400:
            raise EmulatorError(f"{method} {path}: HTTP {response.status_code}: {response.text}")
        return response

    def reset(self) -> None:
        """moto's reset (all AWS state) plus ours (faults); seeds are re-created."""
        self._call("POST", "/moto-api/reset")

    def add_fault(self, error_code: str, instance_type: str = "*", zone: str = "*",
                  capacity_type: str = "*", message: str | None = None,
                  times: int | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "error_code": error_code, "instance_type": instance_type, "zone": zone,
            "capacity_type": capacity_type,
        }
        if message is not None:
            spec["message"] = message
        if times is not None:
            spec["times"] = times
        return self._call("POST", "/_awsemu/faults", json=spec).json()["fault"]

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_awsemu/faults").json()["faults"]

    def remove_fault(self, fault_id: int) -> None:
        self._call("DELETE", f"/_awsemu/faults/{fault_id}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/_awsemu/faults")

    def put_eks_cluster(self, name: str, endpoint: str, certificate_authority: str, service_cidr: str,
                        region: str | None = None) -> str:
        """An ACTIVE EKS cluster with these coordinates (see control.py); returns its ARN."""
        return self._call("PUT", f"/_awsemu/eks-clusters/{name}", json={
            "region": region or self.region, "endpoint": endpoint,
            "certificateAuthority": certificate_authority, "serviceIpv4Cidr": service_cidr,
        }).json()["arn"]

    def prices(self, instance_type: str, region: str | None = None) -> dict[str, Any]:
        return self._call(
            "GET", "/_awsemu/prices",
            params={"region": region or self.region, "instance_type": instance_type},
        ).json()


def _wait_for_port(process: subprocess.Popen[bytes], port_file: Path, log_path: Path,
                   deadline: float) -> int:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(
                f"emulator exited with code {process.returncode} before it was ready; log "
                f"{log_path}:\n{_tail(log_path)}"
            )
        try:
            text = port_file.read_text().strip()
        except FileNotFoundError:
            text = ""
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    raise EmulatorError(f"emulator not ready before the deadline; log {log_path}:\n{_tail(log_path)}")


def _kill_quietly(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_DEADLINE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_DEADLINE_S)
