"""The audit's steps on a ledger, each taken from what the ledger itself shows.

Every function first verifies the whole ledger (``tally.verify.verify_election``, with
the audit's replay ``tally.audit_check``), refuses to act on a ledger that does not
verify, checks that its step is due, and only then writes one or more entries. A step
that is refused writes nothing: the audit's state — the ledger — is unchanged. Nothing
else is kept: the audit resumes from the ledger at any point, on any machine.

* officials: ``publish_reconciliation`` (paper manifest and reconciliation, amendable
  until the seed), ``publish_hand_count`` (after an escalation);
* auditors: ``publish_parameters``, ``publish_seed``, ``start_round``,
  ``record_readings`` and ``sign_off_round`` (two board members each),
  ``publish_round_cvrs``, ``measure_risk``, ``end_audit``;
* trustees: ``decrypt_round_as_trustee`` — its own verification pass recomputes the
  sample from the seed and the manifest, and it decrypts only the CVRs of a round the
  board has signed off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from e2e.errors import RecordError, StateError, UsageError
from e2e.ledger.client import LedgerClient, Writer
from e2e.ledger.operator import AppendResult
from e2e.ledger.types import EntryType
from e2e.nonces import NonceSource
from e2e.record import software_version
from e2e.signing import SigningKey
from e2e.trustee import TrusteeWorkspace
from e2e.verify import RecordVerifier
from tally.audit import (
    AuditEnd,
    AuditParameters,
    AuditRisk,
    AuditRound,
    AuditShares,
    BoardSigned,
    CardReading,
    HandCount,
    PollingRiskFunction,
    RiskFunction,
    SeedEntry,
    draws_for,
    readings_digest,
)
from tally.audit_check import (
    AuditChecker,
    AuditState,
    audit_subject,
    combine_round,
)
from tally.cvr import CvrChecker, cvr_chunk
from tally.decrypt import compute_share
from tally.reconcile import PaperBatch, PlaceInput, Reconciliation
from tally.sampler import AuditSeed, Ticket

__all__ = [
    "AuditLedger",
    "RetrievalRow",
    "decrypt_round_as_trustee",
    "end_audit",
    "measure_risk",
    "publish_hand_count",
    "publish_parameters",
    "publish_reconciliation",
    "publish_round_cvrs",
    "publish_seed",
    "record_readings",
    "retrieval_list",
    "sign_off_round",
    "start_round",
]

Progress = Callable[[int], None] | None


@dataclass(frozen=True, slots=True)
class AuditLedger:
    """A verified view of the ledger: the verifier after its pass and the audit's state."""

    verifier: RecordVerifier
    checker: AuditChecker

    @property
    def state(self) -> AuditState:
        return self.checker.state

    @classmethod
    def read(cls, ledger: LedgerClient, *, allow_test_group: bool = False,
             progress: Progress = None) -> AuditLedger:
        from tally.verify import verify_election

        report, verifier = verify_election(ledger.envelopes(0), election_id=ledger.election_id,
                                           allow_test_group=allow_test_group,
                                           require_results=False, progress=progress)
        if not report.ok:
            raise RecordError(f"the ledger does not verify ({len(report.findings)} finding(s); "
                              f"first: {report.findings[0]})")
        return cls(verifier, verifier.checker(AuditChecker))


def _open(ledger: LedgerClient, allow_test_group: bool, progress: Progress) -> AuditLedger:
    return AuditLedger.read(ledger, allow_test_group=allow_test_group, progress=progress)


def _before_seed(view: AuditLedger) -> None:
    if view.state.seed is not None:
        raise StateError("the seed is drawn: the paper manifest and the reconciliation can no "
                         "longer change")


# --- officials ----------------------------------------------------------------------------------


def publish_reconciliation(
    ledger: LedgerClient, writer: Writer, batches: Sequence[PaperBatch],
    places: Sequence[PlaceInput], *, note: str = "", allow_test_group: bool = False,
    progress: Progress = None, without_cvrs: bool = False,
) -> tuple[AppendResult, Reconciliation]:
    """Write the paper manifest (one entry per batch, in order), then the reconciliation
    computed from it and the ledger. Again before the seed to amend both.

    ``without_cvrs``: the election publishes no CVRs (a ballot-polling audit): the paper
    may follow the results directly. Once it does, no CVR step is admitted, so this is
    never the default: without it, the CVRs' combined equality proof must come first."""
    view = _open(ledger, allow_test_group, progress)
    _before_seed(view)
    cvrs = view.verifier.checker(CvrChecker)
    if view.verifier.report.facts.get("cvr_equality_index") is None:
        if not without_cvrs:
            raise StateError("the CVR equality proofs are not combined yet")
        if cvrs.devices or cvrs.cvrs:
            raise StateError("CVRs are published: combine their equality proof before the "
                             "paper (an election without CVRs publishes none)")
    if not batches:
        raise UsageError("the paper manifest has no batch")
    names = [b.name for b in batches]
    if len(set(names)) != len(names):
        raise UsageError("a batch name appears twice in the manifest")
    # Compute everything before writing anything: a refusal leaves the ledger as it was.
    size = ledger.size()
    indices = list(range(size, size + len(batches)))
    for index, batch in zip(indices, batches, strict=True):
        view.state.batches[index] = batch
    try:
        expected, _, _ = view.checker.expected_reconciliation(view.verifier, indices, places,
                                                              note)
    finally:
        for index in indices:
            view.state.batches.pop(index, None)
    for index, batch in zip(indices, batches, strict=True):
        appended = writer.write(EntryType.PAPER_MANIFEST, batch.to_payload())
        if appended.index != index:
            raise StateError("another writer appended to the ledger while the manifest was "
                             "being published; publish the reconciliation again")
    return writer.write(EntryType.RECONCILIATION, expected.to_payload()), expected


def publish_hand_count(ledger: LedgerClient, writer: Writer, count: HandCount, *,
                       allow_test_group: bool = False, progress: Progress = None
                       ) -> AppendResult:
    """The certified counts of the full hand count (only after an escalation)."""
    view = _open(ledger, allow_test_group, progress)
    state = view.state
    if state.end is None or state.end.outcome != "full-hand-count":
        raise StateError("no audit escalated to a full hand count")
    if state.hand_count is not None:
        raise StateError("the hand count is already certified")
    if view.verifier.context is None:
        raise StateError("no election context")
    count.check_against(view.verifier.context.manifest)
    return writer.write(EntryType.HAND_COUNT, count.to_payload())


# --- auditors -----------------------------------------------------------------------------------


def publish_parameters(ledger: LedgerClient, writer: Writer, *, risk_limit: float,
                       risk_function: RiskFunction | PollingRiskFunction | None = None,
                       allow_test_group: bool = False, progress: Progress = None
                       ) -> tuple[AppendResult, AuditParameters]:
    """The audit parameters, computed from the results and the reconciliation in force
    (super-simple Kaplan–Markov with γ = 1.03905 unless ``risk_function`` says otherwise).
    A ``PollingRiskFunction`` (BRAVO, or ALPHA with its η) makes the audit a ballot-polling
    one against the verified tally: no CVR is needed, paired or decrypted."""
    risk_function = risk_function or RiskFunction()
    if not 0 < risk_limit < 1:
        raise UsageError(f"the risk limit must be in (0, 1), got {risk_limit}")
    view = _open(ledger, allow_test_group, progress)
    _before_seed(view)
    if not isinstance(risk_function, PollingRiskFunction) and (
            view.verifier.checker(CvrChecker).equality is None):
        raise StateError("a comparison audit needs the CVRs' combined equality proof, which "
                         "needs CVRs from every device (a device run without CVRs has "
                         "none); without CVRs, audit by ballot polling (--mode polling)")
    if view.state.reconciliation is None:
        raise StateError("no reconciliation yet")
    parameters = view.checker.expected_parameters(view.verifier, risk_limit, risk_function,
                                                  software_version())
    return writer.write(EntryType.AUDIT_PARAMETERS, parameters.to_payload()), parameters


def publish_seed(ledger: LedgerClient, writer: Writer, seed: str, *, rolled_by: Sequence[str],
                 rolled_at: str, allow_test_group: bool = False, progress: Progress = None
                 ) -> AppendResult:
    """The seed, once: at least 20 decimal digits, who rolled them, when."""
    checked = AuditSeed(seed)  # a short or malformed seed is refused before anything else
    if not rolled_by or not all(name.strip() for name in rolled_by) or not rolled_at.strip():
        raise UsageError("say who rolled the seed and when")
    view = _open(ledger, allow_test_group, progress)
    if view.state.seed is not None:
        raise StateError(f"the seed was drawn already (ledger entry {view.state.seed_index}); "
                         "there is only ever one")
    if view.state.parameters is None:
        raise StateError("publish the audit parameters before the seed")
    entry = SeedEntry(checked, tuple(rolled_by), rolled_at)
    return writer.write(EntryType.AUDIT_SEED, entry.to_payload())


def _not_ended(state: AuditState) -> None:
    if state.end is not None:
        raise StateError(f"the audit ended ({state.end.outcome}) at ledger entry "
                         f"{state.end_index}")


def start_round(ledger: LedgerClient, writer: Writer, *, size: int | None = None,
                allow_test_group: bool = False, progress: Progress = None
                ) -> tuple[AppendResult, AuditRound]:
    """The next round's draws (``size``, or the recommended size) and the CVRs it names."""
    view = _open(ledger, allow_test_group, progress)
    state = view.state
    _not_ended(state)
    if state.seed is None or state.parameters is None or state.population is None:
        raise StateError("draw the seed first")
    current = state.current
    if current is None:
        recommended = state.parameters.initial_round_size
    elif current.risk is None:
        raise StateError(f"round {current.entry.round} is not finished")
    elif current.risk.decision != "continue":
        raise StateError(f"the last round decided {current.risk.decision!r}: end the audit")
    else:
        recommended = current.risk.next_round_size
    size = recommended if size is None else size
    if size < 1:
        raise StateError("no round size is recommended: the audit escalates to a full hand "
                         "count (or give a size)")
    drawn = len(state.tickets)
    tickets = draws_for(state.seed.seed, state.population.frame(), size, drawn)
    _, to_decrypt = view.checker.new_cards(tickets)
    cvrs = view.verifier.checker(CvrChecker).cvrs
    rows = _cvr_rows(ledger, view, to_decrypt)
    decrypt = [(ballot_id, cvrs[ballot_id].device_id, rows[ballot_id])
               for ballot_id in to_decrypt]
    entry = AuditRound(len(state.rounds) + 1, drawn, tickets, tuple(decrypt))
    return writer.write(EntryType.AUDIT_ROUND, entry.to_payload()), entry


def _cvr_rows(ledger: LedgerClient, view: AuditLedger, ballot_ids: Sequence[bytes]
              ) -> dict[bytes, tuple[tuple[int, tuple[tuple[str, str], ...]], ...]]:
    """Published CVRs' ciphertexts as hex, read back from their ``cvrs`` entries (the
    verifier keeps only their digest), each entry read once."""
    cvrs = view.verifier.checker(CvrChecker).cvrs
    context = view.verifier.context
    if context is None:
        raise StateError("no election context")
    wanted = set(ballot_ids)
    out: dict[bytes, tuple[tuple[int, tuple[tuple[str, str], ...]], ...]] = {}
    for entry_index in sorted({cvrs[b].entry_index for b in wanted}):
        for index, entry in ledger.entries(entry_index):
            for cvr in cvr_chunk(context, entry.payload, f"ledger entry {index}").cvrs:
                if cvr.ballot_id in wanted:
                    out[cvr.ballot_id] = tuple(
                        (i, tuple((c.alpha.to_hex(), c.beta.to_hex()) for c in row))
                        for i, row in cvr.ciphertexts())
            break
    missing = wanted - set(out)
    if missing:
        raise RecordError(f"{len(missing)} sampled CVR(s) are not in their ledger entries")
    return out


@dataclass(frozen=True, slots=True)
class RetrievalRow:
    """One card to pull for a round: where it is and its ticket numbers."""

    container: str
    batch: str
    position: int
    tickets: tuple[str, ...]
    phantom: bool
    already_read: bool


def retrieval_list(state: AuditState, batches: Sequence[PaperBatch], round_number: int
                   ) -> list[RetrievalRow]:
    """A round's cards, sorted by container, batch and position (as Arlo's list), each with
    every ticket number that drew it in this round."""
    if not 1 <= round_number <= len(state.rounds):
        raise UsageError(f"no round {round_number} (the audit has {len(state.rounds)})")
    rnd = state.rounds[round_number - 1]
    containers = {b.name: b.container or "" for b in batches}
    order = {b.name: n for n, b in enumerate(batches)}
    earlier = {(t.batch, t.position) for r in state.rounds[:round_number - 1]
               for t in r.entry.tickets}
    grouped: dict[tuple[str, int], list[Ticket]] = {}
    for ticket in rnd.entry.tickets:
        grouped.setdefault((ticket.batch, ticket.position), []).append(ticket)
    rows = [RetrievalRow(containers.get(batch, ""), batch, position,
                         tuple(t.ticket_number for t in tickets),
                         batch not in containers, (batch, position) in earlier)
            for (batch, position), tickets in grouped.items()]
    return sorted(rows, key=lambda r: (r.container, order.get(r.batch, len(order)), r.position))


def record_readings(ledger: LedgerClient, writer: Writer, cosigner_id: str,
                    cosigner: SigningKey, readings: Sequence[CardReading], *,
                    allow_test_group: bool = False, progress: Progress = None
                    ) -> list[AppendResult]:
    """The board's readings of cards of the current round, each signed by the writer and
    the cosigner. Every reading is checked before the first is written."""
    view = _open(ledger, allow_test_group, progress)
    state = view.state
    _not_ended(state)
    current = state.current
    if current is None:
        raise StateError("no round is open")
    if current.signoff_index is not None:
        raise StateError(f"round {current.entry.round} is signed off: its readings are final")
    context = view.verifier.context
    if context is None:
        raise StateError("no election context")
    read = set(state.readings)
    signed = []
    for reading in readings:
        card = (reading.batch, reading.position)
        if reading.round != current.entry.round:
            raise UsageError(f"the reading is for round {reading.round}; the open round is "
                             f"{current.entry.round}")
        if card not in current.to_read:
            raise UsageError(f"card ({reading.batch!r}, {reading.position}) is not in round "
                             f"{current.entry.round}'s sample of cards to read")
        if card in read:
            raise UsageError(f"card ({reading.batch!r}, {reading.position}) was already read")
        reading.check_against(context.manifest)
        conflict = state.reading_conflict(reading)
        if conflict is not None:
            raise UsageError(conflict)
        read.add(card)
        signed.append(BoardSigned.sign(reading.body(), writer.writer_id, cosigner_id, cosigner,
                                       context.election_id))
    _check_cosigner(view, cosigner_id, cosigner)
    return [writer.write(EntryType.AUDIT_READING, s.to_payload()) for s in signed]


def _check_cosigner(view: AuditLedger, cosigner_id: str, cosigner: SigningKey) -> None:
    registered = view.verifier.state.writers.get(cosigner_id)
    if registered is None or registered.key != cosigner.verify_key:
        raise UsageError(f"{cosigner_id!r} is not a registered auditor with this key")


def sign_off_round(ledger: LedgerClient, writer: Writer, cosigner_id: str,
                   cosigner: SigningKey, *, allow_test_group: bool = False,
                   progress: Progress = None) -> AppendResult:
    """Both board members sign the round's readings, once every card is read."""
    view = _open(ledger, allow_test_group, progress)
    state = view.state
    _not_ended(state)
    current = state.current
    if current is None or current.signoff_index is not None:
        raise StateError("no round awaits a sign-off")
    unread = current.unread(set(state.readings))
    if unread:
        raise StateError(f"{len(unread)} card(s) of round {current.entry.round} are not read "
                         f"yet, e.g. {unread[0]}")
    if view.verifier.context is None:
        raise StateError("no election context")
    _check_cosigner(view, cosigner_id, cosigner)
    body = {"version": 1, "round": current.entry.round, "readings": len(current.readings),
            "digest": readings_digest(current.readings).hex()}
    signed = BoardSigned.sign(body, writer.writer_id, cosigner_id, cosigner,
                              view.verifier.context.election_id)
    return writer.write(EntryType.AUDIT_SIGNOFF, signed.to_payload())


def publish_round_cvrs(ledger: LedgerClient, writer: Writer, *, allow_test_group: bool = False,
                       progress: Progress = None) -> AppendResult | None:
    """Combine k trustees' shares into the round's decrypted CVRs (None: nothing to decrypt)."""
    view = _open(ledger, allow_test_group, progress)
    current = view.state.current
    if current is None or current.signoff_index is None:
        raise StateError("no signed-off round")
    if current.cvrs_index is not None:
        raise StateError("this round's CVRs are already decrypted")
    if not current.entry.decrypt:
        return None
    context = view.verifier.context
    if context is None:
        raise StateError("no election context")
    return writer.write(EntryType.AUDIT_CVRS, combine_round(context, current).to_payload())


def measure_risk(ledger: LedgerClient, writer: Writer, *, decision: str | None = None,
                 allow_test_group: bool = False, progress: Progress = None
                 ) -> tuple[AppendResult, AuditRisk]:
    """The risk after the round and the decision: the recommended one unless the auditor
    chooses "escalate" (always allowed) or "continue" (allowed unless every contest met
    the risk limit)."""
    view = _open(ledger, allow_test_group, progress)
    current = view.state.current
    if current is None or current.signoff_index is None or current.risk is not None:
        raise StateError("no signed-off round awaits its risk measurement")
    if current.entry.decrypt and current.cvrs_index is None:
        raise StateError("the round's CVRs are not decrypted yet")
    if decision not in (None, "continue", "escalate", "confirmed"):
        raise UsageError(f"unknown decision {decision!r}")
    context = view.verifier.context
    if context is None:
        raise StateError("no election context")
    risk = view.checker.expected_risk(context.manifest, decision or "confirmed")
    if decision is None and risk.decision != "confirmed":
        risk = view.checker.expected_risk(context.manifest,
                                          "continue" if risk.next_round_size else "escalate")
    return writer.write(EntryType.AUDIT_RISK, risk.to_payload()), risk


def end_audit(ledger: LedgerClient, writer: Writer, *, note: str = "",
              allow_test_group: bool = False, progress: Progress = None) -> AppendResult:
    """Close the audit as its last risk decided: confirmed, or a full hand count."""
    view = _open(ledger, allow_test_group, progress)
    state = view.state
    _not_ended(state)
    if state.seed is None:
        raise StateError("the audit has not started")
    current = state.current
    if current is not None and current.risk is None:
        raise StateError(f"round {current.entry.round} is not finished")
    if current is not None and current.risk is not None and current.risk.decision == "continue":
        raise StateError("the last round decided to continue: start the next round (or "
                         "record an 'escalate' decision)")
    confirmed = current is not None and current.risk is not None and (
        current.risk.decision == "confirmed")
    outcome = "confirmed" if confirmed else "full-hand-count"
    return writer.write(EntryType.AUDIT_END, AuditEnd(outcome, note).to_payload())


# --- trustees -----------------------------------------------------------------------------------


def decrypt_round_as_trustee(workspace: TrusteeWorkspace, ledger: LedgerClient, *,
                             allow_test_group: bool = False, nonces: NonceSource | None = None,
                             progress: Progress = None) -> AppendResult:
    """This trustee's shares of the current round's CVRs. The verification pass recomputes
    the round's tickets from the seed and the manifest and checks its CVRs against the
    published ones; only a round the board signed off is decrypted."""
    view = _open(ledger, allow_test_group, progress)
    current = view.state.current
    context = view.verifier.context
    if context is None or current is None or current.signoff_index is None:
        raise StateError("no round signed off by the audit board awaits decryption")
    if current.cvrs_index is not None:
        raise StateError("the round's CVRs are already decrypted")
    index = workspace.card.index
    if index in current.shares:
        raise StateError(f"trustee {index} already decrypted this round")
    if not current.entry.decrypt:
        raise StateError("this round names no CVR to decrypt")
    key_share = workspace.key_share(context.group)
    shares = tuple(compute_share(key_share, context, audit_subject(ballot_id, current.index),
                                 targets, nonces)
                   for ballot_id, targets in current.targets)
    writer = Writer(ledger, workspace.signing_key, workspace.card.writer_id)
    return writer.write(EntryType.AUDIT_DECRYPTION_SHARE,
                        AuditShares(current.entry.round, shares).to_payload())

