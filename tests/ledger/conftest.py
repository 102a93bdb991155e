"""Fixtures for the ledger store tests: every store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``tests/pgcluster.py``: one throwaway cluster per pytest session —
that is, per xdist worker, each in its own directory with its own socket and port — and a
fresh database per test. Missing binaries skip those tests, or fail them under CI=true.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/pgcluster.py is shared with other test packages and the benchmarks; make the
# repository root importable however pytest was started (`pytest` or `python -m pytest`).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from e2e.ledger.store import SqlLogStore, open_store  # noqa: E402
from tests.ledger.store_helpers import BACKENDS, new_store_url  # noqa: E402
from tests.pgcluster import PgCluster, require_postgres, start_cluster  # noqa: E402


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = start_cluster(require_postgres())
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where to open an empty store, once per backend."""
    return new_store_url(request, request.param, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[SqlLogStore]:
    opened = open_store(store_url)
    yield opened
    opened.close()
