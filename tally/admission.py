"""The ledger operator's admission checks for the entries after the close of voting.

``e2e`` cannot import ``tally`` (DESIGN.md), so ``paperchain.wiring`` hands these to
``e2e.election_ledger.election_operator`` (``extra_checks``, ``extra_observers``).

At admission each payload must decode canonically to its type — every group element
read with its subgroup check, unknown keys refused — and what is cheap to know from
the ledger so far must hold:

* the writer a payload names is the one who signed the entry (a device's CVRs and
  commitment, a trustee's decryption shares, the board's first member);
* a decryption share names the tally on the ledger; the results name that tally and
  combine only trustees whose shares are there; the tally names the close of voting
  and a head that covers it and precedes the tally;
* a device's CVR chunks are numbered 0, 1, … and its commitment counts them, once;
* a trustee's shares of a chunk of CVRs for publication (``cvr-plaintext-share``) name a
  ``cvrs`` entry, once per trustee and chunk, one share per CVR they list;
* an audit reading is a well-formed card reading of the manifest, and a reading or a
  sign-off carries the second board member's signature (a registered, unrevoked
  auditor) bound to this election;
* the entries the verifier accepts once (tally, CVR equality, hand count) are refused
  the second time.

The expensive checks — proofs of CVRs, shares and results, the tally recomputed from
the ballots, the audit's arithmetic — stay with the verifier (``tally.verify``,
``tally.cvr``, ``tally.audit_check``), which re-checks everything here as well.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from e2e.batch import all_members
from e2e.context import ElectionContext
from e2e.cvr import CvrCommitment, admit_cvr_chunk
from e2e.encoding import parse_canonical_json
from e2e.errors import LedgerError, PaperchainError
from e2e.ledger.entry import Entry
from e2e.ledger.operator import AdmissionCheck, LedgerState
from e2e.ledger.types import EntryType
from e2e.setup import Role
from tally.aggregate import TallyStatement
from tally.audit import (
    AuditCvrs,
    AuditEnd,
    AuditParameters,
    AuditRisk,
    AuditRound,
    AuditShares,
    BoardSigned,
    HandCount,
    SeedEntry,
    check_signed_reading,
)
from tally.audit_check import deferred_shares
from tally.cvr import CvrEquality
from tally.cvr_plaintext import PlaintextShares
from tally.decrypt import DecryptionShare
from tally.reconcile import PaperBatch, Reconciliation
from tally.results import Results
from tally.verify import tally_subject

__all__ = ["AfterClose", "admission_checks", "observe_after_close"]

_EXTRA = "after-close"
_ONCE = (EntryType.TALLY, EntryType.CVR_EQUALITY, EntryType.HAND_COUNT)


@dataclass(slots=True)
class AfterClose:
    """What admission remembers of the entries after the close (rebuilt on restart)."""

    close_index: int | None = None
    tally_index: int | None = None
    shares: set[int] = field(default_factory=set)  # trustees with a decryption share
    chunks: dict[str, int] = field(default_factory=dict)  # CVR chunks per device
    committed: set[str] = field(default_factory=set)  # devices with a commitment
    cvr_entries: dict[int, str] = field(default_factory=dict)  # cvrs entry index -> device
    plaintext_shares: set[tuple[int, str]] = field(default_factory=set)  # (chunk, trustee)
    once: dict[str, int] = field(default_factory=dict)  # entry type -> its index


def _after(state: LedgerState) -> AfterClose:
    current = state.extras.get(_EXTRA)
    if not isinstance(current, AfterClose):
        current = AfterClose()
        state.extras[_EXTRA] = current
    return current


def _context(state: LedgerState) -> ElectionContext:
    context = state.extras.get("context")
    if not isinstance(context, ElectionContext):
        raise LedgerError("no election context: the key ceremony has not closed")
    return context


def _trustee_writer(state: LedgerState, trustee: int, writer_id: str, what: str) -> None:
    setup = state.setup
    if setup is None or setup.trustee(trustee).writer_id != writer_id:
        raise LedgerError(f"{what} of trustee {trustee} written by {writer_id!r}")


def _tally(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    statement = TallyStatement.from_payload(entry.payload, _context(state), "payload")
    close = _after(state).close_index
    if close is None or statement.close_index != close:
        raise LedgerError(f"the tally names the close of voting at entry "
                          f"{statement.close_index}; the ledger's is at entry {close}")
    if not close < statement.close_head_size <= index:
        raise LedgerError(f"the tally names the head of size {statement.close_head_size}: it "
                          f"must cover the close of voting (entry {close}) and precede the "
                          f"tally (entry {index})")
    return ()


def _decryption_share(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    share = DecryptionShare.from_payload(entry.payload, _context(state).group, "payload")
    tally = _after(state).tally_index
    if tally is None:
        raise LedgerError("a decryption share before the tally")
    if share.subject != tally_subject(tally):
        raise LedgerError(f"share for {share.subject!r}, the tally is {tally_subject(tally)!r}")
    _trustee_writer(state, share.trustee, entry.writer_id, "a decryption share")
    if share.trustee in _after(state).shares:
        raise LedgerError(f"a second decryption share from trustee {share.trustee}")
    return ()


def _results(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    results = Results.from_payload(entry.payload, _context(state).group, "payload")
    after = _after(state)
    if after.tally_index is None or results.tally_index != after.tally_index:
        raise LedgerError(f"results for the tally at entry {results.tally_index}; the "
                          f"ledger's tally is at entry {after.tally_index}")
    missing = sorted(set(results.trustees) - after.shares)
    if missing:
        raise LedgerError(f"results combine shares of trustees {missing} that are not on "
                          "the ledger")
    return ()


def _cvrs(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    # CvrChunk.from_payload's verdict, membership checked for the chunk at once
    device_id, number, count = admit_cvr_chunk(_context(state).group, entry.payload,
                                               "payload")
    after = _after(state)
    if device_id != entry.writer_id:
        raise LedgerError(f"CVRs of device {device_id!r} written by {entry.writer_id!r}")
    if device_id in after.committed:
        raise LedgerError("CVRs after the device's commitment")
    expected = after.chunks.get(device_id, 0)
    if number != expected:
        raise LedgerError(f"chunk {number}, expected chunk {expected}")
    if not count:
        raise LedgerError("an empty chunk of CVRs")
    return ()


def _cvr_commitment(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    commitment = CvrCommitment.from_payload(entry.payload, "payload")
    after = _after(state)
    if commitment.device_id != entry.writer_id:
        raise LedgerError(f"commitment of device {commitment.device_id!r} written by "
                          f"{entry.writer_id!r}")
    if commitment.device_id in after.committed:
        raise LedgerError(f"device {commitment.device_id!r} committed twice")
    chunks = after.chunks.get(commitment.device_id, 0)
    if commitment.chunks != chunks:
        raise LedgerError(f"the commitment says {commitment.chunks} entries of CVRs; the "
                          f"ledger holds {chunks}")
    return ()


def _cvr_equality_share(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    share = DecryptionShare.from_payload(entry.payload, _context(state).group, "payload")
    _trustee_writer(state, share.trustee, entry.writer_id, "a CVR equality share")
    return ()


def _cvr_plaintext_share(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    payload = PlaintextShares.admit(entry.payload, _context(state).group)
    after = _after(state)
    if payload.cvrs_index not in after.cvr_entries:
        raise LedgerError(f"the shares name ledger entry {payload.cvrs_index}, which is not "
                          "an entry of published CVRs")
    if (payload.cvrs_index, entry.writer_id) in after.plaintext_shares:
        raise LedgerError(f"a second share of ledger entry {payload.cvrs_index}'s CVRs from "
                          f"{entry.writer_id!r}")
    if not payload.shares or len(payload.shares) != len(payload.cvrs):
        raise LedgerError("one share per CVR of the chunk")
    for share in payload.shares:
        _trustee_writer(state, share.trustee, entry.writer_id, "a CVR plaintext share")
    return ()


def _board(state: LedgerState, index: int, entry: Entry, signed: BoardSigned) -> None:
    cosigner_id = signed.board[1]
    cosigner = state.writers.get(cosigner_id)
    if cosigner is None or cosigner.role != Role.AUDITOR:
        raise LedgerError(f"the cosigner {cosigner_id!r} is not a registered auditor")
    state.writer_at(cosigner_id, index)  # not revoked
    signed.verify(entry.writer_id, cosigner.key, state.election_id)


def _audit_reading(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    signed = BoardSigned.from_payload(entry.payload, "payload")
    check_signed_reading(signed).check_against(_context(state).manifest)
    _board(state, index, entry, signed)
    return ()


def _audit_signoff(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    signed = BoardSigned.from_payload(entry.payload, "payload")
    if set(signed.body) != {"version", "round", "readings", "digest"}:
        raise LedgerError("a sign-off holds exactly version, round, readings and digest")
    _board(state, index, entry, signed)
    return ()


def _audit_shares(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
    group = _context(state).group
    payload = None
    with suppress(PaperchainError):  # membership of every share's elements, checked at once
        deferred = deferred_shares(entry.payload, group, "payload")
        if all_members(group, [x for share in deferred.shares for p in share.partials
                               for x in (p.value.value, p.proof.commitment_g.value,
                                         p.proof.commitment_a.value)]):
            payload = deferred
    if payload is None:  # the checked decoder: raises, naming the place
        payload = AuditShares.from_payload(entry.payload, group, "payload")
    for share in payload.shares:
        _trustee_writer(state, share.trustee, entry.writer_id, "an audit decryption share")
    return ()


def _decodes(decode: Callable[[ElectionContext, bytes], object]) -> AdmissionCheck:
    def check(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
        decode(_context(state), entry.payload)
        return ()
    return check


def _once(kind: str, check: AdmissionCheck) -> AdmissionCheck:
    def once(state: LedgerState, index: int, entry: Entry) -> Sequence[bytes]:
        first = _after(state).once.get(kind)
        if first is not None:
            raise LedgerError(f"a second {kind} entry (the first is at entry {first})")
        return check(state, index, entry)
    return once


def admission_checks() -> Mapping[str, AdmissionCheck]:
    """Every entry type after the close of voting, with its admission check."""
    checks: dict[str, AdmissionCheck] = {
        EntryType.TALLY: _tally,
        EntryType.DECRYPTION_SHARE: _decryption_share,
        EntryType.RESULTS: _results,
        EntryType.CVRS: _cvrs,
        EntryType.CVR_COMMITMENT: _cvr_commitment,
        EntryType.CVR_EQUALITY_SHARE: _cvr_equality_share,
        EntryType.CVR_EQUALITY: _decodes(
            lambda c, p: CvrEquality.from_payload(p, c.group, "payload")),
        EntryType.CVR_PLAINTEXT_SHARE: _cvr_plaintext_share,
        EntryType.PAPER_MANIFEST: _decodes(lambda c, p: PaperBatch.from_payload(p, "payload")),
        EntryType.RECONCILIATION: _decodes(
            lambda c, p: Reconciliation.from_payload(p, "payload")),
        EntryType.AUDIT_PARAMETERS: _decodes(
            lambda c, p: AuditParameters.from_payload(p, "payload")),
        EntryType.AUDIT_SEED: _decodes(lambda c, p: SeedEntry.from_payload(p, "payload")),
        EntryType.AUDIT_ROUND: _decodes(lambda c, p: AuditRound.from_payload(p, "payload")),
        EntryType.AUDIT_READING: _audit_reading,
        EntryType.AUDIT_SIGNOFF: _audit_signoff,
        EntryType.AUDIT_DECRYPTION_SHARE: _audit_shares,
        EntryType.AUDIT_CVRS: _decodes(lambda c, p: AuditCvrs.from_payload(p, "payload")),
        EntryType.AUDIT_RISK: _decodes(lambda c, p: AuditRisk.from_payload(p, "payload")),
        EntryType.AUDIT_END: _decodes(lambda c, p: AuditEnd.from_payload(p, "payload")),
        EntryType.HAND_COUNT: _decodes(lambda c, p: HandCount.from_payload(p, "payload")),
    }
    for kind in _ONCE:
        checks[kind] = _once(kind, checks[kind])
    return checks


def observe_after_close(state: LedgerState, index: int, entry: Entry) -> None:
    """Remember what the checks above need; cheap (no element is decoded again)."""
    kind = entry.entry_type
    after = _after(state)
    if kind in _ONCE:
        after.once.setdefault(kind, index)
    if kind == EntryType.VOTING_CLOSE:
        after.close_index = index
    elif kind == EntryType.TALLY:
        after.tally_index = index
    elif kind == EntryType.DECRYPTION_SHARE and state.setup is not None:
        after.shares.update(t.index for t in state.setup.trustees
                            if t.writer_id == entry.writer_id)
    elif kind == EntryType.CVRS:
        after.chunks[entry.writer_id] = after.chunks.get(entry.writer_id, 0) + 1
        after.cvr_entries[index] = entry.writer_id
    elif kind == EntryType.CVR_PLAINTEXT_SHARE:
        after.plaintext_shares.add((_plaintext_chunk(entry.payload), entry.writer_id))
    elif kind == EntryType.CVR_COMMITMENT:
        after.committed.add(entry.writer_id)


def _plaintext_chunk(payload: bytes) -> int:
    """The ``cvrs_index`` of an admitted ``cvr-plaintext-share`` (read without its elements)."""
    value = parse_canonical_json(payload, "payload").get("cvrs_index")
    return value if isinstance(value, int) else -1
