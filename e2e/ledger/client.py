"""How writers and readers reach a ledger: in-process (``LocalLedger``) or over HTTP.

A ``LedgerClient`` appends encoded entries and streams back (index, entry) pairs
after checking every envelope's index and chain link. ``Writer`` signs entries for
one writer with the right sequence numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from e2e.errors import LedgerError
from e2e.ledger.entry import GENESIS_PREVIOUS, Entry, check_chain, decode_envelope, sign_entry
from e2e.ledger.operator import AppendResult, LedgerOperator
from e2e.ledger.types import EntryType
from e2e.setup import ElectionSetup
from e2e.signing import SigningKey

__all__ = ["LedgerClient", "LocalLedger", "Writer", "read_setup"]


class LedgerClient(Protocol):
    @property
    def election_id(self) -> str: ...

    def append(self, entry: Entry) -> AppendResult: ...

    def entries(self, start: int = 0) -> Iterator[tuple[int, Entry]]:
        """(index, entry) from ``start``, each envelope checked against its predecessor."""
        ...

    def envelopes(self, start: int = 0) -> Iterator[bytes]:
        """Raw envelope bytes from ``start`` (for verifiers that check everything)."""
        ...

    def next_sequence(self, writer_id: str) -> int: ...

    def size(self) -> int: ...


class LocalLedger:
    """A ``LedgerClient`` talking to an in-process ``LedgerOperator``."""

    def __init__(self, operator: LedgerOperator) -> None:
        self.operator = operator

    @property
    def election_id(self) -> str:
        return self.operator.state.election_id

    def append(self, entry: Entry) -> AppendResult:
        return self.operator.append(entry.encode())

    def size(self) -> int:
        return self.operator.store.size()

    def entries(self, start: int = 0) -> Iterator[tuple[int, Entry]]:
        store = self.operator.store
        previous = GENESIS_PREVIOUS if start == 0 else store.leaf_hash(start - 1)
        for index, raw in enumerate(store.envelopes(start, store.size()), start=start):
            envelope = decode_envelope(raw, f"ledger entry {index}")
            check_chain(envelope, index, previous)
            previous = envelope.leaf_hash
            yield index, envelope.entry()

    def envelopes(self, start: int = 0) -> Iterator[bytes]:
        store = self.operator.store
        return store.envelopes(start, store.size())

    def next_sequence(self, writer_id: str) -> int:
        return self.operator.state.next_sequence.get(writer_id, 0)


class Writer:
    """Signs and appends entries as one registered writer."""

    def __init__(self, ledger: LedgerClient, key: SigningKey, writer_id: str) -> None:
        self.ledger = ledger
        self.key = key
        self.writer_id = writer_id

    def write(self, entry_type: EntryType, payload: bytes) -> AppendResult:
        entry = sign_entry(self.key, str(entry_type), self.ledger.election_id, self.writer_id,
                           self.ledger.next_sequence(self.writer_id), payload)
        return self.ledger.append(entry)


def read_setup(ledger: LedgerClient, allow_test_group: bool) -> ElectionSetup:
    """The election setup from the ledger's first entry."""
    for index, entry in ledger.entries(0):
        if entry.entry_type != EntryType.SETUP:
            raise LedgerError("the first entry is not the election setup", f"ledger entry {index}")
        return ElectionSetup.from_payload(entry.payload, allow_test_group)
    raise LedgerError("the ledger is empty: no election setup yet")
