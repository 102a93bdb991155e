"""Wiring the packages together: the one place that knows every package's checks.

``e2e`` cannot import ``tally`` (DESIGN.md), so the full set of admission checks and
verifier checkers is assembled here, for the CLI, the demo and the ledger service.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from e2e.cvr import CvrStore
from e2e.election_ledger import election_operator
from e2e.errors import StateError, UsageError
from e2e.group import GroupParameters
from e2e.keystore import atomic_write
from e2e.ledger.directory import LedgerConfig, open_ledger_directory
from e2e.ledger.heads import Clock, HeadLog, HeadSigner, system_clock
from e2e.ledger.http_client import HttpLedger, is_url
from e2e.ledger.node import LedgerNode, NodeInfo, NodeLedger
from tally.admission import admission_checks, observe_after_close

__all__ = ["NO_CVRS_HELP", "device_cvrs", "open_ledger", "open_ledger_node",
           "open_local_ledger"]

NO_CVRS_HELP = (
    "Run this device without CVRs: casting encrypts, stores and publishes no cast vote "
    "record, so no per-ballot record of choices exists anywhere (privacy), and the election "
    "is audited by ballot polling (audit reconcile --without-cvrs, audit parameters --mode "
    "polling). Every device of the election must run so; the choice is kept in the device's "
    "directory and cannot be undone.")


def device_cvrs(device_dir: Path, group: GroupParameters, no_cvrs: bool | None
                ) -> CvrStore | bool:
    """A device's CVR store (``DIR/cvrs.json``), or ``False`` for a device run without CVRs.

    The choice sticks to the device's directory (the marker file ``DIR/no-cvrs``): a device
    that stored CVRs cannot go without, and one that went without cannot start keeping them,
    so one chain never holds CVRs for only some of its ballots. ``None`` (closing,
    publishing): whatever the directory says."""
    marker, store = device_dir / "no-cvrs", device_dir / "cvrs.json"
    if no_cvrs is None:
        return False if marker.exists() else CvrStore(store, group)
    if no_cvrs:
        if store.exists():
            raise StateError(f"this device already keeps CVRs ({store}): an election's devices "
                             "run all with CVRs or all without", "--no-cvrs")
        if not marker.exists():
            atomic_write(marker, b"this device runs without CVRs\n")
        return False
    if marker.exists():
        raise StateError(f"this device runs without CVRs ({marker}): pass --no-cvrs",
                         str(device_dir))
    return CvrStore(store, group)


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
