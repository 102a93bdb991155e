"""Wiring the packages together: the one place that knows every package's checks.

``e2e`` cannot import ``tally`` (DESIGN.md), so the full set of admission checks and
verifier checkers is assembled here, for the CLI, the demo and the ledger service.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from e2e.election_ledger import election_operator
from e2e.errors import UsageError
from e2e.ledger.directory import LedgerConfig, open_ledger_directory
from e2e.ledger.heads import Clock, HeadLog, HeadSigner, system_clock
from e2e.ledger.http_client import HttpLedger, is_url
from e2e.ledger.node import LedgerNode, NodeInfo, NodeLedger
from tally.admission import admission_checks, observe_after_close

__all__ = ["open_ledger", "open_ledger_node", "open_local_ledger"]


def open_ledger_node(directory: Path, clock: Clock = system_clock
                     ) -> tuple[LedgerNode, LedgerConfig]:
    """The operator's node over a ledger directory: every admission check, head signing."""
    config, key, store = open_ledger_directory(directory)
    operator = election_operator(store, key, config.election_id,
                                 allow_test_group=config.test_group,
                                 extra_checks=admission_checks(),
                                 extra_observers=(observe_after_close,))
    info = NodeInfo("operator", config.election_id, config.origin, config.operator_key,
                    config.test_group)
    signer = HeadSigner(HeadLog(store), key, config.origin, config.election_id, clock)
    return LedgerNode(store, info, operator=operator, signer=signer, operator_key=key), config


def open_local_ledger(directory: Path) -> tuple[NodeLedger, LedgerConfig]:
    """An in-process ledger over a ledger directory (store, operator key, configuration)."""
    node, config = open_ledger_node(directory)
    return NodeLedger(node), config


def open_ledger(spec: str | Path) -> tuple[NodeLedger | HttpLedger, LedgerConfig | NodeInfo]:
    """``--ledger DIR`` (in process) or ``--ledger URL`` (the HTTP service).

    Both answer ``election_id``, ``test_group``, ``operator_key`` and ``origin``.
    """
    text = str(spec)
    if is_url(text):
        try:
            client = HttpLedger(text)
            return client, client.node_info()
        except httpx.InvalidURL as err:  # e.g. a bad port or an unclosed [IPv6 address]
            raise UsageError(f"not a valid ledger URL: {err}", "--ledger") from None
    return open_local_ledger(Path(text))
