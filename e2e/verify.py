"""The verifier's core: one streaming pass over the ledger, every check of docs/spec.md §13.

``RecordVerifier.run`` reads envelopes in order (memory does not hold the ledger) and
checks, for each one: its index and chain link; its entry's encoding, election,
writer registration and revocation, signature, sequence number, role and phase
(the same rules the operator applies at admission); then its content — the
ceremony's proofs, complaints and closing signatures; every ballot's style, proofs,
tracking code, device chain and α uniqueness; every challenged ballot's
re-encryption; every device close. Entries after the close of voting (tally,
decryption, results, audit) go to ``EntryChecker``s that other packages provide.

Problems are gathered as ``Finding``s naming the ledger position and the failure;
an invalid ballot is reported and excluded from ``aggregate`` (the encrypted sum of
the valid cast ballots), never silently counted or silently dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from e2e.ballot import EncryptedBallot, verify_ballot, verify_opening
from e2e.ceremony import CEREMONY_TYPES, CeremonyReplay
from e2e.context import ElectionContext
from e2e.elgamal import Ciphertext
from e2e.errors import PaperchainError, RecordError
from e2e.ledger.entry import GENESIS_PREVIOUS, Entry, decode_envelope, leaf_hash_of
from e2e.ledger.operator import LedgerState
from e2e.ledger.types import EntryType
from e2e.official import PhaseNote
from e2e.remake import CardRemake, check_remake
from e2e.voting import CastBallot, ChallengedBallot, DeviceChains, DeviceClose, alpha_keys

__all__ = [
    "CastAggregate",
    "EntryChecker",
    "Finding",
    "RecordVerifier",
    "VerificationReport",
]


@dataclass(frozen=True, slots=True)
class Finding:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass(slots=True)
class VerificationReport:
    """What was checked (name → how many passed) and what failed."""

    checks: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def passed(self, name: str, count: int = 1) -> None:
        self.checks[name] = self.checks.get(name, 0) + count

    def fail(self, where: str, problem: str) -> None:
        self.findings.append(Finding(where, problem))

    def fail_with(self, error: PaperchainError, where: str) -> None:
        located = error.where or where
        self.findings.append(Finding(located, error.reason))


@dataclass(slots=True)
class CastAggregate:
    """The encrypted tally of valid cast ballots: per (contest, selection) the product."""

    totals: dict[tuple[int, int], Ciphertext] = field(default_factory=dict)
    ballots_per_contest: dict[int, int] = field(default_factory=dict)
    ballots_per_style: dict[str, int] = field(default_factory=dict)
    ballots: int = 0

    def add(self, ballot: EncryptedBallot) -> None:
        self.ballots += 1
        self.ballots_per_style[ballot.style_id] = self.ballots_per_style.get(ballot.style_id, 0) + 1
        for contest in ballot.contests:
            self.ballots_per_contest[contest.index] = (
                self.ballots_per_contest.get(contest.index, 0) + 1)
            for j, selection in enumerate(contest.selections):
                key = (contest.index, j)
                current = self.totals.get(key)
                self.totals[key] = (selection.ciphertext if current is None
                                    else current * selection.ciphertext)

    def total(self, context: ElectionContext, contest: int, selection: int) -> Ciphertext:
        """The product for one selection: (1, 1) when no valid cast ballot holds it."""
        return self.totals.get((contest, selection), Ciphertext.identity(context.group))


class EntryChecker(Protocol):
    """Checks entries of some types (e.g. tally, decryption shares) during the pass."""

    entry_types: frozenset[str]

    def check(self, verifier: RecordVerifier, index: int, entry: Entry) -> None:
        """Raise a PaperchainError (it becomes a finding) or return None."""
        ...

    def finish(self, verifier: RecordVerifier) -> None:
        """After the last entry: raise for anything missing."""
        ...


T = TypeVar("T")

_VOTING_TYPES = frozenset({EntryType.BALLOT, EntryType.CHALLENGE, EntryType.DEVICE_CLOSE})
_PHASE_TYPES = frozenset({EntryType.SETUP, EntryType.REGISTER_WRITER, EntryType.REVOKE_WRITER,
                          EntryType.VOTING_OPEN, EntryType.VOTING_CLOSE})


class RecordVerifier:
    """One pass over a ledger's envelopes; see the module docstring."""

    def __init__(self, election_id: str | None, *, allow_test_group: bool = False,
                 checkers: Sequence[EntryChecker] = (),
                 progress: Callable[[int], None] | None = None) -> None:
        self.report = VerificationReport()
        self.state = LedgerState(election_id or "", allow_test_group)
        self._expected_election = election_id
        self.ceremony: CeremonyReplay | None = None
        self.context: ElectionContext | None = None
        self.chains: DeviceChains | None = None
        self.aggregate = CastAggregate()
        self.spoiled_paper_ids: set[bytes] = set()
        self.card_remakes: dict[bytes, int] = {}  # paper ballot ID → remakes so far
        self.cast_codes: set[bytes] = set()
        self.challenged_codes: set[bytes] = set()
        self.voting_close_index: int | None = None
        self.leaf_hashes_seen = 0
        self._alphas: set[bytes] = set()
        self._checkers = {t: c for c in checkers for t in c.entry_types}
        self._all_checkers = tuple(checkers)
        self._progress = progress

    def checker(self, kind: type[T]) -> T:
        """The plugged-in checker of this class."""
        for checker in self._all_checkers:
            if isinstance(checker, kind):
                return checker
        raise RecordError(f"no {kind.__name__} is plugged into this verifier")

    # --- the pass ------------------------------------------------------------------------

    def run(self, envelopes: Iterable[bytes]) -> VerificationReport:
        previous = GENESIS_PREVIOUS
        index = -1
        try:
            for index, raw in enumerate(envelopes):
                previous = self._envelope(index, raw, previous)
                if self._progress is not None:
                    self._progress(index)
                if self.state.setup is None:  # nothing after a refused setup can be checked
                    self.report.fail("ledger", "stopped: without a valid setup entry no later "
                                               "entry can be checked")
                    break
        except PaperchainError as err:  # the record itself is unreadable past this point
            self.report.fail_with(err, f"record after entry {index}")
        self._finish(index + 1)
        return self.report

    def _envelope(self, index: int, raw: bytes, previous: bytes) -> bytes:
        where = f"ledger entry {index}"
        leaf = leaf_hash_of(raw)
        try:
            envelope = decode_envelope(raw, where)
        except PaperchainError as err:
            self.report.fail_with(err, where)
            return leaf
        if envelope.index != index:
            self.report.fail(where, f"envelope says index {envelope.index}")
        elif envelope.previous != previous:
            self.report.fail(where, "chain broken: previous-hash link does not match")
        else:
            self.report.passed("envelopes chained")
        try:
            entry = envelope.entry()
        except PaperchainError as err:
            self.report.fail_with(err, where)
            return leaf
        if index == 0 and self._expected_election is None:
            self.state.election_id = entry.election_id
        where = f"{where} ({entry.entry_type} by {entry.writer_id})"
        try:
            self.state.check(index, entry)
        except PaperchainError as err:
            self.report.fail(where, f"refused by the ledger rules: {err.reason}")
            return leaf
        self.report.passed("entry signatures, writers, sequences, phases")
        self._content(index, entry, where)
        self.state.observe(index, entry)
        if entry.entry_type == EntryType.VOTING_CLOSE:
            self.voting_close_index = index
        if entry.entry_type == EntryType.SETUP and self.state.setup is not None:
            self.ceremony = CeremonyReplay(self.state.setup)
            self.report.facts["election_id"] = self.state.setup.election_id
            self.report.facts["group"] = self.state.setup.group.name
            self.report.facts["manifest_hash"] = self.state.setup.manifest.digest.hex()
        return leaf

    def _content(self, index: int, entry: Entry, where: str) -> None:
        kind = entry.entry_type
        try:
            if kind in CEREMONY_TYPES:
                self._ceremony_entry(index, entry)
            elif kind in _VOTING_TYPES:
                self._voting_entry(index, entry, where)
            elif kind in (EntryType.VOTING_OPEN, EntryType.VOTING_CLOSE):
                PhaseNote.decode(entry.payload, where)
            elif kind in _PHASE_TYPES:
                pass
            elif kind == EntryType.CARD_REMAKE:
                self._card_remake(index, entry)
            elif kind in self._checkers:
                self._checkers[kind].check(self, index, entry)
                self.report.passed(f"{kind} entries")
            else:
                self.report.fail(where, f"no check is known for entry type {kind!r}")
        except PaperchainError as err:
            self.report.fail_with(err, where)

    def _ceremony_entry(self, index: int, entry: Entry) -> None:
        if self.ceremony is None:
            raise RecordError("ceremony entry before the setup")
        self.ceremony.apply(index, entry)
        self.report.passed("ceremony entries (proofs, complaints, signatures)")
        outcome = self.ceremony.outcome
        if outcome is not None and self.state.setup is not None:
            self.context = ElectionContext(self.state.setup, outcome)
            self.chains = DeviceChains(outcome.extended_base_hash)
            self.report.facts["joint_key_fingerprint"] = hashlib.sha256(
                outcome.joint_key.to_bytes()).hexdigest()[:32]
            self.report.facts["extended_base_hash"] = outcome.extended_base_hash.hex()

    def _voting_entry(self, index: int, entry: Entry, where: str) -> None:
        if self.context is None or self.chains is None:
            raise RecordError("voting entry before the key ceremony closed")
        context, chains = self.context, self.chains
        if entry.entry_type == EntryType.DEVICE_CLOSE:
            close = DeviceClose.from_payload(entry.payload, where)
            chains.check_close(entry.writer_id, close)
            chains.mark_closed(close)
            self.report.passed("device chains closed")
            return
        if entry.entry_type == EntryType.BALLOT:
            ballot = CastBallot.from_payload(entry.payload, context.group, where).ballot
            opening = None
        else:
            challenged = ChallengedBallot.from_payload(entry.payload, context.group, where)
            ballot, opening = challenged.ballot, challenged.opening
        problem: PaperchainError | None = None
        try:
            chains.check_next(entry.writer_id, ballot)
        except PaperchainError as err:
            problem = err
        chains.advance(ballot)  # one finding per bad ballot, not a cascade down the chain
        if problem is None:
            try:
                verify_ballot(context, ballot)
                if opening is not None:
                    verify_opening(context, ballot, opening)
            except PaperchainError as err:
                problem = err
        repeated = [key for key in alpha_keys(ballot) if key in self._alphas]
        self._alphas.update(alpha_keys(ballot))
        if problem is None and repeated:
            problem = RecordError(f"{len(repeated)} α value(s) already used by an earlier ballot")
        if problem is not None:
            excluded = " — excluded from the tally" if opening is None else ""
            self.report.fail(where, f"invalid {entry.entry_type}: {problem}{excluded}")
            return
        if opening is None:
            self.aggregate.add(ballot)
            self.cast_codes.add(ballot.tracking_code)
            self.report.passed("cast ballots verified")
        else:
            self.spoiled_paper_ids.add(challenged.paper_ballot_id)
            self.challenged_codes.add(ballot.tracking_code)
            self.report.passed("challenged ballots re-encrypted")

    def _card_remake(self, index: int, entry: Entry) -> None:
        """e2e/remake.py: two signatures, the style, TEST, not spoiled paper, numbering."""
        setup = self.state.setup
        if setup is None:
            raise RecordError("card remake before the setup")
        remake = CardRemake.from_payload(entry.payload, f"ledger entry {index}")
        check_remake(remake, writer_id=entry.writer_id, election_id=setup.election_id,
                     manifest=setup.manifest, test_election=setup.test_election,
                     writer_at=lambda writer_id: self.state.writer_at(writer_id, index),
                     spoiled=self.spoiled_paper_ids, last_remake=self.card_remakes)
        self.card_remakes[remake.ballot_id] = remake.remake
        self.report.passed("card remakes (two signatures, style, TEST, numbering)")

    def _finish(self, size: int) -> None:
        self.report.facts["ledger_entries"] = size
        if self.state.setup is None:
            self.report.fail("ledger", "no election setup")
            return
        if self.context is None:
            self.report.fail("ledger", "the key ceremony never closed")
            return
        if self.chains is not None:
            for device in self.chains.unclosed():
                self.report.fail(f"device {device}",
                                 "its chain was never closed (its tail may be cut)")
        self.report.facts["cast_ballots_valid"] = self.aggregate.ballots
        for checker in self._all_checkers:
            try:
                checker.finish(self)
            except PaperchainError as err:
                self.report.fail_with(err, "record")
