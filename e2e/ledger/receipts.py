"""Checking a voter's receipt against the ledger, with heads fetched from the witnesses.

docs/spec.md §16.5. Given a tracking code (and, from the receipt's QR, the
operator's signed inclusion promise), ``check_receipt``:

1. reads the setup from a witness's copy (else the operator's), for the operator's key,
   the witnesses' keys and the threshold;
2. finds the newest head that at least ``witness_threshold`` registered witnesses
   cosigned, merging the cosignatures each node shows for the same head;
3. locates the entry: at the promise's index, else where the operator says the tracking
   code is (its ballot admission registers ``code:`` ‖ tracking code as a unique key);
4. fetches that envelope and its inclusion proof from the node holding the head, checks
   the proof against the cosigned root, and reads the ballot or challenge in it.

The answer is ``cast`` or ``challenged`` (the entry is there, proven against a cosigned
head), ``pending`` (recorded, but no cosigned head covers it yet), ``missing``, or
``broken-promise``: the promise's index is inside a cosigned head whose tree holds
another entry there — returned with the self-contained proof of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from e2e.errors import InvalidSignature, LedgerError, PaperchainError
from e2e.ledger.entry import decode_envelope, leaf_hash_of
from e2e.ledger.equivocation import (
    EquivocationKind,
    EquivocationProof,
    LeafEvidence,
    build_proof,
)
from e2e.ledger.heads import CosignedHead, HeadPolicy
from e2e.ledger.monitor import HeldHead, Party, setup_evidence
from e2e.ledger.node import LedgerView
from e2e.ledger.promise import InclusionPromise
from e2e.ledger.types import EntryType
from e2e.merkle import verify_inclusion
from e2e.setup import ElectionSetup
from e2e.voting import CastBallot, ChallengedBallot

__all__ = ["ReceiptCheck", "check_receipt", "find_cosigned_head"]


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    status: str  # cast | challenged | pending | missing | broken-promise
    tracking_code: bytes
    index: int | None = None
    leaf_hash: bytes | None = None
    head: CosignedHead | None = None
    head_from: str | None = None
    cosigners: tuple[str, ...] = ()
    inclusion_proof: tuple[bytes, ...] = ()
    proof: EquivocationProof | None = None
    notes: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return self.status in ("cast", "challenged")

    def describe(self) -> str:
        code = self.tracking_code.hex()[:16]
        if self.found and self.head is not None:
            return (f"tracking code {code}… is on the ledger as {self.status.upper()} at index "
                    f"{self.index}, proven against the head of size {self.head.size} cosigned by "
                    f"{', '.join(self.cosigners) or 'no witness (threshold 0)'}")
        if self.status == "pending":
            return (f"tracking code {code}… is recorded at index {self.index}, but no head with "
                    "enough witness cosignatures covers it yet: check again later")
        if self.status == "broken-promise" and self.proof is not None:
            return f"the ledger broke its promise: {self.proof.describe()}"
        return f"tracking code {code}… is not on the ledger"

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status, "tracking_code": self.tracking_code.hex(),
            "index": self.index,
            "leaf_hash": None if self.leaf_hash is None else self.leaf_hash.hex(),
            "head": None if self.head is None else {
                "size": self.head.size, "root": self.head.root.hex(), "time": self.head.time,
                "from": self.head_from},
            "cosigners": list(self.cosigners),
            "inclusion_proof": [p.hex() for p in self.inclusion_proof],
            "notes": list(self.notes),
        }


def find_cosigned_head(policy: HeadPolicy, parties: Sequence[Party]
                       ) -> tuple[HeldHead | None, tuple[str, ...], list[str]]:
    """The newest head with k-of-n valid cosignatures gathered across ``parties``.

    Returns the head (held by a party whose copy has its tree), its valid cosigners and
    notes on what could not be used.
    """
    notes: list[str] = []
    latest: list[HeldHead] = []
    for party in parties:
        try:
            head = party.view.latest_head()
        except PaperchainError as err:
            notes.append(f"{party.name}: {err}")
            continue
        if head is not None:
            latest.append(HeldHead(party, head))
    for size in sorted({h.head.size for h in latest}, reverse=True):
        candidates: list[HeldHead] = []
        for party in parties:
            try:
                head = party.view.head_at(size)
            except PaperchainError:
                continue
            if head is not None:
                candidates.append(HeldHead(party, head))
        for base in candidates:
            try:
                policy.verify_signed(base.head.signed)
            except PaperchainError as err:
                notes.append(f"{base.party.name}: {err.reason}")
                continue
            merged = base.head
            for other in candidates:
                if other.head.root == base.head.root and other.head.time == base.head.time:
                    merged = merged.with_cosignatures(other.head.cosignatures)
            cosigners = tuple(policy.valid_cosigners(merged))
            if len(cosigners) >= policy.threshold:
                return HeldHead(base.party, merged), cosigners, notes
    return None, (), notes


def _tracking_code_of(setup: ElectionSetup, envelope_bytes: bytes, index: int
                      ) -> tuple[str, bytes | None]:
    entry = decode_envelope(envelope_bytes, f"ledger entry {index}").entry()
    where = f"ledger entry {index}"
    if entry.entry_type == EntryType.BALLOT:
        cast = CastBallot.from_payload(entry.payload, setup.group, where)
        return "cast", cast.ballot.tracking_code
    if entry.entry_type == EntryType.CHALLENGE:
        return "challenged", ChallengedBallot.from_payload(entry.payload, setup.group,
                                                           where).ballot.tracking_code
    return entry.entry_type, None


def check_receipt(tracking_code: bytes, *, operator: LedgerView, witnesses: Sequence[Party],
                  promise: InclusionPromise | None = None, allow_test_group: bool = False
                  ) -> ReceiptCheck:
    """See the module docstring. Raises only when nothing can be said (no setup, bad promise)."""
    sources = [*witnesses, Party("operator", operator)]
    setup = None
    for party in sources:
        try:
            entry = decode_envelope(party.view.envelope(0), "ledger entry 0").entry()
        except PaperchainError:
            continue
        if entry.entry_type == EntryType.SETUP:
            setup = ElectionSetup.from_payload(entry.payload, allow_test_group)
            break
    if setup is None:
        raise LedgerError("no node serves the election setup")
    policy = HeadPolicy.from_setup(setup)
    if promise is not None:
        try:
            promise.verify(setup.operator_key, setup.election_id)
        except InvalidSignature:
            raise InvalidSignature("the receipt's inclusion promise is not signed by this "
                                   "election's ledger operator") from None
    held, cosigners, notes = find_cosigned_head(policy, list(witnesses) or sources)
    index = promise.index if promise is not None else None
    try:
        record = operator.promise_for_code(tracking_code)
    except PaperchainError as err:
        record = None
        notes.append(f"operator: {err}")
    if record is not None:
        if index is None:
            index = record.index
        elif record.index != index:
            notes.append(f"the operator now places this tracking code at index {record.index}, "
                         f"not the promised {index}")
    if index is None:
        return ReceiptCheck("missing", tracking_code, notes=tuple(notes))
    if held is None or index >= held.head.size:
        status = "pending" if record is not None or promise is not None else "missing"
        return ReceiptCheck(status, tracking_code, index, None,
                            None if held is None else held.head,
                            None if held is None else held.party.name, cosigners,
                            notes=tuple(notes))
    view, head = held.party.view, held.head
    envelope = view.envelope(index)
    leaf = leaf_hash_of(envelope)
    path = view.inclusion_proof(index, head.size)
    verify_inclusion(leaf, index, head.size, path, head.root)
    base = dict(tracking_code=tracking_code, index=index, leaf_hash=leaf, head=head,
                head_from=held.party.name, cosigners=cosigners, inclusion_proof=tuple(path))
    if promise is not None and leaf != promise.leaf_hash:
        proof = build_proof(EquivocationKind.BROKEN_PROMISE, setup.election_id,
                            setup.operator_key, [head.note(policy)], setup_evidence(held, 0),
                            leaf=LeafEvidence(index, (leaf,), (tuple(path),)), promise=promise)
        return ReceiptCheck("broken-promise", proof=proof, notes=tuple(notes), **base)
    status, code = _tracking_code_of(setup, envelope, index)
    if code != tracking_code:
        notes.append(f"the entry at index {index} is a {status} entry without this tracking code")
        return ReceiptCheck("missing", notes=tuple(notes), **base)
    return ReceiptCheck(status, notes=tuple(notes), **base)
