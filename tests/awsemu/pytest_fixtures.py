"""pytest fixtures for the AWS emulator. Import them from a conftest:

    from awsemu.pytest_fixtures import aws_emulator, aws  # noqa: F401

`aws_emulator` (session): one server process for the session, stopped at the end even on failure.
`aws` (function): the same process reset to its seeded state, with AWS_ENDPOINT_URL, AWS_REGION,
AWS_DEFAULT_REGION and dummy credentials exported for boto3 (and for child processes of the test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import hostnet

from .client import Emulator

# Real credentials or profiles on the machine must never reach a test client.
_SCRUB = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")


@pytest.fixture(scope="session")
def aws_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    log = tmp_path_factory.mktemp("awsemu") / "awsemu.log"
    emulator = Emulator.start(log_path=log, host=hostnet.address())
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def aws(aws_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    aws_emulator.reset()
    for name in _SCRUB:
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_emulator.env().items():
        monkeypatch.setenv(name, value)
    return aws_emulator
