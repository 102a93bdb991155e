"""The election context: what encrypting, verifying and decrypting all need.

After the ceremony closes, an election is fixed by its setup (group, manifest,
trustees) and the ceremony's outcome (joint key K, H_E, commitments). Every proof
from here on hashes H_E (docs/spec.md §3.4).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from e2e.ceremony import CeremonyOutcome, replay_ceremony
from e2e.errors import CeremonyError
from e2e.group import ElementModP, GroupParameters
from e2e.ledger.client import LedgerClient, read_setup
from e2e.ledger.entry import Entry
from e2e.ledger.types import EntryType
from e2e.manifest import Manifest
from e2e.setup import ElectionSetup

__all__ = ["ElectionContext", "load_context"]


@dataclass(frozen=True, slots=True)
class ElectionContext:
    setup: ElectionSetup
    ceremony: CeremonyOutcome

    @property
    def group(self) -> GroupParameters:
        return self.setup.group

    @property
    def manifest(self) -> Manifest:
        return self.setup.manifest

    @property
    def election_id(self) -> str:
        return self.setup.election_id

    @property
    def joint_key(self) -> ElementModP:
        return self.ceremony.joint_key

    @property
    def extended_base_hash(self) -> bytes:
        return self.ceremony.extended_base_hash


def _until_close(entries: Iterator[tuple[int, Entry]]) -> Iterator[tuple[int, Entry]]:
    for index, entry in entries:
        yield index, entry
        if entry.entry_type == EntryType.CEREMONY_CLOSE:
            return


def load_context(ledger: LedgerClient, allow_test_group: bool = False) -> ElectionContext:
    """Rebuild and check the context from a ledger whose ceremony has closed."""
    setup = read_setup(ledger, allow_test_group)
    progress = replay_ceremony(setup, _until_close(ledger.entries(0)))
    if progress.outcome is None:
        raise CeremonyError("the key ceremony has not closed on this ledger")
    return ElectionContext(setup, progress.outcome)
