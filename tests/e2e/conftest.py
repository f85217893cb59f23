"""Fixtures for the end-to-end scenarios: the local control plane comes from harness.fixtures (root
conftest), the AWS emulator from awsemu.pytest_fixtures."""

from awsemu.pytest_fixtures import aws, aws_emulator  # noqa: F401
