"""The steps after the close of voting, each taken from what the ledger itself shows.

* ``publish_tally`` (an official): recompute the encrypted totals of the valid cast
  ballots and write the ``tally`` entry, naming the close-of-voting head: the newest head
  with k-of-n witness cosignatures, which must cover the ``voting-close`` entry.
* ``decrypt_as_trustee`` (a trustee): re-run the whole verification of the ledger,
  which recomputes the totals and compares them with the ``tally`` entry, check the
  close-of-voting head the tally names (the operator's signature, k-of-n cosignatures
  from the setup's witnesses, and a consistency proof to the root of the very entries
  it verified), and only then publish this trustee's partial decryptions. Anything the
  trustee cannot recompute itself is refused.
* ``publish_results`` (an official): combine the valid shares (at least k) into counts.

Heads come from a ``HeadSource`` (the ledger client itself when it serves heads: both
``NodeLedger`` and ``HttpLedger`` do).
"""

from __future__ import annotations

from collections.abc import Callable

from e2e.errors import DecryptionError, LedgerError, PaperchainError, RecordError, StateError
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.heads import CosignedHead, HeadPolicy, verify_cosigned_head
from e2e.ledger.history import RootSnapshots
from e2e.ledger.node import HeadSource
from e2e.ledger.operator import AppendResult
from e2e.ledger.types import EntryType
from e2e.merkle import verify_consistency
from e2e.nonces import NonceSource
from e2e.trustee import TrusteeWorkspace
from e2e.verify import RecordVerifier, VerificationReport
from tally.aggregate import statement_from_aggregate
from tally.decrypt import combine, compute_share
from tally.results import Results
from tally.verify import TallyChecker, tally_subject, verify_election

__all__ = ["check_close_head", "decrypt_as_trustee", "publish_results", "publish_tally"]


def _verified(ledger: LedgerClient, allow_test_group: bool,
              progress: Callable[[int], None] | None,
              snapshots: RootSnapshots | None = None
              ) -> tuple[VerificationReport, RecordVerifier, TallyChecker]:
    envelopes = ledger.envelopes(0)
    if snapshots is not None:
        envelopes = snapshots.watch(envelopes)
    report, verifier = verify_election(envelopes, election_id=ledger.election_id,
                                       allow_test_group=allow_test_group, require_results=False,
                                       progress=progress)
    checker = verifier.checker(TallyChecker)
    if not report.ok:
        first = report.findings[0]
        raise RecordError(f"the ledger does not verify ({len(report.findings)} finding(s); "
                          f"first: {first})")
    return report, verifier, checker


def _head_source(ledger: LedgerClient, heads: HeadSource | None) -> HeadSource:
    if heads is not None:
        return heads
    if isinstance(ledger, HeadSource):
        return ledger
    raise StateError("this ledger client serves no signed tree heads: the tally needs the "
                     "witness-cosigned close-of-voting head")


def check_close_head(head: CosignedHead, verifier: RecordVerifier, snapshots: RootSnapshots,
                     heads: HeadSource) -> None:
    """Accept ``head`` as the close-of-voting head, or raise.

    Checked here, by the caller's own software: the operator's signature, k-of-n valid
    cosignatures from the setup's witnesses, that it covers the ``voting-close`` entry,
    and a consistency proof between it and the root of the entries just verified.
    """
    setup = verifier.state.setup
    if setup is None or verifier.voting_close_index is None:
        raise StateError("voting has not closed")
    verify_cosigned_head(HeadPolicy.from_setup(setup), head, "close-of-voting head")
    if head.size <= verifier.voting_close_index:
        raise StateError(f"the newest cosigned head (size {head.size}) does not cover the "
                         f"close of voting (entry {verifier.voting_close_index}): wait for "
                         "the witnesses to cosign a newer head")
    verified_size, verified_root = snapshots.size, snapshots.root()
    small, large = sorted(((head.size, head.root), (verified_size, verified_root)))
    try:
        proof = [] if small[0] == large[0] else heads.consistency_proof(small[0], large[0])
        verify_consistency(small[0], large[0], proof, small[1], large[1])
    except PaperchainError as err:
        raise LedgerError(f"the {head.head.describe()} is not consistent with the "
                          f"{verified_size} entries verified here: {err.reason}") from None


def publish_tally(ledger: LedgerClient, writer: Writer, *, allow_test_group: bool = False,
                  progress: Callable[[int], None] | None = None,
                  heads: HeadSource | None = None) -> AppendResult:
    source = _head_source(ledger, heads)
    snapshots = RootSnapshots(())
    _, verifier, checker = _verified(ledger, allow_test_group, progress, snapshots)
    if verifier.voting_close_index is None or verifier.context is None:
        raise StateError("voting has not closed")
    if checker.statement is not None:
        raise StateError(f"the tally is already on the ledger at entry {checker.tally_index}")
    head = source.cosigned_head()
    if head is None:
        raise StateError("no head has enough witness cosignatures yet: the witnesses must "
                         "cosign a head covering the close of voting first")
    check_close_head(head, verifier, snapshots, source)
    statement = statement_from_aggregate(verifier.context, verifier.aggregate,
                                         verifier.voting_close_index,
                                         close_head=(head.size, head.root))
    return writer.write(EntryType.TALLY, statement.to_payload())


def decrypt_as_trustee(workspace: TrusteeWorkspace, ledger: LedgerClient, *,
                       allow_test_group: bool = False, nonces: NonceSource | None = None,
                       progress: Callable[[int], None] | None = None,
                       heads: HeadSource | None = None) -> AppendResult:
    source = _head_source(ledger, heads)
    snapshots = RootSnapshots(())
    _, verifier, checker = _verified(ledger, allow_test_group, progress, snapshots)
    context = verifier.context
    if context is None or checker.statement is None or checker.tally_index is None:
        raise StateError("there is no tally to decrypt yet")
    statement = checker.statement
    head = source.head_at(statement.close_head_size)
    if head is None or head.root != statement.close_head_root:
        raise LedgerError(f"the ledger shows no head of size {statement.close_head_size} with "
                          "the root the tally names")
    check_close_head(head, verifier, snapshots, source)
    index = workspace.card.index
    if index in checker.shares:
        raise StateError(f"trustee {index} already published its share")
    workspace.erase_ceremony_secrets(context.extended_base_hash)  # the ceremony is long over
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
