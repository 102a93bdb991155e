"""The ballot-polling audit against the verified tally, on a small election without CVRs.

Each election (test group, in process, ``tests.tally.audit_helpers``) closes, publishes
its decrypted results and then goes straight to the paper manifest and the
reconciliation: no kiosk publishes CVRs. The audit's parameters are ballot polling
(BRAVO, or ALPHA with η), its rounds draw cards from the manifest with the comparison
audit's sampler, the board reads them, and each assertion's risk is BRAVO's or ALPHA's
against the tally. With honest paper it confirms; with the paper altered as
``paperchain demo --tamper paper`` alters it (the mayor's winner flipped on paper), it
does not. Then the finished polling ledger is re-verified with one entry forged at a
time: each forgery must produce the verifier's finding.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from e2e.encoding import canonical_json, parse_canonical_json
from e2e.errors import PaperchainError, StateError, UsageError
from e2e.ledger.entry import Envelope, decode_envelope, leaf_hash_of, sign_entry
from e2e.ledger.types import EntryType
from tally.assorters import Assorter
from tally.audit import (
    AuditParameters,
    AuditRisk,
    AuditRound,
    PollingRiskFunction,
    audit_contest,
    paper_votes,
)
from tally.audit_polling import bravo_draws_expected, bravo_risk
from tally.audit_verify import check_audit_order
from tally.audit_workflow import (
    end_audit,
    measure_risk,
    publish_parameters,
    publish_reconciliation,
    publish_seed,
    record_readings,
    sign_off_round,
    start_round,
)
from tally.risk import AlphaMart, FixedEta, bravo_p_value
from tally.verify import TallyChecker, verify_election
from tests.tally.audit_helpers import SEED, AuditElection, Card

RISK_LIMIT = 0.1


def _ballots(election: AuditElection, count: int = 60, seed: int = 5
             ) -> list[tuple[str, dict[str, list[str]]]]:
    """Clear winners: 90 % of the cards vote for the first selection(s) of each contest."""
    manifest = election.context.manifest
    rng = random.Random(seed)
    out = []
    for i in range(count):
        style = manifest.ballot_styles[i % 2]
        choices = {}
        for _, contest in manifest.contests_of_style(style.id):
            usual = rng.random() < 0.9
            if contest.vote_for == 2:
                picks = [0, 1] if usual else [0, 2]
            else:
                picks = [0] if usual else [1]
            choices[contest.id] = [contest.selections[j].id for j in picks]
        out.append((style.id, choices))
    return out


def _tampered(election: AuditElection) -> list[Card]:
    """The paper as ``--tamper paper`` leaves it: enough cards voting for the mayor's
    reported winner now print the runner-up that the hand count's winner flips."""
    contest = next(c for c in election.context.manifest.contests if c.id == "mayor")
    winner, runner_up = contest.selections[0].id, contest.selections[1].id
    votes = [c for c in election.cards if c.choices.get("mayor") == {winner}]
    runner = sum(1 for c in election.cards if c.choices.get("mayor") == {runner_up})
    flip = (len(votes) - runner) // 2 + 1
    chosen = {id(c) for c in random.Random(3).sample(votes, flip)}
    return [replace(c, choices={**c.choices, "mayor": frozenset({runner_up})})
            if id(c) in chosen else c for c in election.cards]


@dataclass
class Polled:
    election: AuditElection
    envelopes: list[bytes]
    decisions: list[str]
    refusals: dict[str, tuple[BaseException, int, int]]
    parameters: AuditParameters

    def index_of(self, kind: str, nth: int = 0) -> int:
        found = [i for i, raw in enumerate(self.envelopes)
                 if decode_envelope(raw).entry().entry_type == kind]
        return found[nth]

    def entry(self, index: int):
        return decode_envelope(self.envelopes[index]).entry()

    def payload(self, index: int) -> dict:
        return parse_canonical_json(self.entry(index).payload, "test")

    def forged(self, index: int, payload: bytes, *, entry_type: str | None = None
               ) -> list[bytes]:
        """The envelopes up to ``index`` with the entry there replaced (same writer)."""
        original = self.entry(index)
        e = self.election
        keys = {"official-1": e.official.key, **e.auditors}
        entry = sign_entry(keys[original.writer_id], entry_type or original.entry_type,
                           original.election_id, original.writer_id, original.sequence,
                           payload)
        previous = leaf_hash_of(self.envelopes[index - 1])
        return [*self.envelopes[:index], Envelope(index, previous, entry.encode()).encode()]


def findings(envelopes: list[bytes]) -> list[str]:
    report, _ = verify_election(envelopes, allow_test_group=True, require_results=False)
    return [str(f) for f in report.findings]


def _refused(record: dict, name: str, ledger, action: Callable[[], object]) -> None:
    before = ledger.size()
    try:
        action()
    except PaperchainError as err:
        record[name] = (err, before, ledger.size())
        return
    raise AssertionError(f"{name}: not refused")


def _poll(directory: Path, function: PollingRiskFunction, *, tamper: bool = False,
          max_rounds: int = 4, without_cvrs: tuple[str, ...] = ()) -> Polled:
    e = AuditElection.create(directory, without_cvrs=without_cvrs)
    e.vote(_ballots(e), challenge_every=20)
    e.close_and_tally()
    refusals: dict = {}
    ledger, auditor = e.ledger, e.auditor()
    _refused(refusals, "paper before the CVRs without saying there are none", ledger,
             e.reconcile)
    publish_reconciliation(ledger, e.official, e.paper_batches(), e.places(),
                           allow_test_group=True, without_cvrs=True)  # no CVRs: straight on
    _refused(refusals, "comparison parameters without CVRs", ledger, lambda: publish_parameters(
        ledger, auditor, risk_limit=RISK_LIMIT, allow_test_group=True))
    _refused(refusals, "CVRs after the reconciliation", ledger,
             lambda: e.kiosks["kiosk-a"].publish_cvrs())
    _, parameters = publish_parameters(ledger, auditor, risk_limit=RISK_LIMIT,
                                       risk_function=function, allow_test_group=True)
    publish_seed(ledger, auditor, SEED, rolled_by=("A", "B"), rolled_at="2026-11-10T15:00",
                 allow_test_group=True)
    paper = None
    if tamper:
        view = e.view()
        forged = {c.ballot_id: c for c in _tampered(e)}
        paper = {place: forged[card.ballot_id] for place, card in e.paper_at(view).items()}
    decisions = []
    for number in range(max_rounds):
        start_round(ledger, auditor, allow_test_group=True)
        if number == 0:
            current = e.view().state.current
            assert current is not None
            drawn = set(current.to_read)
            outside = next((b.name, n) for b in e.view().state.manifest_batches
                           for n in range(1, len(b.cards) + 1) if (b.name, n) not in drawn)
            stray = replace(e.read_cards(paper)[0], batch=outside[0], position=outside[1])
            _refused(refusals, "reading of a card not drawn", ledger,
                     lambda stray=stray: record_readings(
                         ledger, auditor, "auditor-2", e.auditors["auditor-2"], [stray],
                         allow_test_group=True))
        decision = _finish_round(e, paper)
        decisions.append(decision)
        if decision != "continue":
            break
    end_audit(ledger, auditor, allow_test_group=True)
    return Polled(e, list(ledger.envelopes(0)), decisions, refusals, parameters)


def _finish_round(e: AuditElection, paper: dict | None) -> str:
    """Readings, sign-off and risk of the round just started (no CVR to decrypt)."""
    record_readings(e.ledger, e.auditor(), "auditor-2", e.auditors["auditor-2"],
                    e.read_cards(paper), allow_test_group=True)
    sign_off_round(e.ledger, e.auditor(), "auditor-2", e.auditors["auditor-2"],
                   allow_test_group=True)
    _, risk = measure_risk(e.ledger, e.auditor(), allow_test_group=True)
    return risk.decision


@pytest.fixture(scope="module")
def bravo(tmp_path_factory: pytest.TempPathFactory) -> Polled:
    return _poll(tmp_path_factory.mktemp("bravo"), PollingRiskFunction("bravo"))


# --- the honest BRAVO audit ----------------------------------------------------------------


def test_bravo_polling_audit_confirms_and_verifies(bravo: Polled) -> None:
    assert bravo.decisions[-1] == "confirmed"
    assert findings(bravo.envelopes) == []
    view = bravo.election.view()
    assert view.state.end is not None
    assert view.state.end.outcome == "confirmed"
    assert view.state.decrypted == {}
    assert all(r.entry.decrypt == () for r in view.state.rounds)
    kinds = [decode_envelope(raw).entry().entry_type for raw in bravo.envelopes]
    assert not {EntryType.CVRS, EntryType.CVR_COMMITMENT, EntryType.CVR_EQUALITY,
                EntryType.AUDIT_DECRYPTION_SHARE, EntryType.AUDIT_CVRS} & set(kinds)
    assert check_audit_order(list(enumerate(kinds))) == []


def test_polling_parameters_record_mode_function_and_reported_votes(bravo: Polled) -> None:
    payload = bravo.payload(bravo.index_of(EntryType.AUDIT_PARAMETERS))
    assert payload["mode"] == "polling"
    assert payload["risk_function"] == {"name": "bravo", "with_replacement": True}
    assert payload["population"]["card_style"] is False
    assert "pairing" not in payload
    tally = bravo.election.view().verifier.checker(TallyChecker).results
    assert tally is not None
    counts = {(c, s): n for c, s, _, n in tally.counts}
    mayor = next(c for c in payload["contests"] if c["contest"] == "mayor")
    first = mayor["assertions"][0]
    assert (first["winner"], first["loser"]) == ("alice-adams", "bruno-okafor")
    assert (first["winner_votes"], first["loser_votes"]) == (counts[(0, 0)], counts[(0, 1)])
    assert first["threshold"] == "1/2"
    measure = next(c for c in payload["contests"] if c["contest"] == "measure-a")
    assert measure["assertions"][0]["threshold"] == "2/3"
    assert mayor["cvrs"] == 0
    assert mayor["population"] == len(bravo.election.cards)


def test_the_reported_outcome_is_the_decrypted_tally_and_risk_is_bravos(bravo: Polled) -> None:
    view = bravo.election.view()
    state = view.state
    manifest = bravo.election.context.manifest
    assert state.parameters is not None
    assert state.population is not None
    last = state.rounds[-1].risk
    assert last is not None
    for spec in state.parameters.contests:
        for a, risk in zip(spec.assertions, [r for r in last.assertions
                                             if r.contest_id == spec.contest_id], strict=True):
            w = ell = 0
            for t in state.tickets:
                votes = paper_votes(manifest, state.readings.get((t.batch, t.position)),
                                    spec.index)
                if isinstance(votes, dict) and len(votes) <= manifest.contests[
                        spec.index].limit:
                    if a.loser is None:
                        if len(votes) == 1:
                            w += a.winner in votes
                            ell += a.winner not in votes
                    else:
                        w += a.winner in votes and a.loser not in votes
                        ell += a.loser in votes and a.winner not in votes
            assert risk.tally == (w, ell), (spec.contest_id, a.label())
            if a.loser is not None:
                assert risk.p_value == bravo_p_value(
                    winner_votes=a.winner_votes, loser_votes=a.loser_votes,
                    winner_sampled=w, loser_sampled=ell)


def test_refusals_leave_the_ledger_unchanged(bravo: Polled) -> None:
    assert set(bravo.refusals) == {"comparison parameters without CVRs",
                                   "paper before the CVRs without saying there are none",
                                   "CVRs after the reconciliation", "reading of a card not drawn"}
    for name, (_error, before, after) in bravo.refusals.items():
        assert before == after, name
    assert isinstance(bravo.refusals["comparison parameters without CVRs"][0], StateError)
    assert "polling" in str(bravo.refusals["comparison parameters without CVRs"][0])


# --- the verifier refuses forgeries ---------------------------------------------------------


def test_detects_a_polling_risk_that_understates_the_risk(bravo: Polled) -> None:
    index = bravo.index_of(EntryType.AUDIT_RISK)
    risk = AuditRisk.from_payload(bravo.entry(index).payload)
    lowered = replace(risk.assertions[0], p_value=risk.assertions[0].p_value / 2)
    forged = replace(risk, assertions=(lowered, *risk.assertions[1:]))
    found = findings(bravo.forged(index, forged.to_payload()))
    assert any("risk measurement differs" in f for f in found), found


def test_detects_polling_draw_counts_that_are_not_the_readings(bravo: Polled) -> None:
    index = bravo.index_of(EntryType.AUDIT_RISK)
    payload = bravo.payload(index)
    payload["assertions"][0]["loser_draws"] += 1
    found = findings(bravo.forged(index, canonical_json(payload)))
    assert any("risk measurement differs" in f for f in found), found


def test_detects_a_polling_round_drawn_differently(bravo: Polled) -> None:
    index = bravo.index_of(EntryType.AUDIT_ROUND)
    audit_round = AuditRound.from_payload(bravo.entry(index).payload)
    tickets = list(audit_round.tickets)
    tickets[0], tickets[1] = tickets[1], tickets[0]
    found = findings(bravo.forged(index, replace(audit_round,
                                                 tickets=tuple(tickets)).to_payload()))
    assert any("not the sampler's draws" in f for f in found), found


def test_detects_a_polling_round_that_names_a_cvr_to_decrypt(bravo: Polled) -> None:
    index = bravo.index_of(EntryType.AUDIT_ROUND)
    audit_round = AuditRound.from_payload(bravo.entry(index).payload)
    forged = replace(audit_round, decrypt=((bytes(16), "kiosk-a", ((0, (("01", "01"),)),)),))
    found = findings(bravo.forged(index, forged.to_payload()))
    assert any("does not name exactly the CVRs" in f for f in found), found


def test_detects_a_polling_reading_of_a_card_not_drawn(bravo: Polled) -> None:
    index = bravo.index_of(EntryType.AUDIT_READING)
    payload = bravo.payload(index)
    view = bravo.election.view()
    drawn = {(t.batch, t.position) for t in view.state.tickets}
    outside = next((b.name, n) for b in view.state.manifest_batches
                   for n in range(1, len(b.cards) + 1) if (b.name, n) not in drawn)
    payload["batch"], payload["position"] = outside
    found = findings(bravo.forged(index, canonical_json(payload)))
    assert any("not a card to read" in f for f in found), found


def test_detects_polling_parameters_with_other_reported_votes(bravo: Polled) -> None:
    index = bravo.index_of(EntryType.AUDIT_PARAMETERS)
    payload = bravo.payload(index)
    payload["contests"][0]["assertions"][0]["winner_votes"] += 5
    found = findings(bravo.forged(index, canonical_json(payload)))
    assert any("audit parameters differ" in f for f in found), found


def test_detects_polling_parameters_with_a_comparison_risk_function(bravo: Polled) -> None:
    index = bravo.index_of(EntryType.AUDIT_PARAMETERS)
    payload = bravo.payload(index)
    payload["risk_function"] = {"name": "kaplan-markov", "gamma": "1.03905",
                                "with_replacement": True}
    found = findings(bravo.forged(index, canonical_json(payload)))
    assert any("risk_function" in f for f in found), found


def test_detects_comparison_parameters_without_cvr_equality(bravo: Polled) -> None:
    """Taking the comparison road on a ledger with no CVRs is refused by every verifier."""
    index = bravo.index_of(EntryType.AUDIT_PARAMETERS)
    payload = bravo.payload(index)
    del payload["mode"], payload["population"]
    payload["risk_function"] = {"name": "kaplan-markov", "gamma": "1.03905",
                                "with_replacement": True}
    payload["sample_size_estimate"] = {"method": "arlo-supersimple", "o1_rate": "0.001",
                                       "o2_rate": "0.0001", "u1_rate": "0.001",
                                       "u2_rate": "0.0001"}
    payload["pairing"] = {"rules": "paperchain-pairing-1", "phantom_rule": "worst-case",
                          "card_style": True}
    for contest in payload["contests"]:
        for a in contest["assertions"]:
            for key in ("winner_votes", "loser_votes", "threshold", "eta"):
                a.pop(key, None)
    found = findings(bravo.forged(index, canonical_json(payload)))
    assert any("CVR equality" in f for f in found), found


def test_detects_a_confirmed_polling_decision_over_the_risk_limit(bravo: Polled) -> None:
    assert bravo.decisions[0] == "continue"  # the first round did not meet the limit
    index = bravo.index_of(EntryType.AUDIT_RISK)
    payload = bravo.payload(index)
    payload["decision"], payload["next_round_size"] = "confirmed", 0
    found = findings(bravo.forged(index, canonical_json(payload)))
    assert any("'confirmed' while a contest's risk exceeds" in f for f in found), found


def test_paper_without_cvrs_is_refused_once_cvrs_are_published(tmp_path: Path) -> None:
    e = AuditElection.create(tmp_path)
    e.vote(_ballots(e, 6))
    e.close_and_tally()
    e.publish_cvrs()
    before = e.ledger.size()
    with pytest.raises(StateError, match="CVRs are published"):
        publish_reconciliation(e.ledger, e.official, e.paper_batches(), e.places(),
                               allow_test_group=True, without_cvrs=True)
    assert e.ledger.size() == before


# --- devices run without CVRs ----------------------------------------------------------------


@pytest.mark.slow
def test_devices_without_cvrs_cast_challenge_and_reach_a_polling_audit(tmp_path: Path) -> None:
    polled = _poll(tmp_path, PollingRiskFunction("bravo"), without_cvrs=("kiosk-a", "kiosk-b"))
    e = polled.election
    assert all(not k.keeps_cvrs and len(k.cvrs) == 0 for k in e.kiosks.values())
    assert len(e.challenged) == 3
    assert len(e.cards) == 60
    kinds = [decode_envelope(raw).entry().entry_type for raw in polled.envelopes]
    assert kinds.count(EntryType.BALLOT) == 60
    assert kinds.count(EntryType.CHALLENGE) == 3
    assert kinds.count(EntryType.DEVICE_CLOSE) == 2
    assert not {EntryType.CVRS, EntryType.CVR_COMMITMENT, EntryType.CVR_EQUALITY} & set(kinds)
    refused = polled.refusals["CVRs after the reconciliation"]
    assert isinstance(refused[0], StateError)
    assert "runs without CVRs" in str(refused[0])
    assert refused[1] == refused[2]  # nothing written
    assert "a device run without CVRs has none" in str(
        polled.refusals["comparison parameters without CVRs"][0])
    assert polled.decisions[-1] == "confirmed"
    assert findings(polled.envelopes) == []


def test_a_device_without_cvrs_beside_devices_with_them_admits_no_audit(tmp_path: Path
                                                                         ) -> None:
    e = AuditElection.create(tmp_path, without_cvrs=("kiosk-b",))
    e.vote(_ballots(e, 6), challenge_every=3)
    e.close_and_tally()
    assert len(e.kiosks["kiosk-a"].cvrs) == 3
    assert len(e.kiosks["kiosk-b"].cvrs) == 0
    with pytest.raises(StateError, match="runs without CVRs"):
        e.kiosks["kiosk-b"].publish_cvrs()
    e.kiosks["kiosk-a"].publish_cvrs()
    before = e.ledger.size()
    with pytest.raises(StateError, match=r"\['kiosk-b'\] have not committed .*ballot polling"):
        e.prove_equality()
    with pytest.raises(StateError, match="needs CVRs from every device"):
        publish_parameters(e.ledger, e.auditor(), risk_limit=RISK_LIMIT, allow_test_group=True)
    with pytest.raises(StateError, match="not combined yet"):
        publish_reconciliation(e.ledger, e.official, e.paper_batches(), e.places(),
                               allow_test_group=True)
    with pytest.raises(StateError, match="CVRs are published"):
        publish_reconciliation(e.ledger, e.official, e.paper_batches(), e.places(),
                               allow_test_group=True, without_cvrs=True)
    assert e.ledger.size() == before


# --- ALPHA, tampered paper, the risk functions ----------------------------------------------


@pytest.mark.slow
def test_alpha_polling_audit_with_reported_eta_confirms(tmp_path: Path) -> None:
    polled = _poll(tmp_path, PollingRiskFunction("alpha", "reported"))
    assert polled.decisions[-1] == "confirmed"
    assert findings(polled.envelopes) == []
    payload = polled.payload(polled.index_of(EntryType.AUDIT_PARAMETERS))
    assert payload["risk_function"] == {"name": "alpha", "eta": "reported",
                                        "with_replacement": True}
    view = polled.election.view()
    state = view.state
    assert state.parameters is not None
    spec = state.parameters.contest("mayor")
    a = spec.assertions[0]
    assert a.eta == (1 + a.margin) / 2
    values = []
    manifest = polled.election.context.manifest
    assorter = Assorter(audit_contest(manifest.contests[0]), a.winner, a.loser)
    for t in state.tickets:
        values.append(assorter.assort(paper_votes(
            manifest, state.readings.get((t.batch, t.position)), 0)))
    expected = min(AlphaMart(1.0, FixedEta(a.eta)).iter_p(values))
    last = state.rounds[-1].risk
    assert last is not None
    assert last.assertions[0].p_value == expected


@pytest.mark.slow
def test_polling_audit_of_altered_paper_escalates(tmp_path: Path) -> None:
    polled = _poll(tmp_path, PollingRiskFunction("bravo"), tamper=True)
    assert "confirmed" not in polled.decisions
    assert polled.decisions[-1] == "escalate"
    assert findings(polled.envelopes) == []
    view = polled.election.view()
    assert view.state.end is not None
    assert view.state.end.outcome == "full-hand-count"
    mayor = dict(view.state.rounds[-1].risk.contests)["mayor"]  # type: ignore[union-attr]
    assert mayor > RISK_LIMIT


def test_alpha_with_a_fixed_eta_above_an_assorters_bound_is_refused() -> None:
    with pytest.raises(UsageError, match="η explicit"):
        PollingRiskFunction("alpha")
    with pytest.raises(UsageError, match="BRAVO takes no"):
        PollingRiskFunction("bravo", "0.6")
    with pytest.raises(UsageError, match="above 1/2"):
        PollingRiskFunction("alpha", "0.5")
    with pytest.raises(UsageError, match="shortest decimal"):
        PollingRiskFunction("alpha", "0.60")
    assert PollingRiskFunction("alpha", "0.6").fixed_eta == 0.6


def test_bravo_with_threshold_one_half_is_the_calculators() -> None:
    from fractions import Fraction

    assert bravo_risk(60, 40, Fraction(1, 2), 30, 12) == bravo_p_value(
        winner_votes=60, loser_votes=40, winner_sampled=30, loser_sampled=12)
    # Supermajority threshold 2/3 with s = 0.8: each winner card multiplies T by 1.2, each
    # loser card by 0.6.
    assert bravo_risk(80, 20, Fraction(2, 3), 10, 0) == pytest.approx(1 / 1.2 ** 10)
    assert bravo_risk(80, 20, Fraction(2, 3), 10, 2) == pytest.approx(
        1 / (1.2 ** 10 * 0.6 ** 2))
    assert bravo_risk(10, 0, Fraction(1, 2), 3, 1) == 1.0
    with pytest.raises(UsageError, match="not above"):
        bravo_risk(60, 30, Fraction(2, 3), 1, 0)
    assert bravo_draws_expected(0.1, 10, 0, Fraction(1, 2), 10, 0, 1) is None
    assert bravo_draws_expected(0.1, 10, 0, Fraction(1, 2), 10, 4, 0) == 0


def test_polling_parameters_payload_round_trips_and_refuses_unknown_keys(bravo: Polled
                                                                        ) -> None:
    raw = bravo.entry(bravo.index_of(EntryType.AUDIT_PARAMETERS)).payload
    parsed = AuditParameters.from_payload(raw)
    assert parsed.to_payload() == raw
    assert parsed.polling
    obj = json.loads(raw)
    obj["population"]["card_style"] = True
    with pytest.raises(PaperchainError, match="population"):
        AuditParameters.from_payload(canonical_json(obj))
    obj = json.loads(raw)
    obj["mode"] = "comparison"
    with pytest.raises(PaperchainError, match="mode"):
        AuditParameters.from_payload(canonical_json(obj))
