"""The heads history of an election record, checked against the record's own envelopes.

docs/spec.md §16.6. A record keeps every head that reached the witness
threshold (``RECORD/heads.jsonl``, oldest first; ``record.json``'s ``head`` is the last).
``RootSnapshots`` watches the verifier's single pass over ``ledger.bin`` and keeps the
RFC 9162 root at each head's size; ``check_heads_history`` then checks, for every head:
the operator's signature, origin and election; at least ``witness_threshold`` valid
cosignatures from distinct registered witnesses; its root equal to the record's root at
its size; sizes never decreasing and times strictly increasing; and that the final head
covers the whole record. ``compare_with_ledger`` checks a record against a live ledger,
leaf by leaf, and that the ledger's latest head extends the record's final one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from e2e.errors import PaperchainError
from e2e.ledger.entry import leaf_hash_of
from e2e.ledger.heads import CosignedHead, HeadPolicy, decode_note, verify_cosigned_head
from e2e.ledger.node import LedgerView
from e2e.merkle import verify_consistency
from e2e.record import StreamingRoot
from e2e.setup import ElectionSetup

__all__ = [
    "HistoryOutcome",
    "RootSnapshots",
    "check_heads_history",
    "compare_with_ledger",
    "cosigned_history",
    "parse_notes",
]

_PAGE = 10_000


class RootSnapshots:
    """Pass envelopes through; remember the tree's root at each size asked for."""

    def __init__(self, sizes: Iterable[int]) -> None:
        self.wanted = frozenset(sizes)
        self.roots: dict[int, bytes] = {}
        self.size = 0
        self._tree = StreamingRoot()

    def watch(self, envelopes: Iterable[bytes]) -> Iterator[bytes]:
        for raw in envelopes:
            self._tree.add(leaf_hash_of(raw))
            self.size += 1
            if self.size in self.wanted:
                self.roots[self.size] = self._tree.root()
            yield raw

    def root(self) -> bytes:
        return self._tree.root()


@dataclass(slots=True)
class HistoryOutcome:
    """Heads that passed every check, by size; problems as (where, what)."""

    accepted: dict[int, CosignedHead] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    checked: int = 0


def parse_notes(notes: Sequence[str], where: str = "heads.jsonl") -> list[CosignedHead]:
    return [decode_note(note, f"{where} line {i + 1}") for i, note in enumerate(notes)]


def check_heads_history(setup: ElectionSetup, heads: Sequence[CosignedHead],
                        snapshots: RootSnapshots, *, final: CosignedHead | None,
                        entries: int, require_complete: bool = True) -> HistoryOutcome:
    """Every check of the module docstring; nothing raises, problems are listed."""
    outcome = HistoryOutcome()
    policy = HeadPolicy.from_setup(setup)
    previous: CosignedHead | None = None
    for number, head in enumerate(heads, start=1):
        where = f"heads.jsonl line {number} ({head.head.describe()})"
        try:
            policy.verify_signed(head.signed, where)
            cosigners = policy.valid_cosigners(head)
            if len(cosigners) < policy.threshold:
                outcome.problems.append((where, f"{len(cosigners)} valid witness "
                                         f"cosignature(s); the setup requires {policy.threshold}"))
                continue
        except PaperchainError as err:
            outcome.problems.append((where, err.reason))
            continue
        expected = snapshots.roots.get(head.size)
        if expected is None:
            outcome.problems.append((where, f"the record holds only {snapshots.size} entries"))
            continue
        if expected != head.root:
            outcome.problems.append((where, "its root is not the root of the record's first "
                                            f"{head.size} entries"))
            continue
        if previous is not None:
            if head.size < previous.size:
                outcome.problems.append((where, f"smaller than the head before it "
                                                f"({previous.size}): the log shrank"))
            if head.time <= previous.time:
                outcome.problems.append((where, "its time is not after the previous head's"))
        previous = head
        outcome.accepted[head.size] = head
        outcome.checked += 1
    if final is None:
        if require_complete:
            outcome.problems.append(("record.json", "the record names no final signed head"))
    else:
        if not heads or heads[-1].signed != final.signed:
            outcome.problems.append(("record.json", "the final head is not the last of "
                                                    "heads.jsonl"))
        if require_complete and final.size != entries:
            outcome.problems.append(("record.json", f"the final head covers {final.size} "
                                                    f"entries, the record holds {entries}"))
    return outcome


def compare_with_ledger(entries: Iterable[bytes], ledger: LedgerView,
                        final: CosignedHead | None) -> list[tuple[str, str]]:
    """The record's envelopes against the live ledger's leaves, and head consistency."""
    problems: list[tuple[str, str]] = []
    try:
        size = ledger.log_size()
    except PaperchainError as err:
        return [("ledger", str(err))]
    count = 0
    page: list[bytes] = []

    def flush(start: int) -> None:
        if not page:
            return
        if start + len(page) > size:
            problems.append(("ledger", f"the record holds {start + len(page)}+ entries, the "
                                       f"ledger only {size}"))
            page.clear()
            return
        remote = ledger.leaf_hashes(start, start + len(page))
        for offset, (mine, theirs) in enumerate(zip(page, remote, strict=True)):
            if mine != theirs:
                problems.append((f"ledger entry {start + offset}",
                                 "the record's entry differs from the live ledger's"))
                break
        page.clear()

    start = 0
    try:
        for raw in entries:
            page.append(leaf_hash_of(raw))
            count += 1
            if len(page) == _PAGE:
                flush(start)
                start = count
                if problems:
                    return problems
        flush(start)
    except PaperchainError as err:
        problems.append(("ledger", str(err)))
        return problems
    if problems:
        return problems
    if final is not None:
        try:
            latest = ledger.latest_head()
            if latest is not None and latest.size >= final.size:
                proof = ledger.consistency_proof(final.size, latest.size)
                verify_consistency(final.size, latest.size, proof, final.root, latest.root)
            elif latest is not None:
                problems.append(("ledger", f"the ledger's latest head ({latest.size}) is "
                                           f"smaller than the record's ({final.size})"))
        except PaperchainError as err:
            problems.append(("ledger", f"cannot show the ledger extends the record's final "
                                       f"head: {err}"))
    return problems


def cosigned_history(view: LedgerView, policy: HeadPolicy, upto: int) -> list[CosignedHead]:
    """The heads ``policy`` accepts (k-of-n cosigned) of size at most ``upto``, oldest first."""
    found: list[CosignedHead] = []
    before: int | None = None
    while True:
        page = view.heads_before(before, 1000)
        if not page:
            break
        for head in page:
            if head.size > upto:
                continue
            try:
                verify_cosigned_head(policy, head)
            except PaperchainError:
                continue
            found.append(head)
        before = page[-1].size
    found.reverse()
    return found
