"""Shared fixtures: a closed key ceremony on the test group and its election context.

Both are session-wide and must not be mutated; a test that changes a transcript
builds its own ``CeremonyScript``.
"""

from __future__ import annotations

import pytest

from e2e.context import ElectionContext
from e2e.group import TEST_GROUP
from tests.strategies import CeremonyScript, election_context


@pytest.fixture(scope="session")
def closed_script() -> CeremonyScript:
    """Trustees 1..3, threshold 2, demo manifest, ceremony closed in attempt 1."""
    script = CeremonyScript.create(TEST_GROUP)
    script.run_attempt()
    return script


@pytest.fixture(scope="session")
def context(closed_script: CeremonyScript) -> ElectionContext:
    return election_context(closed_script)
