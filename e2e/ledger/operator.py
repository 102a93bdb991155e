"""The ledger operator: admits signed entries, chains them in envelopes, promises inclusion.

docs/spec.md §7.4. For each entry offered, in order, the operator checks:

1. the entry decodes and names this election;
2. the first entry is the ``setup``, signed by an official it registers itself;
   afterwards the writer is registered (in the setup or a ``register-writer`` entry)
   and not revoked at this index;
3. the signature, under the writer's registered key;
4. the writer's sequence number is exactly one more than its last (from 0): replays and
   gaps are refused;
5. the entry type is allowed for the writer's role in the current phase;
6. any content check registered for the type (``AdmissionCheck``): ballots' proofs,
   style and chain, the ceremony's rules — returning the unique keys (e.g. every α)
   that the store must never see twice.

An accepted entry is appended durably and an ``InclusionPromise`` returned. State
(phase, registry) is rebuilt from the store on start by ``observe`` alone — content
checks are not re-run, as every stored entry passed them at admission.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from e2e.encoding import ObjectReader, canonical_json, parse_canonical_json
from e2e.errors import EncodingError, LedgerError, PaperchainError
from e2e.ledger.entry import Entry, Envelope, decode_entry, decode_envelope
from e2e.ledger.promise import InclusionPromise
from e2e.ledger.store import LogStore, PendingEntry
from e2e.ledger.types import ENTRY_RULES, PHASE_AFTER, EntryType, Phase
from e2e.setup import ElectionSetup, Role, WriterInfo
from e2e.signing import SigningKey, VerifyKey

__all__ = [
    "AdmissionCheck",
    "AppendResult",
    "LedgerOperator",
    "LedgerState",
    "RegisterWriter",
    "RevokeWriter",
]


class AdmissionCheck(Protocol):
    def __call__(self, state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
        """Raise a PaperchainError to refuse ``entry``; return its unique keys otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class AppendResult:
    index: int
    leaf_hash: bytes
    promise: InclusionPromise


@dataclass(frozen=True, slots=True)
class RegisterWriter:
    """Payload of ``register-writer``: a new writer (e.g. a replacement device)."""

    writer: WriterInfo

    def to_payload(self) -> bytes:
        w = self.writer
        return canonical_json({"version": 1, "writer_id": w.writer_id, "role": str(w.role),
                               "key": w.key.to_hex(), "location": w.location})

    @classmethod
    def from_payload(cls, data: bytes, where: str) -> RegisterWriter:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        writer = WriterInfo(obj.string("writer_id", 64), Role(obj.choice("role", list(Role))),
                            VerifyKey.from_hex(obj.string("key", 64), obj.path("key")),
                            obj.string("location", 256))
        obj.done()
        return cls(writer)


@dataclass(frozen=True, slots=True)
class RevokeWriter:
    """Payload of ``revoke-writer``: entries of ``writer_id`` at index >= ``from_index`` are
    refused (and, in the verifier, reported)."""

    writer_id: str
    from_index: int
    reason: str

    def to_payload(self) -> bytes:
        return canonical_json({"version": 1, "writer_id": self.writer_id,
                               "from_index": self.from_index, "reason": self.reason})

    @classmethod
    def from_payload(cls, data: bytes, where: str) -> RevokeWriter:
        obj = ObjectReader(parse_canonical_json(data, where), where)
        obj.version([1])
        result = cls(obj.string("writer_id", 64), obj.integer("from_index"),
                     obj.string("reason", 1024))
        obj.done()
        return result


@dataclass(slots=True)
class LedgerState:
    """What admission needs to know, rebuilt by observing every entry in order."""

    election_id: str
    allow_test_group: bool
    setup: ElectionSetup | None = None
    phase: Phase = Phase.SETUP
    writers: dict[str, WriterInfo] = field(default_factory=dict)
    revoked_from: dict[str, int] = field(default_factory=dict)
    next_sequence: dict[str, int] = field(default_factory=dict)
    size: int = 0
    extras: dict[str, object] = field(default_factory=dict)  # per-check state

    def writer_at(self, writer_id: str, index: int) -> WriterInfo:
        writer = self.writers.get(writer_id)
        if writer is None:
            raise LedgerError(f"writer {writer_id!r} is not registered")
        if index >= self.revoked_from.get(writer_id, 2**63):
            raise LedgerError(f"writer {writer_id!r} is revoked from index "
                              f"{self.revoked_from[writer_id]}")
        return writer

    def check(self, index: int, entry: Entry) -> WriterInfo:
        """Steps 1–5 of the module docstring (everything but content checks)."""
        if entry.election_id != self.election_id:
            raise LedgerError(f"entry for election {entry.election_id!r}, this ledger holds "
                              f"{self.election_id!r}")
        if self.setup is None:
            if entry.entry_type != EntryType.SETUP:
                raise LedgerError("the first entry must be the election setup")
            setup = ElectionSetup.from_payload(entry.payload, self.allow_test_group)
            if setup.election_id != self.election_id:
                raise LedgerError("the setup names another election")
            writer = next((w for w in setup.writers if w.writer_id == entry.writer_id), None)
            if writer is None:
                raise LedgerError("the setup is not signed by a writer it registers")
        else:
            writer = self.writer_at(entry.writer_id, index)
        entry.verify_signature(writer.key)
        expected = self.next_sequence.get(entry.writer_id, 0)
        if entry.sequence != expected:
            kind = "replayed" if entry.sequence < expected else "out of sequence"
            raise LedgerError(f"sequence number {entry.sequence} is {kind}: "
                              f"writer {entry.writer_id!r} expects {expected}")
        try:
            entry_type = EntryType(entry.entry_type)
        except ValueError:
            raise LedgerError(f"unknown entry type {entry.entry_type!r}") from None
        rule = ENTRY_RULES[entry_type]
        if writer.role not in rule.roles:
            raise LedgerError(f"a {writer.role} may not write {entry_type} entries")
        if self.phase not in rule.phases:
            raise LedgerError(f"{entry_type} entries are not accepted in the {self.phase} phase")
        return writer

    def observe(self, index: int, entry: Entry) -> None:
        """Update the state with an accepted entry."""
        if entry.entry_type == EntryType.SETUP and self.setup is None:
            self.setup = ElectionSetup.from_payload(entry.payload, self.allow_test_group)
            self.writers = {w.writer_id: w for w in self.setup.writers}
        elif entry.entry_type == EntryType.REGISTER_WRITER:
            writer = RegisterWriter.from_payload(entry.payload, f"entry {index}").writer
            self.writers[writer.writer_id] = writer
        elif entry.entry_type == EntryType.REVOKE_WRITER:
            revoke = RevokeWriter.from_payload(entry.payload, f"entry {index}")
            self.revoked_from[revoke.writer_id] = max(revoke.from_index, index + 1)
        next_phase = PHASE_AFTER.get(EntryType(entry.entry_type))
        if next_phase is not None:
            self.phase = next_phase
        self.next_sequence[entry.writer_id] = entry.sequence + 1
        self.size = index + 1


def _check_register(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    writer = RegisterWriter.from_payload(entry.payload, "payload").writer
    if writer.writer_id in state.writers:
        raise LedgerError(f"writer {writer.writer_id!r} is already registered")
    if writer.role in (Role.TRUSTEE, Role.OFFICIAL) and state.phase != Phase.CEREMONY:
        raise LedgerError(f"a {writer.role} can only be registered in the setup")
    return ()


def _check_revoke(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    revoke = RevokeWriter.from_payload(entry.payload, "payload")
    if revoke.writer_id not in state.writers:
        raise LedgerError(f"cannot revoke unknown writer {revoke.writer_id!r}")
    if revoke.from_index <= index:
        raise LedgerError("a revocation takes effect after its own entry, never retroactively")
    return ()


BASE_CHECKS: Mapping[str, AdmissionCheck] = {
    EntryType.REGISTER_WRITER: _check_register,
    EntryType.REVOKE_WRITER: _check_revoke,
}


class LedgerOperator:
    """Admits entries into a ``LogStore`` for one election (thread-safe, one process)."""

    def __init__(
        self,
        store: LogStore,
        operator_key: SigningKey,
        election_id: str,
        *,
        allow_test_group: bool = False,
        checks: Mapping[str, AdmissionCheck] | None = None,
        observers: Sequence[Callable[[LedgerState, int, Entry], None]] = (),
    ) -> None:
        self._store = store
        self._key = operator_key
        self._checks = {**BASE_CHECKS, **(checks or {})}
        self._observers = tuple(observers)
        self._lock = threading.Lock()
        self.state = LedgerState(election_id, allow_test_group)
        for index, entry in self._stored_entries():
            self._observe(index, entry)
        setup = self.state.setup
        if setup is not None and setup.operator_key != operator_key.verify_key:
            raise LedgerError("this operator key is not the one the setup registers")

    @property
    def store(self) -> LogStore:
        return self._store

    @property
    def checked_types(self) -> frozenset[str]:
        """The entry types that have a content check at admission (step 6)."""
        return frozenset(self._checks)

    def _stored_entries(self) -> Iterator[tuple[int, Entry]]:
        for index, raw in enumerate(self._store.envelopes(0, self._store.size())):
            yield index, decode_envelope(raw, f"stored envelope {index}").entry()

    def _observe(self, index: int, entry: Entry) -> None:
        self.state.observe(index, entry)
        for observer in self._observers:
            observer(self.state, index, entry)

    def append(self, entry_bytes: bytes) -> AppendResult:
        """Admit one encoded entry or raise a ``PaperchainError`` naming the reason."""
        with self._lock:
            index = self.state.size
            where = f"entry offered at index {index}"
            try:
                entry = decode_entry(entry_bytes, "entry")
                self.state.check(index, entry)
                if entry.entry_type == EntryType.SETUP:
                    setup = ElectionSetup.from_payload(entry.payload, self.state.allow_test_group)
                    if setup.operator_key != self._key.verify_key:
                        raise LedgerError("the setup registers another ledger operator key")
                check = self._checks.get(entry.entry_type)
                unique_keys = tuple(check(self.state, index, entry)) if check else ()
            except PaperchainError as err:
                raise err.at(where) from None
            except (ValueError, KeyError) as err:  # defensive: a decoder bug must not crash
                raise EncodingError(f"malformed entry: {err}", where) from None
            pending = PendingEntry(
                entry_bytes=entry_bytes, writer_id=entry.writer_id, writer_seq=entry.sequence,
                entry_type=entry.entry_type, unique_keys=unique_keys,
            )
            appended = self._store.append(
                [pending], lambda i, previous, raw: Envelope(i, previous, raw).encode()
            )[0]
            if appended.index != index:
                raise LedgerError(f"store appended at {appended.index}, expected {index}")
            self._observe(index, entry)
            promise = InclusionPromise.issue(self._key, self.state.election_id, index,
                                             appended.leaf_hash)
            return AppendResult(index, appended.leaf_hash, promise)
