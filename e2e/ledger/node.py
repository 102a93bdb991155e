"""A ledger node: what an operator or a witness holds and serves, in process.

An **operator node** wraps the ``LedgerOperator`` (every admission check) over its
store, and signs heads (``HeadSigner``); a **witness node** serves its own copy of the
log and the heads it has cosigned, and admits nothing. The HTTP service
(``e2e.ledger.service``) is a thin mapping of a node's methods onto routes, and
``NodeLedger`` gives the same methods to in-process callers (the CLI with
``--ledger DIR``), so the two behave identically.

``LedgerView`` is the read side every node offers — over HTTP (``HttpLedger``) or in
process (``NodeLedger``): heads, envelopes, leaf hashes, proofs, promises.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from e2e.errors import LedgerError, StateError, UsageError
from e2e.ledger.client import LocalLedger
from e2e.ledger.entry import Entry, decode_entry, decode_envelope
from e2e.ledger.heads import (
    Cosignature,
    CosignedHead,
    HeadLog,
    HeadPolicy,
    HeadSigner,
)
from e2e.ledger.operator import AppendResult, LedgerOperator
from e2e.ledger.promise import InclusionPromise
from e2e.ledger.store import LogStore, OutOfRange
from e2e.ledger.types import EntryType
from e2e.setup import ElectionSetup
from e2e.signing import SigningKey, VerifyKey

__all__ = [
    "HeadSource",
    "LedgerNode",
    "LedgerView",
    "NodeInfo",
    "NodeLedger",
    "PromiseRecord",
    "tracking_code_key",
]


def tracking_code_key(tracking_code: bytes) -> bytes:
    """The unique key a ballot or challenge registers for its tracking code (e2e.voting)."""
    return b"code:" + tracking_code


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Who a node is: operator or witness, for which election and log."""

    role: str  # "operator" or "witness"
    election_id: str
    origin: str
    operator_key: VerifyKey
    test_group: bool
    witness_id: str | None = None


@dataclass(frozen=True, slots=True)
class PromiseRecord:
    """Where a tracking code's entry is, and the operator's signed promise for it."""

    index: int
    leaf_hash: bytes
    entry_type: str
    promise: InclusionPromise


@runtime_checkable
class HeadSource(Protocol):
    """Where trustees and officials get cosigned heads and the proofs that tie them."""

    def cosigned_head(self) -> CosignedHead | None:
        """The newest head with enough valid cosignatures for the election's setup."""
        ...

    def head_at(self, size: int) -> CosignedHead | None:
        """The head of that size with every cosignature gathered, or None."""
        ...

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]: ...


class LedgerView(HeadSource, Protocol):
    """The read side of a node (operator or witness)."""

    def node_info(self) -> NodeInfo: ...

    def latest_head(self) -> CosignedHead | None: ...

    def heads_before(self, size: int | None, limit: int) -> list[CosignedHead]: ...

    def log_size(self) -> int: ...

    def envelope(self, index: int) -> bytes: ...

    def envelope_range(self, start: int, end: int) -> Iterator[bytes]: ...

    def leaf_hashes(self, start: int, end: int) -> list[bytes]: ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...

    def promise_for_code(self, tracking_code: bytes) -> PromiseRecord | None: ...


class LedgerNode:
    """A store and its heads; with ``operator`` and ``signer``, an operator node."""

    def __init__(self, store: LogStore, info: NodeInfo, *,
                 operator: LedgerOperator | None = None, signer: HeadSigner | None = None,
                 operator_key: SigningKey | None = None) -> None:
        if (operator is None) != (signer is None):
            raise UsageError("an operator node needs both the operator and a head signer")
        self.store = store
        self.info = info
        self.operator = operator
        self.signer = signer
        self.heads = HeadLog(store)
        self._operator_key = operator_key
        self._setup: ElectionSetup | None = None

    @property
    def is_operator(self) -> bool:
        return self.operator is not None

    # --- the setup and its head policy ------------------------------------------------

    def setup(self) -> ElectionSetup | None:
        if self._setup is None:
            if self.operator is not None:
                self._setup = self.operator.state.setup
            elif self.store.size() > 0:
                entry = decode_envelope(self.store.envelope(0), "ledger entry 0").entry()
                if entry.entry_type == EntryType.SETUP:
                    self._setup = ElectionSetup.from_payload(entry.payload, self.info.test_group)
        return self._setup

    def policy(self) -> HeadPolicy:
        setup = self.setup()
        if setup is None:
            raise StateError("the ledger holds no election setup yet")
        return HeadPolicy.from_setup(setup)

    # --- writes (operator only) -----------------------------------------------------

    def _require_operator(self) -> tuple[LedgerOperator, HeadSigner]:
        if self.operator is None or self.signer is None:
            raise UsageError("this node is a witness: it admits no entries")
        return self.operator, self.signer

    def append(self, entry_bytes: bytes) -> AppendResult:
        operator, _ = self._require_operator()
        if operator.state.setup is None:
            entry = decode_entry(entry_bytes, "entry")
            if entry.entry_type == EntryType.SETUP:
                setup = ElectionSetup.from_payload(entry.payload, self.info.test_group)
                if setup.log_origin != self.info.origin:
                    raise LedgerError(f"the setup names log {setup.log_origin!r}; this ledger "
                                      f"is {self.info.origin!r}", "entry offered at index 0")
        return operator.append(entry_bytes)

    def add_cosignature(self, size: int, root: bytes, cosignature: Cosignature) -> CosignedHead:
        """Keep a witness's cosignature after checking it against the kept head."""
        self._require_operator()
        head = self.heads.at(size)
        if head is None:
            raise OutOfRange(f"no head of size {size} to cosign")
        if head.root != root:
            raise LedgerError(f"the head of size {size} has another root")
        self.policy().verify_cosignature(head.head, cosignature)
        self.heads.add_cosignature(size, cosignature)
        found = self.heads.at(size)
        if found is None:  # pragma: no cover - just stored
            raise StateError("the head vanished")
        return found

    # --- reads ----------------------------------------------------------------------

    def node_info(self) -> NodeInfo:
        return self.info

    def latest_head(self) -> CosignedHead | None:
        if self.signer is not None:
            return self.signer.current()
        return self.heads.latest()

    def cosigned_head(self) -> CosignedHead | None:
        if self.setup() is None:
            return None
        if self.signer is not None:
            self.signer.current()
        return self.heads.latest_cosigned(self.policy())

    def head_at(self, size: int) -> CosignedHead | None:
        return self.heads.at(size)

    def heads_before(self, size: int | None, limit: int) -> list[CosignedHead]:
        found = []
        for kept in self.heads.sizes_before(size, limit):
            head = self.heads.at(kept)
            if head is not None:
                found.append(head)
        return found

    def log_size(self) -> int:
        return self.store.size()

    def envelope(self, index: int) -> bytes:
        return self.store.envelope(index)

    def envelope_range(self, start: int, end: int) -> Iterator[bytes]:
        return self.store.envelopes(start, end)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        size = self.store.size()
        if not 0 <= start <= end <= size:
            raise OutOfRange(f"no leaves {start}..{end}: the log holds {size}")
        return [self.store.leaf_hash(i) for i in range(start, end)]

    def index_of_leaf(self, leaf_hash: bytes) -> int | None:
        return self.store.index_of_leaf(leaf_hash)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.store.inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        if size1 < 1:
            raise UsageError("a consistency proof starts from a non-empty tree (size1 >= 1)")
        if size1 > size2:
            raise UsageError(f"size1 {size1} exceeds size2 {size2}")
        return self.store.consistency_proof(size1, size2)

    def promise_for_code(self, tracking_code: bytes) -> PromiseRecord | None:
        """The operator's promise for the entry carrying this tracking code (operator only)."""
        if self._operator_key is None:
            raise UsageError("only the operator issues inclusion promises")
        index = self.store.index_of_key(tracking_code_key(tracking_code))
        if index is None:
            return None
        leaf = self.store.leaf_hash(index)
        entry = decode_envelope(self.store.envelope(index), f"ledger entry {index}").entry()
        promise = InclusionPromise.issue(self._operator_key, self.info.election_id, index, leaf)
        return PromiseRecord(index, leaf, entry.entry_type, promise)

    def next_sequence(self, writer_id: str) -> int:
        operator, _ = self._require_operator()
        return operator.state.next_sequence.get(writer_id, 0)


class NodeLedger(LocalLedger):
    """A ``LedgerClient`` and ``LedgerView`` over an in-process operator node."""

    def __init__(self, node: LedgerNode) -> None:
        operator, _ = node._require_operator()
        super().__init__(operator)
        self.node = node

    def append(self, entry: Entry) -> AppendResult:
        return self.node.append(entry.encode())

    def node_info(self) -> NodeInfo:
        return self.node.info

    def latest_head(self) -> CosignedHead | None:
        return self.node.latest_head()

    def cosigned_head(self) -> CosignedHead | None:
        return self.node.cosigned_head()

    def head_at(self, size: int) -> CosignedHead | None:
        return self.node.head_at(size)

    def heads_before(self, size: int | None, limit: int) -> list[CosignedHead]:
        return self.node.heads_before(size, limit)

    def log_size(self) -> int:
        return self.node.log_size()

    def envelope(self, index: int) -> bytes:
        return self.node.envelope(index)

    def envelope_range(self, start: int, end: int) -> Iterator[bytes]:
        return self.node.envelope_range(start, end)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        return self.node.leaf_hashes(start, end)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.node.inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return self.node.consistency_proof(size1, size2)

    def promise_for_code(self, tracking_code: bytes) -> PromiseRecord | None:
        return self.node.promise_for_code(tracking_code)

    def submit_cosignature(self, size: int, root: bytes, cosignature: Cosignature) -> None:
        self.node.add_cosignature(size, root, cosignature)

