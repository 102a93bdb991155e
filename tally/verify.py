"""Verifying the tally, the decryption shares and the results, during the ledger pass.

``TallyChecker`` plugs into ``e2e.verify.RecordVerifier``: the ``tally`` entry must come
after the close of voting and equal the recomputed encrypted totals of exactly the
valid cast ballots; every ``decryption-share`` must verify against the verification
key derived from the ceremony; ``results`` must be the combination, with Lagrange
coefficients the verifier computes, of at least k valid shares, every count bounded.
``verify_election`` runs the whole pass over a record's envelopes, with every checker
``tally`` defines: this one, ``tally.cvr.CvrChecker`` (encrypted CVRs and their equality
proofs), ``tally.audit_check.AuditChecker`` (reconciliation, parameters, seed, rounds)
and ``tally.cvr_plaintext.PlaintextChecker`` (every CVR decrypted, where an election
publishes plaintext CVRs), so the verifier knows every entry type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from e2e.errors import PaperchainError, RecordError
from e2e.ledger.entry import Entry
from e2e.ledger.heads import CosignedHead, decode_note
from e2e.ledger.history import (
    RootSnapshots,
    check_heads_history,
    compare_with_ledger,
    parse_notes,
)
from e2e.ledger.node import LedgerView
from e2e.ledger.types import EntryType
from e2e.record import RecordReader
from e2e.setup import ElectionSetup
from e2e.verify import RecordVerifier, VerificationReport
from tally.aggregate import TallyStatement, check_statement, statement_from_aggregate
from tally.decrypt import DecryptionShare, combine, verify_share
from tally.results import Results

__all__ = ["TallyChecker", "tally_subject", "verify_election", "verify_record"]


def tally_subject(tally_index: int) -> str:
    return f"tally@{tally_index}"


class TallyChecker:
    entry_types = frozenset({EntryType.TALLY, EntryType.DECRYPTION_SHARE, EntryType.RESULTS})

    def __init__(self, require_results: bool = True) -> None:
        self.require_results = require_results
        self.statement: TallyStatement | None = None
        self.tally_index: int | None = None
        self.shares: dict[int, DecryptionShare] = {}
        self.results: Results | None = None

    def check(self, verifier: RecordVerifier, index: int, entry: Entry) -> None:
        context = verifier.context
        if context is None:
            raise RecordError("tally entries before the key ceremony closed")
        if entry.entry_type == EntryType.TALLY:
            if self.statement is not None:
                raise RecordError(f"a second tally (the first is at ledger entry "
                                  f"{self.tally_index})")
            if verifier.voting_close_index is None:
                raise RecordError("tally before the close of voting")
            statement = TallyStatement.from_payload(entry.payload, context, "tally")
            if not verifier.voting_close_index < statement.close_head_size <= index:
                raise RecordError(f"the tally names the head of size "
                                  f"{statement.close_head_size}: it must cover the close of "
                                  f"voting (entry {verifier.voting_close_index}) and precede "
                                  f"the tally (entry {index})")
            expected = statement_from_aggregate(
                context, verifier.aggregate, verifier.voting_close_index,
                close_head=(statement.close_head_size, statement.close_head_root))
            check_statement(statement, expected)
            self.statement, self.tally_index = statement, index
            verifier.report.facts["tally_index"] = index
        elif entry.entry_type == EntryType.DECRYPTION_SHARE:
            statement = self._statement()
            share = DecryptionShare.from_payload(entry.payload, context.group, "share")
            if share.subject != tally_subject(self._index()):
                raise RecordError(f"share for {share.subject!r}, the tally is "
                                  f"{tally_subject(self._index())!r}")
            trustee = verifier.state.setup.trustee(share.trustee) if verifier.state.setup else None
            if trustee is None or trustee.writer_id != entry.writer_id:
                raise RecordError(f"share for trustee {share.trustee} written by "
                                  f"{entry.writer_id!r}")
            if share.trustee in self.shares:
                raise RecordError(f"a second share from trustee {share.trustee}")
            verify_share(share, context, statement.totals)
            self.shares[share.trustee] = share
            verifier.report.passed("decryption shares (Chaum–Pedersen proofs)")
        else:
            statement = self._statement()
            results = Results.from_payload(entry.payload, context.group, "results")
            if self.results is not None:
                raise RecordError("a second results entry")
            if results.tally_index != self._index():
                raise RecordError("results for another tally")
            missing = [t for t in results.trustees if t not in self.shares]
            if missing:
                raise RecordError(f"results combine shares of trustees {missing} that are not "
                                  "valid on the ledger")
            used = [self.shares[t] for t in results.trustees]
            combined = combine(context, used, statement.totals, dict(statement.ballots_per_contest))
            if len(results.counts) != len(combined):
                raise RecordError("results do not cover every selection")
            for (c, s, m, n), (ec, es, em, en) in zip(results.counts, combined, strict=True):
                here = f"results contest {c} selection {s}"
                if (c, s) != (ec, es):
                    raise RecordError("results are not in manifest order", here)
                if m != em:
                    raise RecordError("combined partial decryption differs from the one "
                                      "recomputed with the verifier's Lagrange coefficients", here)
                if n != en:
                    raise RecordError(f"count {n} differs from the decrypted count {en}", here)
            self.results = results
            verifier.report.passed("results recomputed from shares")
            verifier.report.facts["results"] = results

    def _statement(self) -> TallyStatement:
        if self.statement is None:
            raise RecordError("decryption before the tally statement")
        return self.statement

    def _index(self) -> int:
        if self.tally_index is None:
            raise RecordError("decryption before the tally statement")
        return self.tally_index

    def finish(self, verifier: RecordVerifier) -> None:
        if self.require_results and self.results is None:
            raise RecordError("no verified results on the ledger")


def verify_election(
    envelopes: Iterable[bytes], *, election_id: str | None = None,
    allow_test_group: bool = False, require_results: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[VerificationReport, RecordVerifier]:
    """One pass over ``envelopes`` with every check this package and ``e2e`` know."""
    from tally.audit_check import AuditChecker  # both import this module's TallyChecker
    from tally.cvr import CvrChecker
    from tally.cvr_plaintext import PlaintextChecker

    verifier = RecordVerifier(election_id, allow_test_group=allow_test_group,
                              checkers=[TallyChecker(require_results),
                                        CvrChecker(complete=require_results), AuditChecker(),
                                        PlaintextChecker()],
                              progress=progress)
    return verifier.run(envelopes), verifier


def verify_record(record: Path, *, allow_test_group: bool = False, require_results: bool = True,
                  progress: Callable[[int], None] | None = None,
                  ledger: LedgerView | None = None,
                  on_verifier: Callable[[RecordVerifier], None] | None = None
                  ) -> VerificationReport:
    """What ``paperchain verify RECORD`` runs: the pass, the record's root and manifest copy,
    its heads history (docs/spec.md §16.6) and, given ``ledger``, that the
    record and the live ledger agree entry for entry. ``on_verifier`` is given the
    verifier after its pass (the bulletin board arranges the audit it replayed)."""
    reader = RecordReader(record)
    heads_problem: PaperchainError | None = None
    try:
        heads = parse_notes(reader.head_notes())
        final_note = reader.final_note()
        final = None if final_note is None else decode_note(final_note, "record.json head")
    except PaperchainError as err:
        heads, final, heads_problem = [], None, err
    snapshots = RootSnapshots(head.size for head in heads)
    report, verifier = verify_election(
        snapshots.watch(reader.envelopes()), election_id=reader.summary.election_id,
        allow_test_group=allow_test_group, require_results=require_results, progress=progress)
    if on_verifier is not None:
        on_verifier(verifier)
    setup = verifier.state.setup
    if setup is not None and setup.manifest.source_bytes != reader.manifest_bytes:
        report.fail("record manifest.json", "differs from the manifest in the setup entry")
    if heads_problem is not None:
        report.fail_with(heads_problem, "record heads")
    elif setup is not None:
        _check_heads(report, verifier, setup, heads, final, snapshots, require_results)
    if ledger is not None:
        problems = compare_with_ledger(RecordReader(record).envelopes(), ledger, final)
        for where, problem in problems:
            report.fail(where, problem)
        if not problems:
            report.passed("record and live ledger agree entry for entry", snapshots.size)
    report.facts["ballots_per_contest"] = dict(verifier.aggregate.ballots_per_contest)
    report.facts["challenged_ballots"] = len(verifier.challenged_codes)
    if setup is not None:
        report.facts["manifest"] = setup.manifest
    return report


def _check_heads(report: VerificationReport, verifier: RecordVerifier, setup: ElectionSetup,
                 heads: list[CosignedHead], final: CosignedHead | None,
                 snapshots: RootSnapshots, require_results: bool) -> None:
    outcome = check_heads_history(setup, heads, snapshots, final=final, entries=snapshots.size,
                                  require_complete=require_results)
    for where, problem in outcome.problems:
        report.fail(where, problem)
    if outcome.checked:
        report.passed("signed heads (signature, k-of-n cosignatures, root, time)", outcome.checked)
    if final is not None:
        report.facts["final_head"] = {"size": final.size, "root": final.root.hex()}
    checker = verifier.checker(TallyChecker)
    statement = checker.statement
    if statement is None:
        return
    accepted = outcome.accepted.get(statement.close_head_size)
    if accepted is None or accepted.root != statement.close_head_root:
        report.fail(f"ledger entry {checker.tally_index} (tally)",
                    f"the close-of-voting head it names (size {statement.close_head_size}) is "
                    "not in the record's heads history with enough witness cosignatures")
    else:
        report.passed("tally at a witness-cosigned close-of-voting head")
