"""Comparing what ledger nodes serve: heads that cannot both be true become proofs.

``check_logs`` (``paperchain ledger check``) gathers the latest head of every node
(operator and witnesses) and, for every size one of them shows, the head each other
node keeps for that size; it drops heads the operator did not sign, then compares
every pair (docs/spec.md §16.3):

* same size, different roots → a ``same-size`` proof;
* a smaller head not signed before a larger one → ``time-order``;
* otherwise the node holding the larger head must prove consistency (RFC 9162
  §2.1.4); if it cannot, the first index where the two nodes' copies differ, with an
  inclusion proof from each, becomes an ``inconsistent`` proof.

Every proof is checked (``verify_equivocation_proof``) before it is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from e2e.errors import LedgerError, PaperchainError
from e2e.ledger.entry import decode_envelope, leaf_hash_of
from e2e.ledger.equivocation import (
    EquivocationKind,
    EquivocationProof,
    LeafEvidence,
    NotEquivocation,
    SetupEvidence,
    build_proof,
)
from e2e.ledger.heads import CosignedHead, HeadPolicy
from e2e.ledger.node import LedgerView
from e2e.ledger.types import EntryType
from e2e.merkle import verify_consistency, verify_inclusion
from e2e.setup import ElectionSetup

__all__ = ["CheckReport", "HeldHead", "Party", "check_logs", "compare_heads", "read_setup_from",
           "setup_evidence"]

_LEAF_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Party:
    """A node to compare, by the name the user gave it (usually its URL)."""

    name: str
    view: LedgerView


@dataclass(frozen=True, slots=True)
class HeldHead:
    """A head, and the node that served it (which must hold its tree)."""

    party: Party
    head: CosignedHead

    def describe(self) -> str:
        return f"{self.party.name}: {self.head.head.describe()}"


@dataclass(slots=True)
class CheckReport:
    heads: list[HeldHead] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    proofs: list[EquivocationProof] = field(default_factory=list)
    pairs_consistent: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings and not self.proofs


def read_setup_from(view: LedgerView) -> ElectionSetup:
    """The setup at index 0 of a node's copy (any group: this is about who signs heads)."""
    entry = decode_envelope(view.envelope(0), "ledger entry 0").entry()
    if entry.entry_type != EntryType.SETUP:
        raise LedgerError("the first entry is not the election setup", "ledger entry 0")
    return ElectionSetup.from_payload(entry.payload, allow_test_group=True)


def setup_evidence(held: HeldHead, position: int) -> SetupEvidence:
    """The setup envelope with its inclusion proof in ``held``'s tree, checked."""
    envelope = held.party.view.envelope(0)
    proof = held.party.view.inclusion_proof(0, held.head.size)
    verify_inclusion(leaf_hash_of(envelope), 0, held.head.size, proof, held.head.root)
    return SetupEvidence(envelope, position, tuple(proof))


def _first_difference(a: HeldHead, b: HeldHead, end: int) -> int | None:
    for start in range(0, end, _LEAF_PAGE):
        stop = min(end, start + _LEAF_PAGE)
        left = a.party.view.leaf_hashes(start, stop)
        right = b.party.view.leaf_hashes(start, stop)
        for offset, (x, y) in enumerate(zip(left, right, strict=True)):
            if x != y:
                return start + offset
    return None


def _proof(kind: EquivocationKind, policy: HeadPolicy, first: HeldHead, second: HeldHead,
           leaf: LeafEvidence | None = None) -> EquivocationProof:
    return build_proof(kind, policy.election_id, policy.operator_key,
                       [first.head.note(policy), second.head.note(policy)],
                       setup_evidence(first, 0), leaf=leaf)


def compare_heads(policy: HeadPolicy, a: HeldHead, b: HeldHead
                  ) -> EquivocationProof | str | None:
    """None if both can be true; a proof if they cannot; a finding if neither is shown."""
    if a.head.size > b.head.size:
        a, b = b, a
    if a.head.size == b.head.size:
        if a.head.root == b.head.root:
            return None
        return _proof(EquivocationKind.SAME_SIZE, policy, a, b)
    if a.head.time >= b.head.time:
        return _proof(EquivocationKind.TIME_ORDER, policy, a, b)
    try:
        proof = b.party.view.consistency_proof(a.head.size, b.head.size)
        verify_consistency(a.head.size, b.head.size, proof, a.head.root, b.head.root)
        return None
    except PaperchainError as err:
        failure = err.reason
    try:
        index = _first_difference(a, b, a.head.size)
        if index is None:
            return (f"{b.party.name} cannot show that its {b.head.head.describe()} extends "
                    f"{a.describe()} ({failure}), yet both copies agree on every leaf below "
                    f"{a.head.size}")
        hashes, proofs = [], []
        for held in (a, b):
            digest = held.party.view.leaf_hashes(index, index + 1)[0]
            path = held.party.view.inclusion_proof(index, held.head.size)
            verify_inclusion(digest, index, held.head.size, path, held.head.root)
            hashes.append(digest)
            proofs.append(tuple(path))
        return _proof(EquivocationKind.INCONSISTENT, policy, a, b,
                      LeafEvidence(index, tuple(hashes), tuple(proofs)))
    except PaperchainError as err:
        return (f"{b.party.name} cannot show that its {b.head.head.describe()} extends "
                f"{a.describe()} ({failure}); building a proof failed: {err}")


def check_logs(parties: Sequence[Party]) -> CheckReport:
    """Compare every head the parties serve (module docstring)."""
    report = CheckReport()
    setup = None
    for party in parties:
        try:
            if party.view.log_size() > 0:
                setup = read_setup_from(party.view)
                break
        except PaperchainError as err:
            report.findings.append(f"{party.name}: {err}")
    if setup is None:
        report.findings.append("no node holds the election setup: nothing to compare")
        return report
    policy = HeadPolicy.from_setup(setup)
    held: list[HeldHead] = []
    for party in parties:
        try:
            head = party.view.latest_head()
        except PaperchainError as err:
            report.findings.append(f"{party.name}: {err}")
            continue
        if head is not None:
            held.append(HeldHead(party, head))
    sizes = sorted({h.head.size for h in held})
    for party in parties:
        for size in sizes:
            if any(h.party is party and h.head.size == size for h in held):
                continue
            try:
                head = party.view.head_at(size)
            except PaperchainError:
                continue
            if head is not None:
                held.append(HeldHead(party, head))
    for item in held:
        try:
            policy.verify_signed(item.head.signed)
        except PaperchainError as err:
            report.findings.append(f"{item.party.name} serves a head the operator did not "
                                   f"sign: {err.reason}")
            continue
        report.heads.append(item)
    seen: set[tuple[int, bytes, int, int, bytes, int]] = set()
    for i, a in enumerate(report.heads):
        for b in report.heads[i + 1:]:
            key = (a.head.size, a.head.root, a.head.time, b.head.size, b.head.root, b.head.time)
            if key in seen or (a.head.signed == b.head.signed):
                continue
            seen.add(key)
            try:
                outcome = compare_heads(policy, a, b)
            except NotEquivocation as err:
                report.findings.append(f"{a.describe()} vs {b.describe()}: {err}")
                continue
            if outcome is None:
                report.pairs_consistent += 1
            elif isinstance(outcome, str):
                report.findings.append(outcome)
            else:
                report.proofs.append(outcome)
    return report
