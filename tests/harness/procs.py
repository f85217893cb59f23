"""Processes of the environment: started with a log file and a pid file, stopped by PID.

Every process is started in its own session so that stopping it also stops anything it spawned,
and its pid is written to a file so `make env-down` (another Python process) can stop it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    """A condition did not hold before its deadline."""


def wait_for(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T:
    """Polls `check` until it returns a truthy value or `timeout` seconds pass; returns that value."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - a failing probe is retried until the deadline
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise Timeout(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


@dataclass
class Proc:
    name: str
    pid: int
    log: Path
    # How it was started, so that `restart` can start it again the same way.
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None

    def alive(self) -> bool:
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                return False
        except ChildProcessError:
            pass  # not our child (started by another process): fall back to kill(0)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start(name: str, argv: list[str], state_dir: Path, env: dict[str, str] | None = None) -> Proc:
    """Starts `argv` with stdout+stderr to state_dir/<name>.log and its pid in state_dir/<name>.pid."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / f"{name}.log"
    with open(log, "ab") as out:
        child = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    (state_dir / f"{name}.pid").write_text(str(child.pid))
    return Proc(name, child.pid, log, list(argv), env)


def kill(proc: Proc) -> None:
    """SIGKILL to the process group, no grace: nothing of its shutdown path runs."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_for(f"{proc.name} gone", lambda: not proc.alive(), 10, interval=0.05)


def restart(proc: Proc) -> Proc:
    """The same command started again (same log, same pid file), once `proc` has exited."""
    return start(proc.name, proc.argv, proc.log.parent, proc.env)


def stop_pid(pid: int, grace: float = 10.0) -> None:
    """SIGTERM to the process group, then SIGKILL after `grace` seconds; reaps our own children."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done == pid:
                    return
            except ChildProcessError:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
            time.sleep(0.05)


def stop_all(state_dir: Path) -> list[str]:
    """Stops every process with a pid file in state_dir, newest first; returns their names."""
    stopped = []
    pid_files = sorted(state_dir.glob("*.pid"), key=lambda p: p.stat().st_mtime, reverse=True)
    for pid_file in pid_files:
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            pid_file.unlink(missing_ok=True)
            continue
        stop_pid(pid)
        pid_file.unlink(missing_ok=True)
        stopped.append(pid_file.stem)
    return stopped


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
