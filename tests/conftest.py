"""Fixtures of the local environment, for every test under tests/."""

pytest_plugins = ["harness.fixtures", "awsemu.pytest_fixtures"]
