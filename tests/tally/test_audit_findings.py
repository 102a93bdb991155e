"""Findings, not crashes: a messy box and a tampered one; and a kiosk whose CVR lies.

``messy`` runs an election whose paper has two missing cards, a duplicated card, a card
from another election, an unreadable card, a SPOILED card in the box, and the printed
votes of a contest changed on enough cards to flip its hand-count winner. The
reconciliation reports all of it, the pairing gives each its worst case, the audit
draws, reads, measures — and must not confirm; it escalates, and the certified hand
count replaces the E2E result. ``lying_kiosk`` has a kiosk whose stored CVR encrypts
other choices than the ballot it cast: only the equality proof can catch it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import pytest

import e2e.held_products
from e2e.cvr import CvrStore, encrypt_cvr
from e2e.errors import DecryptionError, StateError
from e2e.ledger.entry import Envelope, decode_envelope, leaf_hash_of, sign_entry
from e2e.ledger.types import EntryType
from tally.audit import AuditRisk, CardReading, HandCount
from tally.audit_check import RoundState
from tally.audit_workflow import (
    AuditLedger,
    end_audit,
    publish_hand_count,
)
from tally.cvr import CvrChecker, decrypt_cvr_equality_as_trustee, publish_cvr_equality
from tally.pairing import PHANTOM_BATCH, ManifestCard
from tally.reconcile import PaperBatch
from tally.verify import verify_election
from tests.tally.audit_helpers import AuditElection, Card


def _ballots(e: AuditElection, count: int) -> list[tuple[str, dict[str, list[str]]]]:
    manifest = e.context.manifest
    rng = random.Random(5)
    out = []
    for i in range(count):
        style = manifest.ballot_styles[i % 2]
        out.append((style.id, {c.id: [c.selections[0 if rng.random() < 0.85 else 1].id]
                               for _, c in manifest.contests_of_style(style.id)}))
    return out


@dataclass
class Messy:
    election: AuditElection
    batches: list[PaperBatch]
    view: AuditLedger
    decisions: list[str]
    flipped: str


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Messy:
    e = AuditElection.create(tmp_path_factory.mktemp("messy"))
    e.vote(_ballots(e, 60), challenge_every=10)
    e.close_and_tally()
    e.publish_cvrs()
    assert e.prove_equality() == []
    # The paper: flip the mayor's race on the cards (the reported winner got ~85%).
    mayor = e.context.manifest.contest("mayor")
    winner, runner = mayor.selections[0].id, mayor.selections[1].id
    paper = [Card(c.ballot_id, c.style_id, dict(c.choices), c.device_id) for c in e.cards]
    for card in paper:
        if card.choices.get("mayor") == {winner}:
            card.choices["mayor"] = frozenset({runner})
    box = paper[2:]  # two cards are missing
    box.append(box[0])  # one card counted twice
    foreign = Card(bytes(range(16)), "ward-1", {}, box[0].device_id)
    box += [foreign, box[1]]
    batches = e.paper_batches(box, size=50)
    flags = {len(batches[0].cards) - 1: frozenset({"unreadable"})}
    first = batches[0]
    cards = list(first.cards)
    cards[-1] = ManifestCard(None, flags[len(cards) - 1], None)  # unreadable, no ID typed
    cards.append(ManifestCard(e.challenged[0], frozenset({"spoiled"}), "ward-1"))
    cards.append(ManifestCard(foreign.ballot_id, frozenset({"foreign-election"}), None))
    batches[0] = replace(first, cards=tuple(cards), declared=len(first.cards))
    e.reconcile(batches)
    e.start(risk_limit=0.1)
    by_id = {c.ballot_id: c for c in paper}
    decisions = []
    for _ in range(3):
        view = e.view()
        if view.state.parameters is not None and view.state.parameters.initial_round_size == 0:
            decisions.append("escalate")
            break
        at = {(b.name, n): by_id[card.ballot_id] for b in view.state.manifest_batches
              for n, card in enumerate(b.cards, start=1) if card.ballot_id in by_id}
        decision = e.run_round(lambda current, at=at: _read(e, current, at))
        decisions.append(decision)
        if decision != "continue":
            break
    end_audit(e.ledger, e.auditor(), allow_test_group=True)
    return Messy(e, batches, e.view(), decisions, "mayor")


def _read(e: AuditElection, current: RoundState, at: dict[tuple[str, int], Card]
          ) -> list[CardReading]:
    """The board's readings: a card the manifest could not tie to this election's paper
    (unreadable, foreign) is read as marked SPOILED; the others as printed."""
    readings = []
    for batch, position in current.to_read:
        card = at.get((batch, position))
        if card is None:
            readings.append(CardReading(current.entry.round, batch, position, None,
                                        "marked-spoiled", ()))
        else:
            readings.extend(e.read_cards({(batch, position): card},
                                         only=[(batch, position)]))
    return readings


def test_reconciliation_reports_every_difference_without_refusing(messy: Messy) -> None:
    table = messy.view.state.reconciliation.table
    findings = "\n".join(table["findings"])
    assert "cover sheet says" in findings
    assert "duplicate" in findings
    assert "spoiled" in findings
    assert "foreign-election" in findings
    assert "unreadable" in findings
    # Two cards missing, and one read without its ID (unreadable): three CVRs unpaired.
    assert "3 CVR(s) with no card (missing cards)" in findings
    assert table["pairing"]["duplicate"] == 2


def test_missing_and_unpaired_cards_become_worst_case_population(messy: Messy) -> None:
    population = messy.view.state.population
    mayor = population.contest(0)
    # N is the largest of the cards holding the mayor (paired and unpaired), the CVRs and
    # the cast ballots; any shortfall is made up by phantoms.
    assert mayor.population == max(mayor.cards, mayor.cvrs, mayor.cast)
    assert population.phantoms == max(c.shortfall for c in population.contests)
    assert PHANTOM_BATCH in population.frame() or population.phantoms == 0


def test_audit_of_a_flipped_contest_does_not_confirm(messy: Messy) -> None:
    assert "confirmed" not in messy.decisions
    assert messy.view.state.end is not None
    assert messy.view.state.end.outcome == "full-hand-count"


def test_certified_hand_count_replaces_the_result(messy: Messy) -> None:
    e = messy.election
    manifest = e.context.manifest
    counts = tuple((c.id, s.id, 1) for c in manifest.contests for s in c.selections)
    publish_hand_count(e.ledger, e.official, HandCount(counts, ("Board",), "2026-11-12"),
                       allow_test_group=True)
    report, _ = verify_election(e.ledger.envelopes(0), allow_test_group=True)
    assert report.ok, report.findings
    assert report.facts["certified_result"] == "full hand count"
    with pytest.raises(StateError, match="already certified"):
        publish_hand_count(e.ledger, e.official, HandCount(counts, ("Board",), "x"),
                           allow_test_group=True)


def test_detects_confirmed_while_a_contest_exceeds_the_risk_limit(messy: Messy) -> None:
    e = messy.election
    envelopes = list(e.ledger.envelopes(0))
    index = next((i for i, raw in enumerate(envelopes)
                  if decode_envelope(raw).entry().entry_type == EntryType.AUDIT_RISK), None)
    if index is None:
        pytest.skip("the audit escalated before any round")
    original = decode_envelope(envelopes[index]).entry()
    risk = AuditRisk.from_payload(original.payload)
    assert max(p for _, p in risk.contests) > 0.1
    lie = replace(risk, decision="confirmed", next_round_size=0)
    entry = sign_entry(e.auditors[original.writer_id], original.entry_type,
                       original.election_id, original.writer_id, original.sequence,
                       lie.to_payload())
    forged = [*envelopes[:index],
              Envelope(index, leaf_hash_of(envelopes[index - 1]), entry.encode()).encode()]
    report, _ = verify_election(forged, allow_test_group=True, require_results=False)
    assert any("'confirmed' while a contest's risk exceeds" in str(f) for f in report.findings)


def test_phantom_and_unpaired_draws_take_worst_case_values(messy: Messy) -> None:
    from tally.audit import assess

    state = messy.view.state
    context = messy.election.context
    if not state.tickets or state.parameters is None:
        pytest.skip("no draws")
    evaluations: dict = {}
    assess(context.manifest, state.parameters, state.population, state.tickets,
           state.readings, state.decrypted, evaluations)
    checked = 0
    for seen in evaluations.values():
        for item in seen:
            pair = state.population.pair_at(item.batch, item.position)
            if pair is None:  # a phantom: no paper, no CVR: ω = u, the value is 0
                assert item.value == 0.0
                checked += 1
            elif pair.cvr is None:  # unpaired: a phantom CVR is never an understatement
                assert item.omega >= 0
                checked += 1
    assert checked > 0


# --- a kiosk whose CVR lies ------------------------------------------------------------------


@pytest.fixture(scope="module")
def lying_kiosk(tmp_path_factory: pytest.TempPathFactory) -> AuditElection:
    e = AuditElection.create(tmp_path_factory.mktemp("lying"))
    e.vote(_ballots(e, 6))
    e.close_and_tally()
    kiosk = e.kiosks["kiosk-a"]
    stored = list(kiosk.cvrs)
    victim = stored[0]
    from e2e.ballot import mark_ballot

    manifest = e.context.manifest
    lie = encrypt_cvr(e.context, mark_ballot(manifest, victim.style_id, {
        c.id: [c.selections[-1].id] for _, c in manifest.contests_of_style(victim.style_id)}),
        device_id="kiosk-a", ballot_id=victim.ballot_id)
    replaced = CvrStore()
    for cvr in stored:
        replaced.add(lie if cvr is victim else cvr)
    kiosk.cvrs = replaced
    return e


def _publish_once(e: AuditElection, kiosk: str) -> None:
    """Publish a kiosk's CVRs unless it did (the tests below share one election and may
    run in any order, on different workers)."""
    if not any(entry.entry_type == EntryType.CVR_COMMITMENT and entry.writer_id == kiosk
               for _, entry in e.ledger.entries(0)):
        e.kiosks[kiosk].publish_cvrs()


def test_equality_shares_wait_for_every_kiosks_cvrs(lying_kiosk: AuditElection) -> None:
    e = lying_kiosk
    _publish_once(e, "kiosk-a")
    before = e.ledger.size()
    with pytest.raises(StateError, match="kiosk-b"):
        decrypt_cvr_equality_as_trustee(e.base.workspaces[1], e.ledger, allow_test_group=True)
    assert e.ledger.size() == before


def test_a_lying_cvr_fails_the_equality_proof(lying_kiosk: AuditElection) -> None:
    e = lying_kiosk
    _publish_once(e, "kiosk-a")
    _publish_once(e, "kiosk-b")
    for index in (1, 3):
        decrypt_cvr_equality_as_trustee(e.base.workspaces[index], e.ledger,
                                        allow_test_group=True)
    before = e.ledger.size()
    with pytest.raises(DecryptionError, match="kiosk-a"):
        publish_cvr_equality(e.ledger, e.official, allow_test_group=True)
    assert e.ledger.size() == before
    _, failed = publish_cvr_equality(e.ledger, e.official, allow_test_group=True,
                                     record_failure=True)
    assert failed == ["kiosk-a"]
    report, _ = verify_election(e.ledger.envelopes(0), allow_test_group=True)
    assert not report.ok
    assert any("equality proof fails" in str(f) and "kiosk-a" in str(f)
               for f in report.findings), report.findings


def test_the_equality_is_checked_the_same_with_every_device_s_products_on_disk(
        lying_kiosk: AuditElection, monkeypatch) -> None:
    """Both sides of each device's equality — its CVRs' products and its cast ballots'
    — may wait on disk (``e2e.held_products``): with no memory for them at all, the
    verifier reaches the same findings, the lying kiosk's failed equality among them."""
    e = lying_kiosk
    _publish_once(e, "kiosk-a")
    _publish_once(e, "kiosk-b")
    if not any(entry.entry_type == EntryType.CVR_EQUALITY for _, entry in e.ledger.entries(0)):
        for index in (1, 3):
            decrypt_cvr_equality_as_trustee(e.base.workspaces[index], e.ledger,
                                            allow_test_group=True)
        publish_cvr_equality(e.ledger, e.official, allow_test_group=True, record_failure=True)
    in_memory, _ = verify_election(e.ledger.envelopes(0), allow_test_group=True)
    monkeypatch.setattr(e2e.held_products, "_MEMORY_BYTES", 0)
    on_disk, verifier = verify_election(e.ledger.envelopes(0), allow_test_group=True)
    assert verifier.checker(CvrChecker)._products.on_disk > 0
    assert verifier.aggregate._held.on_disk > 0
    assert [str(f) for f in on_disk.findings] == [str(f) for f in in_memory.findings]
    assert any("equality proof fails" in str(f) and "kiosk-a" in str(f)
               for f in on_disk.findings), on_disk.findings


def test_cast_refuses_a_repeated_paper_ballot_id(lying_kiosk: AuditElection) -> None:
    from e2e.errors import InvalidBallot

    store = CvrStore()
    store.add(next(iter(lying_kiosk.kiosks["kiosk-b"].cvrs)))
    with pytest.raises(InvalidBallot, match="already stored"):
        store.check_new(next(iter(store)).ballot_id)
