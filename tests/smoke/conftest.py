"""Fixtures for the smoke tests.

AWS emulator fixtures live in tests/awsemu/pytest_fixtures.py (run with PYTHONPATH=tests);
Kubernetes fixtures, when added, belong in their own module imported here the same way.
"""

from awsemu.pytest_fixtures import aws, aws_emulator  # noqa: F401
