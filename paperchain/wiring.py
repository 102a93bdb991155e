"""Wiring the packages together: the one place that knows every package's checks.

``e2e`` cannot import ``tally`` (DESIGN.md), so the full set of admission checks and
verifier checkers is assembled here, for the CLI, the demo and the ledger service.
"""

from __future__ import annotations

from pathlib import Path

from e2e.election_ledger import election_operator
from e2e.ledger.client import LocalLedger
from e2e.ledger.directory import LedgerConfig, open_ledger_directory

__all__ = ["open_local_ledger"]


def open_local_ledger(directory: Path) -> tuple[LocalLedger, LedgerConfig]:
    """An in-process ledger over a ledger directory (store, operator key, configuration)."""
    config, key, store = open_ledger_directory(directory)
    operator = election_operator(store, key, config.election_id,
                                 allow_test_group=config.test_group)
    return LocalLedger(operator), config
