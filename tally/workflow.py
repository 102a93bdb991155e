"""The steps after the close of voting, each taken from what the ledger itself shows.

* ``publish_tally`` (an official): recompute the encrypted totals of the valid cast
  ballots and write the ``tally`` entry.
* ``decrypt_as_trustee`` (a trustee): re-run the whole verification of the ledger,
  which recomputes the totals and compares them with the ``tally`` entry, and only then
  publish this trustee's partial decryptions. Anything the trustee cannot recompute
  itself is refused.
* ``publish_results`` (an official): combine the valid shares (at least k) into counts.
"""

from __future__ import annotations

from collections.abc import Callable

from e2e.errors import DecryptionError, RecordError, StateError
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.operator import AppendResult
from e2e.ledger.types import EntryType
from e2e.nonces import NonceSource
from e2e.trustee import TrusteeWorkspace
from e2e.verify import RecordVerifier, VerificationReport
from tally.aggregate import statement_from_aggregate
from tally.decrypt import combine, compute_share
from tally.results import Results
from tally.verify import TallyChecker, tally_subject, verify_election

__all__ = ["decrypt_as_trustee", "publish_results", "publish_tally"]


def _verified(ledger: LedgerClient, allow_test_group: bool,
              progress: Callable[[int], None] | None) -> tuple[VerificationReport, RecordVerifier,
                                                                TallyChecker]:
    report, verifier = verify_election(ledger.envelopes(0), election_id=ledger.election_id,
                                       allow_test_group=allow_test_group, require_results=False,
                                       progress=progress)
    checker = verifier.checker(TallyChecker)
    if not report.ok:
        first = report.findings[0]
        raise RecordError(f"the ledger does not verify ({len(report.findings)} finding(s); "
                          f"first: {first})")
    return report, verifier, checker


def publish_tally(ledger: LedgerClient, writer: Writer, *, allow_test_group: bool = False,
                  progress: Callable[[int], None] | None = None) -> AppendResult:
    _, verifier, checker = _verified(ledger, allow_test_group, progress)
    if verifier.voting_close_index is None or verifier.context is None:
        raise StateError("voting has not closed")
    if checker.statement is not None:
        raise StateError(f"the tally is already on the ledger at entry {checker.tally_index}")
    statement = statement_from_aggregate(verifier.context, verifier.aggregate,
                                         verifier.voting_close_index)
    return writer.write(EntryType.TALLY, statement.to_payload())


def decrypt_as_trustee(workspace: TrusteeWorkspace, ledger: LedgerClient, *,
                       allow_test_group: bool = False, nonces: NonceSource | None = None,
                       progress: Callable[[int], None] | None = None) -> AppendResult:
    _, verifier, checker = _verified(ledger, allow_test_group, progress)
    context = verifier.context
    if context is None or checker.statement is None or checker.tally_index is None:
        raise StateError("there is no tally to decrypt yet")
    index = workspace.card.index
    if index in checker.shares:
        raise StateError(f"trustee {index} already published its share")
    key_share = workspace.key_share(context.group)
    share = compute_share(key_share, context, tally_subject(checker.tally_index),
                          checker.statement.totals, nonces)
    writer = Writer(ledger, workspace.signing_key, workspace.card.writer_id)
    return writer.write(EntryType.DECRYPTION_SHARE, share.to_payload())


def publish_results(ledger: LedgerClient, writer: Writer, *, allow_test_group: bool = False,
                    progress: Callable[[int], None] | None = None
                    ) -> tuple[AppendResult, Results, dict[int, int]]:
    """Combine the valid shares; return the entry, the results and ballots per contest."""
    _, verifier, checker = _verified(ledger, allow_test_group, progress)
    context = verifier.context
    if context is None or checker.statement is None or checker.tally_index is None:
        raise StateError("there is no tally yet")
    if checker.results is not None:
        raise StateError("the results are already on the ledger")
    if len(checker.shares) < context.setup.threshold:
        raise DecryptionError(f"{len(checker.shares)} valid share(s) on the ledger; the "
                              f"threshold is {context.setup.threshold}")
    trustees = sorted(checker.shares)
    combined = combine(context, [checker.shares[t] for t in trustees], checker.statement.totals,
                       dict(checker.statement.ballots_per_contest))
    results = Results(checker.tally_index, tuple(trustees), tuple(combined))
    appended = writer.write(EntryType.RESULTS, results.to_payload())
    return appended, results, dict(checker.statement.ballots_per_contest)
