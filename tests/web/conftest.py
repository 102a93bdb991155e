"""Fixtures for the web tests: an election served with its kiosk and public site."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.web.web_helpers import WebElection, start_web_election  # noqa: E402


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebElection]:
    served = start_web_election(tmp_path)
    try:
        yield served
    finally:
        served.close()
