"""Fixtures for the smoke tests.

AWS emulator fixtures live in tests/awsemu/pytest_fixtures.py; Kubernetes fixtures, when added,
belong in their own module imported here the same way.
"""

import sys
from pathlib import Path

# The harness packages live in tests/; make them importable whether or not PYTHONPATH=tests is set.
_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from awsemu.pytest_fixtures import aws, aws_emulator  # noqa: E402,F401
